// Package token carries a request's ACL token from the edge a user talks to
// (an HTTP header, gRPC metadata) to every gRPC call made on its behalf, so
// that the catalog is the one place that authorizes it.
package token

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// MetadataKey is the gRPC metadata key that carries the token, as in Consul.
const MetadataKey = "x-consul-token"

type ctxKey struct{}

// With returns a context that carries tok to outgoing gRPC calls.
func With(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, tok)
}

// From returns the token in ctx: one set by With, else one that arrived in
// incoming gRPC metadata.
func From(ctx context.Context) string {
	if tok, ok := ctx.Value(ctxKey{}).(string); ok {
		return tok
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(MetadataKey); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// UnaryClientInterceptor attaches the context's token to outgoing unary calls.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(outgoing(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor attaches the context's token to outgoing streams.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(outgoing(ctx), desc, cc, method, opts...)
	}
}

func outgoing(ctx context.Context) context.Context {
	tok := From(ctx)
	if tok == "" {
		return ctx
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(MetadataKey)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, MetadataKey, tok)
}
