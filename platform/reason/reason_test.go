package reason

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorCarriesReason(t *testing.T) {
	err := Error(codes.FailedPrecondition, "no such session", UnknownSession)
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "no such session" {
		t.Errorf("Error = %v", err)
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"with the reason", err, true},
		{"another reason", Error(codes.FailedPrecondition, "x", "OTHER"), false},
		{"a status without details", status.Error(codes.FailedPrecondition, "x"), false},
		{"not a status", errors.New("x"), false},
	}
	for _, tt := range tests {
		if got := Has(tt.err, UnknownSession); got != tt.want {
			t.Errorf("%s: Has = %v, want %v", tt.name, got, tt.want)
		}
	}
}
