// Package reason is the contract by which a Beacon gRPC service marks an
// error for a client that must answer it in a particular way: an
// errdetails.ErrorInfo in domain "beacon" with a reason. The catalog sets
// them and the HTTP gateway turns them into Consul's own answers where
// clients recognise those.
package reason

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of Beacon's reasons.
const Domain = "beacon"

// UnknownSession: a write named a session that does not exist. Consul
// answers a lock acquire with one with a 500 "invalid session", and
// patroni looks for exactly that to know its session is gone.
const UnknownSession = "UNKNOWN_SESSION"

// Error is a gRPC status error with code and msg that carries reason.
func Error(code codes.Code, msg, reason string) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain}); err == nil {
		st = d
	}
	return st.Err()
}

// Has reports whether err is a gRPC status carrying reason.
func Has(err error, reason string) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain && info.GetReason() == reason {
			return true
		}
	}
	return false
}
