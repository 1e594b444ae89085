package consuljson

import (
	"testing"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
)

func TestCARootSerialNumber(t *testing.T) {
	tests := []struct {
		serial string
		want   uint64
	}{
		{"", 0},
		{"07", 7},
		{"01:00", 256},
		{"ff:ff:ff:ff:ff:ff:ff:ff", 1<<64 - 1},
		// Beacon's CA makes 128-bit serials; the number is the low 64 bits.
		{"9c:41:0d:5e:77:02:aa:13:5b:0c:e1:42:8f:36:d0:19", 0x5b0ce1428f36d019},
		// An operator's root may have 20 bytes.
		{"01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14", 0x0d0e0f1011121314},
		{"zz", 0},
	}
	for _, tt := range tests {
		t.Run(tt.serial, func(t *testing.T) {
			got := CARootListFromProto(&connectv1.RootsResponse{Roots: []*connectv1.CARoot{{SerialNumber: tt.serial}}})
			if got.Roots[0].SerialNumber != tt.want {
				t.Errorf("SerialNumber = %#x, want %#x", got.Roots[0].SerialNumber, tt.want)
			}
		})
	}
}
