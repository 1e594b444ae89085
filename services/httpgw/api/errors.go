package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// httpError is an answer the gateway decided on itself: a status and the
// plain-text body Consul gives in that case.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("http %d: %s", e.status, e.msg) }

// badRequest is a 400 with msg as the body.
func badRequest(msg string) error { return &httpError{status: http.StatusBadRequest, msg: msg} }

// badRequestf is a 400 with a formatted body.
func badRequestf(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// tooLarge is a 413.
func tooLarge(msg string) error {
	return &httpError{status: http.StatusRequestEntityTooLarge, msg: msg}
}

// serverFault is a 500 with Consul's body, for the few answers clients
// recognise by that status and text.
func serverFault(msg string) error {
	return &httpError{status: http.StatusInternalServerError, msg: msg}
}

// ErrShuttingDown is the cause the owner of the http.Server cancels request
// contexts with when it shuts down (see http.Server.BaseContext); requests
// in flight, blocking queries included, then answer 503.
var ErrShuttingDown = errors.New("the Beacon HTTP gateway is shutting down")

// errNoAgent answers the node agent's routes when the gateway has none.
var errNoAgent = &httpError{status: http.StatusServiceUnavailable, msg: "no node agent configured"}

// agentError is an error from a node agent call. It maps like a catalog
// error, except that an agent that cannot be reached is a 503 that says so
// rather than Consul's "No cluster leader".
type agentError struct{ err error }

func (e *agentError) Error() string { return "node agent: " + e.err.Error() }
func (e *agentError) Unwrap() error { return e.err }

// codeOverrides changes the status of some gRPC codes for one route (for
// example FailedPrecondition, whose meaning depends on the call).
type codeOverrides map[codes.Code]int

// statusOf is the one place that maps an error to the HTTP status and the
// plain-text body Consul would answer with. Only real server faults become
// 500s. ctx is the request's context, to tell a client that left or a
// shutdown from a failed call.
func statusOf(ctx context.Context, err error, over codeOverrides) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.msg
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), ErrShuttingDown) {
			return http.StatusServiceUnavailable, ErrShuttingDown.Error()
		}
		// The client is gone; nobody reads this.
		return 499, "client closed request"
	}
	var ae *agentError
	fromAgent := errors.As(err, &ae)
	if fromAgent {
		err = ae.err
	}
	st, ok := status.FromError(err)
	if !ok {
		return http.StatusInternalServerError, err.Error()
	}
	code, msg := st.Code(), st.Message()
	if s, ok := over[code]; ok {
		return s, msg
	}
	if fromAgent {
		switch code {
		case codes.Unavailable:
			return http.StatusServiceUnavailable, "node agent unavailable: " + msg
		case codes.DeadlineExceeded:
			return http.StatusGatewayTimeout, "timed out waiting for the node agent: " + msg
		}
	}
	switch code {
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return http.StatusBadRequest, msg
	case codes.NotFound:
		return http.StatusNotFound, msg
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict, msg
	case codes.PermissionDenied:
		if !strings.HasPrefix(msg, "Permission denied") {
			msg = "Permission denied: " + msg
		}
		return http.StatusForbidden, msg
	case codes.Unauthenticated:
		return http.StatusForbidden, "ACL not found"
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests, msg
	case codes.Unavailable:
		return http.StatusInternalServerError, "No cluster leader"
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout, "timed out waiting for the catalog: " + msg
	case codes.Unimplemented:
		return http.StatusNotImplemented, msg
	}
	return http.StatusInternalServerError, "rpc error making call: " + msg
}
