package rpcserver

import (
	"context"
	"log/slog"
	"path"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// callLevel is the level a finished call is logged at: its outcome's.
// Answers a client asked for (found nothing, gave up, lost a race) are
// debug noise; faults of the server are errors; the rest is the client's
// mistake and worth an info line.
func callLevel(c codes.Code) slog.Level {
	switch c {
	case codes.OK, codes.NotFound, codes.Canceled, codes.DeadlineExceeded, codes.FailedPrecondition, codes.Aborted:
		return slog.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// callLog writes one "finished call" line per call, at callLevel. It asks
// the logger first and builds the line only when the level is on:
// go-grpc-middleware's logging interceptor built every call's fields
// (peer, times, deadline) before its logger could refuse them, 4 µs of
// each catalog Put, which at debug off were all thrown away.
type callLog struct{ l *slog.Logger }

func (c callLog) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	c.finished(ctx, info.FullMethod, "unary", start, err)
	return resp, err
}

func (c callLog) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	kind := "server_stream"
	switch {
	case info.IsClientStream && info.IsServerStream:
		kind = "bidi_stream"
	case info.IsClientStream:
		kind = "client_stream"
	}
	c.finished(ss.Context(), info.FullMethod, kind, start, err)
	return err
}

func (c callLog) finished(ctx context.Context, method, kind string, start time.Time, err error) {
	code := status.Code(err)
	lvl := callLevel(code)
	if !c.l.Enabled(ctx, lvl) {
		return
	}
	attrs := []slog.Attr{
		slog.String("grpc.service", path.Dir(method)[1:]),
		slog.String("grpc.method", path.Base(method)),
		slog.String("grpc.method_type", kind),
		slog.String("grpc.code", code.String()),
		slog.Float64("grpc.time_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	c.l.LogAttrs(ctx, lvl, "finished call", attrs...)
}
