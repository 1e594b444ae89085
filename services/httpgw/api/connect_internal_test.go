package api

import (
	"testing"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
)

func TestRootsPEM(t *testing.T) {
	const (
		a = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"
		b = "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----"
		c = "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----"
	)
	tests := []struct {
		name  string
		roots []*connectv1.CARoot
		want  string
	}{
		{name: "none", want: ""},
		{name: "one with its newline", roots: []*connectv1.CARoot{{RootCert: a + "\n"}}, want: a + "\n"},
		{
			name:  "trimmed roots each end their line",
			roots: []*connectv1.CARoot{{RootCert: a}, {RootCert: "\n" + b + "\n\n"}},
			want:  a + "\n" + b + "\n",
		},
		{
			name:  "intermediates follow their root",
			roots: []*connectv1.CARoot{{RootCert: a, IntermediateCerts: []string{c, ""}}, {RootCert: b}},
			want:  a + "\n" + c + "\n" + b + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(rootsPEM(tt.roots)); got != tt.want {
				t.Errorf("rootsPEM = %q, want %q", got, tt.want)
			}
		})
	}
}
