package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/beaconmesh/beacon/services/health/local"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

func def(interval time.Duration, kind func(*catalogv1.CheckDefinition)) *catalogv1.CheckDefinition {
	d := &catalogv1.CheckDefinition{Interval: durationpb.New(interval), Timeout: durationpb.New(2 * time.Second)}
	kind(d)
	return d
}

// A registration read from the wire and written back to the catalog keeps
// every field, for every check kind.
func TestWireRoundTrip(t *testing.T) {
	cfg, _ := structpb.NewStruct(map[string]any{"protocol": "http"})
	svc := &catalogv1.Service{
		Id: "web-1", Service: "web", Tags: []string{"a"}, Address: "10.0.0.2", Port: 80,
		TaggedAddresses:   map[string]*catalogv1.ServiceAddress{"wan": {Address: "1.2.3.4", Port: 8080}},
		Meta:              map[string]string{"v": "1"},
		Weights:           &catalogv1.Weights{Passing: 5, Warning: 1},
		EnableTagOverride: true,
	}
	defs := []*catalogv1.CheckDefinition{
		def(time.Second, func(d *catalogv1.CheckDefinition) {
			d.Kind = &catalogv1.CheckDefinition_Http{Http: &catalogv1.HTTPCheck{Url: "https://x/h", Method: "POST", Body: "b",
				Header: map[string]*catalogv1.HeaderValues{"X": {Values: []string{"1", "2"}}}, TlsSkipVerify: true, TlsServerName: "x"}}
		}),
		def(time.Second, func(d *catalogv1.CheckDefinition) {
			d.Kind = &catalogv1.CheckDefinition_Tcp{Tcp: &catalogv1.TCPCheck{Address: "x:1", UseTls: true}}
		}),
		def(time.Second, func(d *catalogv1.CheckDefinition) {
			d.Kind = &catalogv1.CheckDefinition_Grpc{Grpc: &catalogv1.GRPCCheck{Target: "x:1/svc", UseTls: true}}
		}),
		def(time.Second, func(d *catalogv1.CheckDefinition) {
			d.Kind = &catalogv1.CheckDefinition_Script{Script: &catalogv1.ScriptCheck{Args: []string{"/bin/check", "-v"}}}
		}),
		{Kind: &catalogv1.CheckDefinition_Ttl{Ttl: &catalogv1.TTLCheck{Ttl: durationpb.New(time.Minute)}},
			DeregisterCriticalServiceAfter: durationpb.New(time.Hour)},
		{Kind: &catalogv1.CheckDefinition_Alias{Alias: &catalogv1.AliasCheck{Node: "n2", ServiceId: "db"}}},
	}
	req := &agentv1.RegisterServiceRequest{Service: svc}
	for i, d := range defs {
		req.Checks = append(req.Checks, &agentv1.CheckRegistration{CheckId: fmt.Sprint("c", i), Name: fmt.Sprint("check ", i), Definition: d})
	}
	req.SidecarService = &agentv1.SidecarService{Service: &catalogv1.Service{Proxy: &catalogv1.ConnectProxyConfig{
		Config:    cfg,
		Upstreams: []*catalogv1.Upstream{{DestinationName: "db", LocalBindPort: 9191, Datacenter: "dc2"}},
	}}}

	got, err := serviceFromWire(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Normalize(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(svc, local.ToWire(got), protocmp.Transform()); diff != "" {
		t.Errorf("service (-sent +stored):\n%s", diff)
	}
	for i, d := range defs {
		if diff := cmp.Diff(d, local.DefinitionToWire(&got.Checks[i]), protocmp.Transform()); diff != "" {
			t.Errorf("check %d (-sent +stored):\n%s", i, diff)
		}
	}
	sc, err := config.Sidecar(got, 21000)
	if err != nil {
		t.Fatal(err)
	}
	w := local.ToWire(sc)
	if w.GetProxy().GetConfig().GetFields()["protocol"].GetStringValue() != "http" || w.GetProxy().GetUpstreams()[0].GetDatacenter() != "dc2" {
		t.Errorf("sidecar: %v", w)
	}
}

func TestToStatus(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("service %q: %w", "x", local.ErrNotFound), codes.NotFound},
		{fmt.Errorf("check: %w", local.ErrScriptsDisabled), codes.PermissionDenied},
		{local.ErrNotTTL, codes.InvalidArgument},
		{errors.Join(&config.FieldError{Field: "name", Err: errors.New("is required")}), codes.InvalidArgument},
		{fmt.Errorf("%w 1-2", local.ErrNoSidecarPort), codes.ResourceExhausted},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{status.Error(codes.Unavailable, "no leader"), codes.Unavailable},
		{errors.New("disk on fire"), codes.Internal},
	}
	for _, tt := range tests {
		if got := status.Code(toStatus(tt.err)); got != tt.code {
			t.Errorf("%v: got %s, want %s", tt.err, got, tt.code)
		}
	}
}
