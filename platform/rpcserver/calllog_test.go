package rpcserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// fakeStream is the one ServerStream method callLog uses.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestCallLog(t *testing.T) {
	caller := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: caller})
	tests := []struct {
		name   string
		level  slog.Level // of the logger
		err    error      // the handler's
		stream bool
		want   map[string]any // the line's fields; nil: no line
	}{
		{name: "ok at info", level: slog.LevelInfo},
		{name: "not found at info", level: slog.LevelInfo, err: status.Error(codes.NotFound, "no such key")},
		{name: "ok at debug", level: slog.LevelDebug, want: map[string]any{
			"level": "DEBUG", "grpc.code": "OK", "grpc.method": "Put", "grpc.method_type": "unary", "peer.address": "127.0.0.1:4242",
		}},
		{name: "bad argument at info", level: slog.LevelInfo, err: status.Error(codes.InvalidArgument, "missing key"), want: map[string]any{
			"level": "INFO", "grpc.code": "InvalidArgument", "grpc.error": "rpc error: code = InvalidArgument desc = missing key",
		}},
		{name: "fault at error", level: slog.LevelError, err: status.Error(codes.Internal, "disk"), want: map[string]any{
			"level": "ERROR", "grpc.code": "Internal",
		}},
		{name: "fault of a stream", level: slog.LevelError, stream: true, err: status.Error(codes.DataLoss, "torn"), want: map[string]any{
			"level": "ERROR", "grpc.code": "DataLoss", "grpc.method_type": "bidi_stream",
		}},
		{name: "stream ended by its client, at info", level: slog.LevelInfo, stream: true, err: status.Error(codes.Canceled, "gone")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := callLog{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))}
			var err error
			if tt.stream {
				info := &grpc.StreamServerInfo{FullMethod: "/beacon.kv.v1.KVService/Watch", IsClientStream: true, IsServerStream: true}
				err = c.stream(nil, fakeStream{ctx: ctx}, info, func(any, grpc.ServerStream) error { return tt.err })
			} else {
				info := &grpc.UnaryServerInfo{FullMethod: "/beacon.kv.v1.KVService/Put"}
				var resp any
				resp, err = c.unary(ctx, "req", info, func(context.Context, any) (any, error) { return "resp", tt.err })
				if resp != "resp" {
					t.Errorf("answer %v, want the handler's", resp)
				}
			}
			if err != tt.err {
				t.Errorf("error %v, want the handler's %v", err, tt.err)
			}
			if tt.want == nil {
				if buf.Len() > 0 {
					t.Errorf("logged %s, want nothing", buf.Bytes())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("want one JSON line, got %q: %v", buf.Bytes(), err)
			}
			tt.want["msg"] = "finished call"
			tt.want["grpc.service"] = "beacon.kv.v1.KVService"
			for k, v := range tt.want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.Bytes())
				}
			}
			if _, ok := line["grpc.time_ms"].(float64); !ok {
				t.Errorf("no grpc.time_ms in %s", buf.Bytes())
			}
		})
	}
}
