package fakecatalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ClusterID is the fake CA's cluster ID; its trust domain is ClusterID + ".consul".
const ClusterID = "11111111-2222-3333-4444-555555555555"

// connectState is the fake's Connect CA and intentions. Roots carry
// placeholder PEM: the gateway passes them through untouched.
type connectState struct {
	caConfig     *connectv1.CAConfig
	roots        []*connectv1.CARoot
	intentions   map[[2]string]*connectv1.Intention
	intentionSeq int
	defaultDeny  bool
}

func newConnectState() connectState {
	return connectState{
		caConfig: &connectv1.CAConfig{ClusterId: ClusterID, LeafCertTtl: durationpb.New(72 * time.Hour),
			RootCertTtl: durationpb.New(87600 * time.Hour), PrivateKey: "secret", CreateIndex: 1, ModifyIndex: 1},
		roots:      []*connectv1.CARoot{fakeRoot(1, 1)},
		intentions: map[[2]string]*connectv1.Intention{},
	}
}

func fakeRoot(n int, idx uint64) *connectv1.CARoot {
	return &connectv1.CARoot{
		Id: fmt.Sprintf("aa:bb:%02x", n), Name: fmt.Sprintf("Beacon CA Primary Cert %d", n), SerialNumber: fmt.Sprintf("%02x", n),
		SigningKeyId: fmt.Sprintf("cc:dd:%02x", n),
		NotBefore:    timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		NotAfter:     timestamppb.New(time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)),
		RootCert:     fmt.Sprintf("-----BEGIN CERTIFICATE-----\nroot%d\n-----END CERTIFICATE-----\n", n),
		Active:       true, PrivateKeyType: "ec", PrivateKeyBits: 256, CreateIndex: idx, ModifyIndex: idx,
	}
}

// SetDefaultDeny makes checks without a matching intention deny.
func (f *Fake) SetDefaultDeny(deny bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connect.defaultDeny = deny
}

// Roots implements connectv1.CAServiceServer.
func (f *Fake) Roots(ctx context.Context, in *connectv1.RootsRequest) (*connectv1.RootsResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &connectv1.RootsResponse{Meta: f.meta(), TrustDomain: ClusterID + ".consul"}
	for _, r := range f.connect.roots {
		out.Roots = append(out.Roots, r)
		if r.GetActive() {
			out.ActiveRootId = r.GetId()
		}
	}
	return out, nil
}

// GetConfig implements connectv1.CAServiceServer; the key is not returned.
func (f *Fake) GetConfig(ctx context.Context, in *connectv1.GetConfigRequest) (*connectv1.GetConfigResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	c := proto.Clone(f.connect.caConfig).(*connectv1.CAConfig)
	c.PrivateKey = ""
	return &connectv1.GetConfigResponse{Meta: f.meta(), Config: c}, nil
}

// SetConfig implements connectv1.CAServiceServer: TTLs change, and
// rotate_root adds a new active root.
func (f *Fake) SetConfig(_ context.Context, in *connectv1.SetConfigRequest) (*connectv1.SetConfigResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	idx := f.bump()
	c := proto.Clone(f.connect.caConfig).(*connectv1.CAConfig)
	if in.GetConfig().GetLeafCertTtl() != nil {
		c.LeafCertTtl = in.GetConfig().GetLeafCertTtl()
	}
	if in.GetConfig().GetRootCertTtl() != nil {
		c.RootCertTtl = in.GetConfig().GetRootCertTtl()
	}
	c.ModifyIndex = idx
	f.connect.caConfig = c
	if in.GetRotateRoot() {
		var roots []*connectv1.CARoot
		for _, r := range f.connect.roots {
			r = proto.Clone(r).(*connectv1.CARoot)
			r.Active, r.ModifyIndex = false, idx
			roots = append(roots, r)
		}
		f.connect.roots = append(roots, fakeRoot(len(roots)+1, idx))
	}
	return &connectv1.SetConfigResponse{}, nil
}

// precedence is Consul's: exact→exact 9, *→exact 8, exact→* 6, *→* 5.
func precedence(src, dst string) int32 {
	switch {
	case src != "*" && dst != "*":
		return 9
	case dst != "*":
		return 8
	case src != "*":
		return 6
	}
	return 5
}

// UpsertIntention implements connectv1.IntentionServiceServer.
func (f *Fake) UpsertIntention(_ context.Context, in *connectv1.UpsertIntentionRequest) (*connectv1.UpsertIntentionResponse, error) {
	ni := proto.Clone(in.GetIntention()).(*connectv1.Intention)
	if ni.GetSourceName() == "" || ni.GetDestinationName() == "" {
		return nil, status.Error(codes.InvalidArgument, "intention.source_name and intention.destination_name are required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	idx := f.bump()
	key := [2]string{ni.GetSourceName(), ni.GetDestinationName()}
	ni.Precedence = precedence(key[0], key[1])
	ni.CreateIndex, ni.ModifyIndex = idx, idx
	if old := f.connect.intentions[key]; old != nil {
		ni.Id, ni.CreateIndex = old.GetId(), old.GetCreateIndex()
	} else {
		f.connect.intentionSeq++
		ni.Id = fmt.Sprintf("00000000-0000-4000-9000-%012d", f.connect.intentionSeq)
	}
	f.connect.intentions[key] = ni
	return &connectv1.UpsertIntentionResponse{}, nil
}

// DeleteIntention implements connectv1.IntentionServiceServer.
func (f *Fake) DeleteIntention(_ context.Context, in *connectv1.DeleteIntentionRequest) (*connectv1.DeleteIntentionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bump()
	delete(f.connect.intentions, [2]string{in.GetSourceName(), in.GetDestinationName()})
	return &connectv1.DeleteIntentionResponse{}, nil
}

// GetIntention implements connectv1.IntentionServiceServer.
func (f *Fake) GetIntention(ctx context.Context, in *connectv1.GetIntentionRequest) (*connectv1.GetIntentionResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	ixn := f.connect.intentions[[2]string{in.GetSourceName(), in.GetDestinationName()}]
	if ixn == nil {
		return nil, status.Error(codes.NotFound, "Intention not found")
	}
	return &connectv1.GetIntentionResponse{Meta: f.meta(), Intention: ixn}, nil
}

// sortedIntentions is most precedent first, then by source and destination.
func (f *Fake) sortedIntentions() []*connectv1.Intention {
	var out []*connectv1.Intention
	for _, in := range f.connect.intentions {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *connectv1.Intention) int {
		if a.GetPrecedence() != b.GetPrecedence() {
			return int(b.GetPrecedence() - a.GetPrecedence())
		}
		if c := strings.Compare(a.GetSourceName(), b.GetSourceName()); c != 0 {
			return c
		}
		return strings.Compare(a.GetDestinationName(), b.GetDestinationName())
	})
	return out
}

// ListIntentions implements connectv1.IntentionServiceServer.
func (f *Fake) ListIntentions(ctx context.Context, in *connectv1.ListIntentionsRequest) (*connectv1.ListIntentionsResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &connectv1.ListIntentionsResponse{Meta: f.meta(), Intentions: f.sortedIntentions()}, nil
}

// MatchIntentions implements connectv1.IntentionServiceServer.
func (f *Fake) MatchIntentions(ctx context.Context, in *connectv1.MatchIntentionsRequest) (*connectv1.MatchIntentionsResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &connectv1.MatchIntentionsResponse{Meta: f.meta(), Matches: map[string]*connectv1.IntentionList{}, DefaultAllow: !f.connect.defaultDeny}
	for _, n := range in.GetNames() {
		l := &connectv1.IntentionList{}
		for _, ixn := range f.sortedIntentions() {
			side := ixn.GetDestinationName()
			if in.GetBy() == connectv1.MatchBy_MATCH_BY_SOURCE {
				side = ixn.GetSourceName()
			}
			if side == n || side == "*" {
				l.Intentions = append(l.Intentions, ixn)
			}
		}
		out.Matches[n] = l
	}
	return out, nil
}

// CheckIntention implements connectv1.IntentionServiceServer.
func (f *Fake) CheckIntention(ctx context.Context, in *connectv1.CheckIntentionRequest) (*connectv1.CheckIntentionResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &connectv1.CheckIntentionResponse{Meta: f.meta(), Allowed: !f.connect.defaultDeny, Reason: "Default behavior configured by ACLs"}
	for _, ixn := range f.sortedIntentions() {
		if (ixn.GetSourceName() == in.GetSourceName() || ixn.GetSourceName() == "*") &&
			(ixn.GetDestinationName() == in.GetDestinationName() || ixn.GetDestinationName() == "*") {
			out.Allowed = ixn.GetAction() == connectv1.IntentionAction_INTENTION_ACTION_ALLOW
			out.Reason = "Matched intention"
			break
		}
	}
	return out, nil
}
