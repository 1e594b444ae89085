package grpcapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"slices"
	"testing"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"github.com/beaconmesh/beacon/services/catalog/ca"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func testCSR(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func verifyLeaf(t *testing.T, leafPEM string, roots *connectv1.RootsResponse) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, r := range roots.GetRoots() {
		pool.AppendCertsFromPEM([]byte(r.GetRootCert()))
	}
	block, _ := pem.Decode([]byte(leafPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("leaf does not verify against the roots: %v", err)
	}
}

func TestCAInitSignAndRotate(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	cas := connectv1.NewCAServiceClient(a.conn)
	var roots *connectv1.RootsResponse
	waitFor(t, func() bool {
		r, err := cas.Roots(ctx, &connectv1.RootsRequest{})
		roots = r
		return err == nil && r.GetActiveRootId() != ""
	})
	if len(roots.GetRoots()) != 1 || roots.GetTrustDomain() == "" {
		t.Fatalf("roots after first leadership: %v", roots)
	}
	td := roots.GetTrustDomain()
	signed, err := cas.Sign(ctx, &connectv1.SignRequest{Csr: testCSR(t, ca.ServiceURI(td, "dc1", "web").String())})
	if err != nil {
		t.Fatal(err)
	}
	if signed.GetCert().GetService() != "web" || signed.GetCert().GetRootId() != roots.GetActiveRootId() {
		t.Errorf("signed %v", signed.GetCert())
	}
	verifyLeaf(t, signed.GetCert().GetCertPem(), roots)
	if _, err := cas.Sign(ctx, &connectv1.SignRequest{Csr: testCSR(t, "spiffe://other.consul/ns/default/dc/dc1/svc/web")}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("foreign trust domain: %v, want InvalidArgument", err)
	}
	cfg, err := cas.GetConfig(ctx, &connectv1.GetConfigRequest{})
	if err != nil || cfg.GetConfig().GetPrivateKey() != "" || cfg.GetConfig().GetClusterId() == "" {
		t.Fatalf("config %v %v (the key must never be returned)", cfg, err)
	}

	// Rotation: a new active root; the old one stays trusted, so the leaf
	// it signed still verifies.
	if _, err := cas.SetConfig(ctx, &connectv1.SetConfigRequest{Config: &connectv1.CAConfig{}, RotateRoot: true}); err != nil {
		t.Fatal(err)
	}
	after, err := cas.Roots(ctx, &connectv1.RootsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.GetRoots()) != 2 || after.GetActiveRootId() == roots.GetActiveRootId() || after.GetTrustDomain() != td {
		t.Fatalf("after rotation: %v", after)
	}
	verifyLeaf(t, signed.GetCert().GetCertPem(), after)
	fresh, err := cas.Sign(ctx, &connectv1.SignRequest{Csr: testCSR(t, ca.ServiceURI(td, "dc1", "db").String())})
	if err != nil || fresh.GetCert().GetRootId() != after.GetActiveRootId() {
		t.Fatalf("leaf after rotation: %v %v", fresh, err)
	}
	verifyLeaf(t, fresh.GetCert().GetCertPem(), after)

	// The old root is dropped two leaf TTLs after its rotation, when no
	// leaf it signed can still be valid, and not before.
	var old *connectv1.CARoot
	for _, r := range after.GetRoots() {
		if !r.GetActive() {
			old = r
		}
	}
	if old.GetRotatedOutAt() == nil {
		t.Fatalf("the rotated-out root has no rotation time: %v", old)
	}
	rotated := old.GetRotatedOutAt().AsTime()
	for _, tc := range []struct {
		at    time.Time
		roots int
	}{
		{rotated.Add(2*ca.DefaultLeafTTL - time.Minute), 2},
		{rotated.Add(2*ca.DefaultLeafTTL + time.Minute), 1},
	} {
		if err := a.s.pruneCARoots(ctx, tc.at); err != nil {
			t.Fatal(err)
		}
		got, err := cas.Roots(ctx, &connectv1.RootsRequest{})
		if err != nil || len(got.GetRoots()) != tc.roots || got.GetActiveRootId() != after.GetActiveRootId() {
			t.Fatalf("roots %s after the rotation: %v %v; want %d, the active one kept", tc.at.Sub(rotated), got, err, tc.roots)
		}
	}
}

func TestPruneRoots(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ttl := time.Hour
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }
	tests := []struct {
		name    string
		roots   []*connectv1.CARoot
		keep    []string
		changed bool
	}{
		{"only the active root", []*connectv1.CARoot{{Id: "a", Active: true}}, []string{"a"}, false},
		{"rotated out recently", []*connectv1.CARoot{{Id: "old", RotatedOutAt: at(ttl)}, {Id: "a", Active: true}}, []string{"old", "a"}, false},
		{"rotated out two TTLs ago", []*connectv1.CARoot{{Id: "old", RotatedOutAt: at(2*ttl + time.Second)}, {Id: "a", Active: true}}, []string{"a"}, true},
		{"no rotation time: stamped, kept", []*connectv1.CARoot{{Id: "old"}, {Id: "a", Active: true}}, []string{"old", "a"}, true},
		{"an active root is never dropped", []*connectv1.CARoot{{Id: "a", Active: true, RotatedOutAt: at(10 * ttl)}}, []string{"a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, changed := pruneRoots(tt.roots, ttl, now)
			var ids []string
			for _, r := range keep {
				ids = append(ids, r.GetId())
				if !r.GetActive() && r.GetRotatedOutAt() == nil {
					t.Errorf("inactive root %q kept without a rotation time", r.GetId())
				}
			}
			if !slices.Equal(ids, tt.keep) || changed != tt.changed {
				t.Errorf("pruneRoots = %v, %v; want %v, %v", ids, changed, tt.keep, tt.changed)
			}
		})
	}
}

func TestIntentionsAPI(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	in := connectv1.NewIntentionServiceClient(a.conn)
	check := func(src, dst string) bool {
		t.Helper()
		r, err := in.CheckIntention(ctx, &connectv1.CheckIntentionRequest{SourceName: src, DestinationName: dst})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetAllowed()
	}
	if !check("web", "db") {
		t.Error("default policy (allow) not applied")
	}
	for _, i := range []*connectv1.Intention{
		{SourceName: "*", DestinationName: "db", Action: connectv1.IntentionAction_INTENTION_ACTION_DENY},
		{SourceName: "web", DestinationName: "db", Action: connectv1.IntentionAction_INTENTION_ACTION_ALLOW, Description: "web reads db"},
	} {
		if _, err := in.UpsertIntention(ctx, &connectv1.UpsertIntentionRequest{Intention: i}); err != nil {
			t.Fatal(err)
		}
	}
	if !check("web", "db") || check("api", "db") {
		t.Error("precedence: web=>db allowed, *=>db denied")
	}
	got, err := in.GetIntention(ctx, &connectv1.GetIntentionRequest{SourceName: "web", DestinationName: "db"})
	if err != nil || got.GetIntention().GetPrecedence() != 9 || got.GetIntention().GetId() == "" {
		t.Errorf("get: %v %v", got, err)
	}
	m, err := in.MatchIntentions(ctx, &connectv1.MatchIntentionsRequest{By: connectv1.MatchBy_MATCH_BY_DESTINATION, Names: []string{"db"}})
	if err != nil || len(m.GetMatches()["db"].GetIntentions()) != 2 || !m.GetDefaultAllow() {
		t.Errorf("match: %v %v", m, err)
	}
	if _, err := in.DeleteIntention(ctx, &connectv1.DeleteIntentionRequest{SourceName: "web", DestinationName: "db"}); err != nil {
		t.Fatal(err)
	}
	if check("web", "db") {
		t.Error("after deleting web=>db, *=>db deny applies")
	}
	if _, err := in.GetIntention(ctx, &connectv1.GetIntentionRequest{SourceName: "web", DestinationName: "db"}); status.Code(err) != codes.NotFound {
		t.Errorf("get deleted: %v, want NotFound", err)
	}
	for _, bad := range []*connectv1.Intention{
		{SourceName: "web", DestinationName: "db"},
		{SourceName: "we*b", DestinationName: "db", Action: connectv1.IntentionAction_INTENTION_ACTION_ALLOW},
		{SourceName: "", DestinationName: "db", Action: connectv1.IntentionAction_INTENTION_ACTION_ALLOW},
		{SourceName: "web", DestinationName: "db", Action: 9},
	} {
		if _, err := in.UpsertIntention(ctx, &connectv1.UpsertIntentionRequest{Intention: bad}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("upsert %v: %v, want InvalidArgument", bad, err)
		}
	}
}
