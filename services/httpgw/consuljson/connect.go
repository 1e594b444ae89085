package consuljson

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CARootList is /v1/connect/ca/roots (and /v1/agent/connect/ca/roots).
type CARootList struct {
	ActiveRootID string
	TrustDomain  string
	Roots        []CARoot
}

// CARoot is one trusted root, as Consul's structs.CARoot.
type CARoot struct {
	ID   string
	Name string
	// SerialNumber is a number in Consul's JSON.
	SerialNumber      uint64
	SigningKeyID      string
	NotBefore         time.Time
	NotAfter          time.Time
	RootCert          string
	IntermediateCerts []string
	Active            bool
	PrivateKeyType    string
	PrivateKeyBits    int
	CreateIndex       uint64
	ModifyIndex       uint64
}

// CARootListFromProto converts the catalog's roots.
func CARootListFromProto(resp *connectv1.RootsResponse) CARootList {
	out := CARootList{ActiveRootID: resp.GetActiveRootId(), TrustDomain: resp.GetTrustDomain(), Roots: []CARoot{}}
	for _, r := range resp.GetRoots() {
		out.Roots = append(out.Roots, CARoot{
			ID:                r.GetId(),
			Name:              r.GetName(),
			SerialNumber:      colonHexNumber(r.GetSerialNumber()),
			SigningKeyID:      r.GetSigningKeyId(),
			NotBefore:         timeOf(r.GetNotBefore()),
			NotAfter:          timeOf(r.GetNotAfter()),
			RootCert:          r.GetRootCert(),
			IntermediateCerts: nonNil(r.GetIntermediateCerts()),
			Active:            r.GetActive(),
			PrivateKeyType:    r.GetPrivateKeyType(),
			PrivateKeyBits:    int(r.GetPrivateKeyBits()),
			CreateIndex:       r.GetCreateIndex(),
			ModifyIndex:       r.GetModifyIndex(),
		})
	}
	return out
}

// colonHexNumber reads a colon-hex serial ("0a:1f") as a number. Consul's
// JSON has a uint64 there, but Beacon's CA gives roots 128-bit random
// serials (and an operator's root may have up to 160 bits), so a longer
// serial reads as its low 64 bits: what Consul's own conversion
// (big.Int.Uint64) yields for such a root; non-zero but for a 2^-64
// chance, and stable, since it depends on the certificate alone. Keeping
// the CA's serials random and long is worth more than a short number here.
// Anything that is not hex reads as 0.
func colonHexNumber(s string) uint64 {
	h := strings.ReplaceAll(s, ":", "")
	if len(h) > 16 {
		h = h[len(h)-16:]
	}
	if h == "" {
		return 0
	}
	n, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0
	}
	return n
}

func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime().UTC()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// LeafCert is /v1/agent/connect/ca/leaf/:service, Consul's IssuedCert.
type LeafCert struct {
	SerialNumber  string
	CertPEM       string
	PrivateKeyPEM string
	Service       string
	ServiceURI    string
	ValidAfter    time.Time
	ValidBefore   time.Time
	CreateIndex   uint64
	ModifyIndex   uint64
}

// LeafCertFromProto converts the agent's answer.
func LeafCertFromProto(resp *agentv1.ConnectLeafResponse) LeafCert {
	c := resp.GetCert()
	return LeafCert{
		SerialNumber:  c.GetSerialNumber(),
		CertPEM:       c.GetCertPem(),
		PrivateKeyPEM: resp.GetPrivateKeyPem(),
		Service:       c.GetService(),
		ServiceURI:    c.GetServiceUri(),
		ValidAfter:    timeOf(c.GetValidAfter()),
		ValidBefore:   timeOf(c.GetValidBefore()),
		CreateIndex:   resp.GetCreateIndex(),
		ModifyIndex:   resp.GetModifyIndex(),
	}
}

// AuthorizeRequest is the body of POST /v1/agent/connect/authorize.
type AuthorizeRequest struct {
	Target           string
	ClientCertURI    string
	ClientCertSerial string
}

// AuthorizeResponse is its answer.
type AuthorizeResponse struct {
	Authorized bool
	Reason     string
}

// CAConfig is /v1/connect/ca/configuration. Beacon has only the built-in
// ("consul") provider.
type CAConfig struct {
	Provider                 string
	ClusterID                string `json:",omitempty"`
	Config                   map[string]any
	State                    map[string]string
	ForceWithoutCrossSigning bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

// The built-in provider's key type, the only one Beacon has.
const (
	caKeyType = "ec"
	caKeyBits = 256
)

// CAConfigFromProto converts the catalog's CA configuration.
func CAConfigFromProto(c *connectv1.CAConfig) CAConfig {
	cfg := map[string]any{
		"LeafCertTTL":    shortDuration(c.GetLeafCertTtl().AsDuration()),
		"RootCertTTL":    shortDuration(c.GetRootCertTtl().AsDuration()),
		"PrivateKeyType": caKeyType,
		"PrivateKeyBits": caKeyBits,
	}
	return CAConfig{
		Provider:    "consul",
		ClusterID:   c.GetClusterId(),
		Config:      cfg,
		CreateIndex: c.GetCreateIndex(),
		ModifyIndex: c.GetModifyIndex(),
	}
}

// shortDuration writes d as a provider config holds it: "72h" rather
// than "72h0m0s" when it is whole hours.
func shortDuration(d time.Duration) string {
	if d > 0 && d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}

// Proto turns a CA configuration write into the catalog's request: a new
// PrivateKey with its RootCert rotates the root, as a new key does in
// Consul's built-in provider; provider settings Beacon has no use for
// (RotationPeriod, IntermediateCertTTL, CSR limits) are accepted and
// ignored. Errors name the field.
func (c CAConfig) Proto() (*connectv1.SetConfigRequest, error) {
	if c.Provider != "" && c.Provider != "consul" {
		return nil, fmt.Errorf("Provider %q is not supported: Beacon has only the built-in \"consul\" provider", c.Provider)
	}
	if len(c.State) > 0 {
		return nil, errors.New("State is read-only and must not be set")
	}
	out := &connectv1.CAConfig{}
	cfg := canonicalConfig(c.Config)
	for _, f := range []struct {
		key string
		dst **durationpb.Duration
	}{{"LeafCertTTL", &out.LeafCertTtl}, {"RootCertTTL", &out.RootCertTtl}} {
		v, ok := cfg[strings.ToLower(f.key)]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Config.%s: want a duration string such as \"72h\", got %v", f.key, v)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("Config.%s: %q is not a positive duration", f.key, s)
		}
		*f.dst = durationpb.New(d)
	}
	if v, ok := cfg["privatekeytype"]; ok && v != nil && v != caKeyType {
		return nil, fmt.Errorf("Config.PrivateKeyType: %v is not supported: only \"ec\"", v)
	}
	if v, ok := cfg["privatekeybits"]; ok && v != nil {
		if n, err := numberOf(v); err != nil || n != caKeyBits {
			return nil, fmt.Errorf("Config.PrivateKeyBits: %v is not supported: only 256", v)
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"PrivateKey", &out.PrivateKey}, {"RootCert", &out.RootCert}} {
		v, ok := cfg[strings.ToLower(f.key)]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Config.%s: want a PEM string", f.key)
		}
		*f.dst = strings.TrimSpace(s)
	}
	if (out.PrivateKey == "") != (out.RootCert == "") {
		return nil, errors.New("Config.PrivateKey and Config.RootCert must be given together")
	}
	return &connectv1.SetConfigRequest{Config: out, RotateRoot: out.PrivateKey != ""}, nil
}

// canonicalConfig lower-cases the provider config's keys and folds the
// snake_case spellings Consul also reads ("leaf_cert_ttl").
func canonicalConfig(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[strings.ToLower(strings.ReplaceAll(k, "_", ""))] = v
	}
	return out
}

func numberOf(v any) (int64, error) {
	switch n := v.(type) {
	case float64:
		return int64(n), nil
	case json.Number:
		return n.Int64()
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// Intention is Consul's intention, without the Enterprise and L7 parts
// Beacon does not have.
type Intention struct {
	ID              string
	Description     string `json:",omitempty"`
	SourceNS        string
	SourceName      string
	DestinationNS   string
	DestinationName string
	SourceType      string
	Action          string
	Meta            map[string]string
	Precedence      int
	CreateIndex     uint64
	ModifyIndex     uint64
}

// IntentionFromProto converts a stored intention.
func IntentionFromProto(in *connectv1.Intention) Intention {
	meta := maps.Clone(in.GetMeta())
	if meta == nil {
		meta = map[string]string{}
	}
	return Intention{
		ID:              in.GetId(),
		Description:     in.GetDescription(),
		SourceNS:        "default",
		SourceName:      in.GetSourceName(),
		DestinationNS:   "default",
		DestinationName: in.GetDestinationName(),
		SourceType:      cmpOr(in.GetSourceType(), "consul"),
		Action:          ActionName(in.GetAction()),
		Meta:            meta,
		Precedence:      int(in.GetPrecedence()),
		CreateIndex:     in.GetCreateIndex(),
		ModifyIndex:     in.GetModifyIndex(),
	}
}

// IntentionsFromProto converts a list, never nil.
func IntentionsFromProto(ins []*connectv1.Intention) []Intention {
	out := make([]Intention, 0, len(ins))
	for _, in := range ins {
		out = append(out, IntentionFromProto(in))
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ActionName is an action as Consul writes it.
func ActionName(a connectv1.IntentionAction) string {
	switch a {
	case connectv1.IntentionAction_INTENTION_ACTION_ALLOW:
		return "allow"
	case connectv1.IntentionAction_INTENTION_ACTION_DENY:
		return "deny"
	}
	return ""
}

// IntentionWrite is the body of an intention write: what a client may set.
// The rest of what consul/api sends back (ID, Precedence, indexes, times,
// Hash) is read-only and ignored.
type IntentionWrite struct {
	Description          string
	SourceNS             string
	SourceName           string
	DestinationNS        string
	DestinationName      string
	SourcePartition      string
	DestinationPartition string
	SourcePeer           string
	SourceSamenessGroup  string
	SourceType           string
	Action               string
	Permissions          []json.RawMessage
	Meta                 map[string]string
}

// Proto checks the write and returns the intention for source and
// destination (which come from the query string for the exact form, and
// from the body for the legacy create). Errors name the field.
func (w IntentionWrite) Proto(source, destination string) (*connectv1.Intention, error) {
	for field, v := range map[string]string{
		"SourceNS": w.SourceNS, "DestinationNS": w.DestinationNS,
		"SourcePartition": w.SourcePartition, "DestinationPartition": w.DestinationPartition,
	} {
		if v != "" && v != "default" {
			return nil, fmt.Errorf("%s %q: namespaces and partitions are a Consul Enterprise feature", field, v)
		}
	}
	if w.SourcePeer != "" || w.SourceSamenessGroup != "" {
		return nil, errors.New("SourcePeer and SourceSamenessGroup are not supported: Beacon has no cluster peering")
	}
	if len(w.Permissions) > 0 {
		return nil, errors.New("Permissions (L7 intentions) are not supported: give an Action instead")
	}
	if source == "" {
		return nil, errors.New("SourceName is required")
	}
	if destination == "" {
		return nil, errors.New("DestinationName is required")
	}
	if w.SourceType != "" && w.SourceType != "consul" {
		return nil, fmt.Errorf("SourceType %q is not supported: only \"consul\"", w.SourceType)
	}
	in := &connectv1.Intention{
		SourceName:      source,
		DestinationName: destination,
		SourceType:      "consul",
		Description:     w.Description,
		Meta:            w.Meta,
	}
	switch strings.ToLower(w.Action) {
	case "allow":
		in.Action = connectv1.IntentionAction_INTENTION_ACTION_ALLOW
	case "deny":
		in.Action = connectv1.IntentionAction_INTENTION_ACTION_DENY
	default:
		return nil, fmt.Errorf("Action must be set to 'allow' or 'deny', got %q", w.Action)
	}
	return in, nil
}
