package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/health/internal/fakecatalog"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestAgentConnect drives the Connect calls through the agent's gRPC API.
func TestAgentConnect(t *testing.T) {
	a := startAgent(t, nil)
	ctx := context.Background()

	leaf, err := a.client.ConnectLeaf(ctx, &agentv1.ConnectLeafRequest{Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	cert := leaf.GetCert()
	wantURI := "spiffe://" + fakecatalog.TrustDomain + "/ns/default/dc/dc1/svc/web"
	if cert.GetService() != "web" || cert.GetServiceUri() != wantURI || !strings.Contains(cert.GetCertPem(), "BEGIN CERTIFICATE") ||
		!strings.Contains(leaf.GetPrivateKeyPem(), "BEGIN EC PRIVATE KEY") || cert.GetSerialNumber() == "" {
		t.Fatalf("ConnectLeaf = %v", leaf)
	}
	if idx := leaf.GetMeta().GetIndex(); idx == 0 || leaf.GetCreateIndex() != idx || leaf.GetModifyIndex() != idx {
		t.Errorf("indexes: meta %d create %d modify %d; want the same non-zero index", idx, leaf.GetCreateIndex(), leaf.GetModifyIndex())
	}
	if !cert.GetValidBefore().AsTime().After(cert.GetValidAfter().AsTime()) {
		t.Errorf("validity %v..%v", cert.GetValidAfter().AsTime(), cert.GetValidBefore().AsTime())
	}

	// Blocking on the current index returns the cached leaf after the wait.
	again, err := a.client.ConnectLeaf(ctx, &agentv1.ConnectLeafRequest{Service: "web", Options: &queryv1.ReadOptions{
		MinIndex: leaf.GetModifyIndex(), MaxWait: durationpb.New(50 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetCert().GetSerialNumber() != cert.GetSerialNumber() || again.GetPrivateKeyPem() != leaf.GetPrivateKeyPem() {
		t.Errorf("second read: serial %s, want the cached %s", again.GetCert().GetSerialNumber(), cert.GetSerialNumber())
	}
	if n := a.cat.CA().Signed(); n != 1 {
		t.Errorf("CA signed %d leaves, want 1", n)
	}

	if _, err := a.client.ConnectLeaf(ctx, &agentv1.ConnectLeafRequest{Service: "a/b"}); code(err) != codes.InvalidArgument {
		t.Errorf("leaf for a bad name: %v, want InvalidArgument", err)
	}

	a.cat.CA().SetIntentions(true, &connectv1.Intention{Id: "i1", SourceName: "web", DestinationName: "db",
		Action: connectv1.IntentionAction_INTENTION_ACTION_DENY, Precedence: 9})
	tests := []struct {
		target, uri string
		code        codes.Code
		authorized  bool
		reason      string
	}{
		{"db", wantURI, codes.OK, false, "Matched L4 intention: web => db (ID: i1, Precedence: 9, Action: DENY)"},
		{"api", wantURI, codes.OK, true, "Default behavior configured by ACLs"},
		{"", wantURI, codes.InvalidArgument, false, "Target service must be specified"},
		{"db", "http://x", codes.InvalidArgument, false, "ClientCertURI not a valid Connect identifier"},
	}
	for _, tt := range tests {
		resp, err := a.client.ConnectAuthorize(ctx, &agentv1.ConnectAuthorizeRequest{Target: tt.target, ClientCertUri: tt.uri})
		if code(err) != tt.code {
			t.Errorf("authorize %s from %s: %v, want %v", tt.target, tt.uri, err, tt.code)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("authorize %s from %s: %v, want %q", tt.target, tt.uri, err, tt.reason)
			}
			continue
		}
		if resp.GetAuthorized() != tt.authorized || resp.GetReason() != tt.reason {
			t.Errorf("authorize %s from %s = %v, want %v %q", tt.target, tt.uri, resp, tt.authorized, tt.reason)
		}
	}
}
