package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestConnectCAAndLeafAgainstDevAgent drives the CA and the agent's leaf
// certificates with the official client: roots, the agent's cached leaf,
// a root rotation through CASetConfig and the blocking leaf read that sees it.
func TestConnectCAAndLeafAgainstDevAgent(t *testing.T) {
	a, c := startAgent(t)
	connect, agent := c.Connect(), c.Agent()

	roots, meta, err := connect.CARoots(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots.Roots) != 1 || !roots.Roots[0].Active || roots.ActiveRootID != roots.Roots[0].ID ||
		!strings.HasSuffix(roots.TrustDomain, ".consul") || meta.LastIndex == 0 {
		t.Fatalf("CARoots = %+v, index %d", roots, meta.LastIndex)
	}
	// Consul's JSON has a uint64 SerialNumber (which consul/api does not
	// decode); Beacon's roots have 128-bit serials, of which it carries the
	// low 64 bits.
	var raw struct {
		Roots []struct{ SerialNumber uint64 }
	}
	if r := do(t, "GET", "http://"+a.HTTPAddr+"/v1/connect/ca/roots", nil); r.status != 200 || json.Unmarshal([]byte(r.body), &raw) != nil || len(raw.Roots) != 1 {
		t.Fatalf("roots: status %d, body %q", r.status, r.body)
	}
	rootCert := parseCertPEM(t, roots.Roots[0].RootCertPEM)
	if want := lowUint64(rootCert.SerialNumber); want == 0 || raw.Roots[0].SerialNumber != want {
		t.Errorf("SerialNumber = %d, want %d (the certificate's serial %x)", raw.Roots[0].SerialNumber, want, rootCert.SerialNumber)
	}
	checkRootsPEM(t, a.HTTPAddr, roots)
	agentRoots, _, err := agent.ConnectCARoots(nil)
	if err != nil || agentRoots.ActiveRootID != roots.ActiveRootID || agentRoots.TrustDomain != roots.TrustDomain {
		t.Fatalf("Agent().ConnectCARoots = %+v, %v; want the catalog's %+v", agentRoots, err, roots)
	}

	cfg, _, err := connect.CAGetConfig(nil)
	if err != nil || cfg.Provider != "consul" || cfg.Config["LeafCertTTL"] != "72h" {
		t.Fatalf("CAGetConfig = %+v, %v", cfg, err)
	}
	if _, ok := cfg.Config["PrivateKey"]; ok {
		t.Error("CAGetConfig shows the private key")
	}

	self, err := agent.Self()
	if err != nil {
		t.Fatal(err)
	}
	dc, _ := self["Config"]["Datacenter"].(string)
	wantURI := "spiffe://" + roots.TrustDomain + "/ns/default/dc/" + dc + "/svc/web"

	leaf, leafMeta, err := agent.ConnectCALeaf("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLeafCert(t, leaf, wantURI, roots.Roots[0].RootCertPEM)
	if leafMeta.LastIndex == 0 || leaf.ModifyIndex != leafMeta.LastIndex {
		t.Errorf("leaf ModifyIndex %d, X-Consul-Index %d", leaf.ModifyIndex, leafMeta.LastIndex)
	}
	again, _, err := agent.ConnectCALeaf("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.SerialNumber != leaf.SerialNumber || again.PrivateKeyPEM != leaf.PrivateKeyPEM {
		t.Errorf("second read: serial %s, want the cached %s", again.SerialNumber, leaf.SerialNumber)
	}

	// A blocking read on the leaf's index returns the leaf signed after the rotation.
	type answer struct {
		leaf *consulapi.LeafCert
		err  error
	}
	blocked := make(chan answer, 1)
	go func() {
		l, _, err := agent.ConnectCALeaf("web", &consulapi.QueryOptions{WaitIndex: leafMeta.LastIndex, WaitTime: 30 * time.Second})
		blocked <- answer{l, err}
	}()

	keyPEM, certPEM := newRootCA(t, roots.TrustDomain)
	if _, err := connect.CASetConfig(&consulapi.CAConfig{Provider: "consul", Config: map[string]any{
		"PrivateKey": keyPEM, "RootCert": certPEM, "LeafCertTTL": "72h"}}, nil); err != nil {
		t.Fatal(err)
	}
	rotated, _, err := connect.CARoots(nil)
	if err != nil {
		t.Fatal(err)
	}
	var active *consulapi.CARoot
	for _, r := range rotated.Roots {
		if r.Active {
			active = r
		}
	}
	if len(rotated.Roots) != 2 || active == nil || rotated.ActiveRootID == roots.ActiveRootID || active.ID != rotated.ActiveRootID {
		t.Fatalf("after rotation: %+v; want the old root kept and a new active one", rotated)
	}
	// The operator's root is stored trimmed; the chain still parses.
	checkRootsPEM(t, a.HTTPAddr, rotated)

	var got answer
	select {
	case got = <-blocked:
	case <-time.After(40 * time.Second):
		t.Fatal("the blocking leaf read did not return after the rotation")
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.leaf.SerialNumber == leaf.SerialNumber || got.leaf.ModifyIndex <= leaf.ModifyIndex {
		t.Fatalf("after rotation: serial %s index %d; had serial %s index %d",
			got.leaf.SerialNumber, got.leaf.ModifyIndex, leaf.SerialNumber, leaf.ModifyIndex)
	}
	checkLeafCert(t, got.leaf, wantURI, active.RootCertPEM)
}

// parseCertPEM parses one PEM certificate.
func parseCertPEM(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatalf("not PEM: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// lowUint64 is the low 64 bits of n.
func lowUint64(n *big.Int) uint64 {
	return new(big.Int).And(n, new(big.Int).SetUint64(^uint64(0))).Uint64()
}

// checkRootsPEM reads /v1/connect/ca/roots?pem=true and checks that it is
// every root of want, in order, as one PEM chain.
func checkRootsPEM(t *testing.T, httpAddr string, want *consulapi.CARootList) {
	t.Helper()
	r := do(t, "GET", "http://"+httpAddr+"/v1/connect/ca/roots?pem=true", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/pem-certificate-chain" {
		t.Fatalf("roots?pem=true: status %d, Content-Type %q, body %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	rest := []byte(r.body)
	for i, root := range want.Roots {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			t.Fatalf("roots?pem=true: %d certificates, want %d:\n%s", i, len(want.Roots), r.body)
		}
		if wantBlock, _ := pem.Decode([]byte(root.RootCertPEM)); wantBlock == nil || !bytes.Equal(block.Bytes, wantBlock.Bytes) {
			t.Fatalf("roots?pem=true: certificate %d is not root %s", i, root.ID)
		}
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("roots?pem=true: more than the %d roots:\n%s", len(want.Roots), r.body)
	}
}

// checkLeafCert verifies that a leaf chains to rootPEM, carries wantURI as
// its SPIFFE URI SAN, and that its private key is the certificate's.
func checkLeafCert(t *testing.T, l *consulapi.LeafCert, wantURI, rootPEM string) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(rootPEM)) {
		t.Fatalf("root is not PEM: %q", rootPEM)
	}
	block, rest := pem.Decode([]byte(l.CertPEM))
	if block == nil {
		t.Fatalf("CertPEM is not PEM: %q", l.CertPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(rest)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("leaf does not chain to the active root: %v", err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != wantURI || l.ServiceURI != wantURI || l.Service != "web" {
		t.Fatalf("leaf URI SANs %v, ServiceURI %q, Service %q; want %s", cert.URIs, l.ServiceURI, l.Service, wantURI)
	}
	kb, _ := pem.Decode([]byte(l.PrivateKeyPEM))
	if kb == nil {
		t.Fatalf("PrivateKeyPEM is not PEM")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !key.PublicKey.Equal(pub) {
		t.Fatal("the leaf's private key does not match its certificate")
	}
	if !l.ValidBefore.After(time.Now().Add(24*time.Hour)) || l.ValidAfter.After(time.Now()) {
		t.Errorf("leaf valid %v..%v", l.ValidAfter, l.ValidBefore)
	}
}

// newRootCA makes an EC P-256 key and a self-signed CA certificate for the
// trust domain, as an operator would to rotate to a root of their own.
func newRootCA(t *testing.T, trustDomain string) (keyPEM, certPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "E2E Root CA"},
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestConnectIntentionsAgainstDevAgent drives intentions and the agent's
// authorization with the official client, then the CLI's intention
// commands against the same agent.
func TestConnectIntentionsAgainstDevAgent(t *testing.T) {
	a, c := startAgent(t)
	connect, agent := c.Connect(), c.Agent()
	roots, _, err := connect.CARoots(nil)
	if err != nil {
		t.Fatal(err)
	}
	self, err := agent.Self()
	if err != nil {
		t.Fatal(err)
	}
	dc, _ := self["Config"]["Datacenter"].(string)
	webURI := "spiffe://" + roots.TrustDomain + "/ns/default/dc/" + dc + "/svc/web"

	allowed, _, err := connect.IntentionCheck(&consulapi.IntentionCheck{Source: "web", Destination: "db"}, nil)
	if err != nil || !allowed {
		t.Fatalf("IntentionCheck in -dev = %v, %v; want allowed by default", allowed, err)
	}
	auth, err := agent.ConnectAuthorize(&consulapi.AgentAuthorizeParams{Target: "db", ClientCertURI: webURI})
	if err != nil || !auth.Authorized || auth.Reason != "Default behavior configured by ACLs" {
		t.Fatalf("ConnectAuthorize in -dev = %+v, %v", auth, err)
	}

	if _, err := connect.IntentionUpsert(&consulapi.Intention{SourceName: "web", DestinationName: "db",
		Action: consulapi.IntentionActionDeny, Description: "e2e"}, nil); err != nil {
		t.Fatal(err)
	}
	ixn, _, err := connect.IntentionGetExact("web", "db", nil)
	if err != nil || ixn == nil || ixn.Action != consulapi.IntentionActionDeny || ixn.Precedence != 9 || ixn.ID == "" || ixn.Description != "e2e" {
		t.Fatalf("IntentionGetExact = %+v, %v", ixn, err)
	}
	// The legacy update by ID keeps the ID.
	ixn.Description = "e2e, updated by ID"
	if _, err := connect.IntentionUpdate(ixn, nil); err != nil {
		t.Fatalf("IntentionUpdate: %v", err)
	}
	if got, _, err := connect.IntentionGet(ixn.ID, nil); err != nil || got == nil || got.ID != ixn.ID ||
		got.Description != "e2e, updated by ID" || got.Action != consulapi.IntentionActionDeny {
		t.Fatalf("IntentionGet after IntentionUpdate = %+v, %v", got, err)
	}
	if _, err := connect.IntentionUpdate(&consulapi.Intention{ID: "5c0c0d3e-0000-4000-8000-000000000000", SourceName: "web",
		DestinationName: "db", Action: consulapi.IntentionActionAllow}, nil); err == nil || !strings.Contains(err.Error(), "Cannot modify non-existent intention") {
		t.Errorf("IntentionUpdate of an unknown ID: %v", err)
	}
	all, _, err := connect.Intentions(nil)
	if err != nil || len(all) != 1 || all[0].ID != ixn.ID {
		t.Fatalf("Intentions = %+v, %v", all, err)
	}
	matches, _, err := connect.IntentionMatch(&consulapi.IntentionMatch{By: consulapi.IntentionMatchDestination, Names: []string{"db", "cache"}}, nil)
	if err != nil || len(matches["db"]) != 1 || matches["db"][0].SourceName != "web" || len(matches["cache"]) != 0 {
		t.Fatalf("IntentionMatch = %+v, %v", matches, err)
	}
	allowed, _, err = connect.IntentionCheck(&consulapi.IntentionCheck{Source: "web", Destination: "db"}, nil)
	if err != nil || allowed {
		t.Fatalf("IntentionCheck after deny = %v, %v", allowed, err)
	}
	auth, err = agent.ConnectAuthorize(&consulapi.AgentAuthorizeParams{Target: "db", ClientCertURI: webURI})
	if err != nil || auth.Authorized || !strings.HasPrefix(auth.Reason, "Matched L4 intention: web => db") || !strings.Contains(auth.Reason, "DENY") {
		t.Fatalf("ConnectAuthorize after deny = %+v, %v", auth, err)
	}
	foreign := strings.Replace(webURI, roots.TrustDomain, "other.consul", 1)
	auth, err = agent.ConnectAuthorize(&consulapi.AgentAuthorizeParams{Target: "api", ClientCertURI: foreign})
	if err != nil || auth.Authorized {
		t.Fatalf("ConnectAuthorize from a foreign trust domain = %+v, %v", auth, err)
	}
	if _, err := agent.ConnectAuthorize(&consulapi.AgentAuthorizeParams{Target: "db", ClientCertURI: "not-a-uri"}); err == nil ||
		!strings.Contains(err.Error(), "400") {
		t.Errorf("ConnectAuthorize with a bad URI: %v, want a 400", err)
	}

	if _, err := connect.IntentionDeleteExact("web", "db", nil); err != nil {
		t.Fatal(err)
	}
	if gone, _, err := connect.IntentionGetExact("web", "db", nil); err != nil || gone != nil {
		t.Fatalf("IntentionGetExact after delete = %+v, %v", gone, err)
	}

	// The CLI against the same agent.
	cli := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "beacon"), args...)
		cmd.Env = append(cmd.Environ(), "BEACON_HTTP_ADDR="+a.HTTPAddr)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("beacon %s: %v", strings.Join(args, " "), err)
		}
		if code != wantCode {
			t.Fatalf("beacon %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := cli(0, "intention", "create", "-deny", "web", "api"); out != "Created: web => api (deny)\n" {
		t.Errorf("intention create: %q", out)
	}
	cli(1, "intention", "create", "web", "api") // already exists
	if out := cli(2, "intention", "check", "web", "api"); out != "Denied\n" {
		t.Errorf("intention check: %q", out)
	}
	if out := cli(0, "intention", "get", "web", "api"); !strings.Contains(out, "Action:       deny") || !strings.Contains(out, "Precedence:   9") {
		t.Errorf("intention get:\n%s", out)
	}
	if out := cli(0, "intention", "list"); !strings.Contains(out, "web     deny    api") {
		t.Errorf("intention list:\n%s", out)
	}
	if out := cli(0, "intention", "match", "api"); out != "web => api (deny)\n" {
		t.Errorf("intention match: %q", out)
	}
	if out := cli(0, "intention", "match", "-source", "web"); out != "web => api (deny)\n" {
		t.Errorf("intention match -source: %q", out)
	}
	if out := cli(0, "intention", "match", "-source", "api"); out != "" {
		t.Errorf("intention match -source with none: %q", out)
	}
	webAPI, _, err := connect.IntentionGetExact("web", "api", nil)
	if err != nil || webAPI == nil {
		t.Fatalf("IntentionGetExact(web, api) = %+v, %v", webAPI, err)
	}
	if out := cli(0, "intention", "get", webAPI.ID); !strings.Contains(out, "Source:       web") || !strings.Contains(out, "ID:           "+webAPI.ID) {
		t.Errorf("intention get by ID:\n%s", out)
	}
	if out := cli(0, "intention", "create", "-replace", "-allow", "web", "api"); out != "Created: web => api (allow)\n" {
		t.Errorf("intention create -replace: %q", out)
	}
	if out := cli(0, "intention", "check", "web", "api"); out != "Allowed\n" {
		t.Errorf("intention check after replace: %q", out)
	}
	if out := cli(0, "intention", "delete", "web", "api"); out != "Intention deleted.\n" {
		t.Errorf("intention delete: %q", out)
	}
	cli(0, "intention", "create", "api", "db")
	apiDB, _, err := connect.IntentionGetExact("api", "db", nil)
	if err != nil || apiDB == nil {
		t.Fatalf("IntentionGetExact(api, db) = %+v, %v", apiDB, err)
	}
	if out := cli(0, "intention", "delete", apiDB.ID); out != "Intention deleted.\n" {
		t.Errorf("intention delete by ID: %q", out)
	}
	cli(1, "intention", "get", apiDB.ID)
	// As Consul, none is exit code 2 with the message on stderr.
	if out := cli(2, "intention", "list"); out != "" {
		t.Errorf("intention list after delete: %q", out)
	}
	if out := cli(0, "connect", "ca", "get-config"); !strings.Contains(out, `"Provider": "consul"`) {
		t.Errorf("connect ca get-config:\n%s", out)
	}
}
