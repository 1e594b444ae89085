package grpcapi

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/ca"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const maxCSRBytes = 16 << 10

var errNoCA = status.Error(codes.Unavailable, "the Connect CA is not initialized yet")

type caService struct {
	connectv1.UnimplementedCAServiceServer
	s *Server
}

func (c *caService) Roots(ctx context.Context, req *connectv1.RootsRequest) (*connectv1.RootsResponse, error) {
	resp := &connectv1.RootsResponse{}
	return serveRead(ctx, c.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.RootsResponse, error) {
		return connectv1.NewCAServiceClient(cc).Roots(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, roots, err := st.CARoots(ws)
		if err != nil {
			return 0, err
		}
		_, cfg, err := st.CAConfig(ws)
		if err != nil {
			return 0, err
		}
		resp.Roots, resp.ActiveRootId, resp.TrustDomain = roots, "", ""
		if cfg != nil {
			resp.TrustDomain = ca.TrustDomain(cfg.GetClusterId())
		}
		for _, r := range roots {
			if r.GetActive() {
				resp.ActiveRootId = r.GetId()
			}
		}
		return idx, nil
	})
}

// Sign signs on the leader, with the active root's key.
func (c *caService) Sign(ctx context.Context, req *connectv1.SignRequest) (*connectv1.SignResponse, error) {
	if req.GetCsr() == "" {
		return nil, invalid("csr is required")
	}
	if len(req.GetCsr()) > maxCSRBytes {
		return nil, invalid("csr is %d bytes, the limit is %d", len(req.GetCsr()), maxCSRBytes)
	}
	if resp, ok, err := forward(ctx, c.s, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.SignResponse, error) {
		return connectv1.NewCAServiceClient(cc).Sign(ctx, req)
	}); ok {
		return resp, err
	}
	if err := c.s.leaderRead(ctx); err != nil {
		return nil, err
	}
	cfg, root, key, err := c.s.activeCA()
	if err != nil {
		return nil, err
	}
	ttl := cfg.GetLeafCertTtl().AsDuration()
	if ttl <= 0 {
		ttl = ca.DefaultLeafTTL
	}
	cert, err := ca.Sign(req.GetCsr(), root.GetRootCert(), key, ca.TrustDomain(cfg.GetClusterId()), c.s.cfg.Datacenter, ttl, time.Now())
	if errors.Is(err, ca.ErrInvalidCSR) {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "sign: %v", err)
	}
	return &connectv1.SignResponse{Cert: cert}, nil
}

// activeCA returns the CA configuration, the active root and its key.
func (s *Server) activeCA() (*connectv1.CAConfig, *connectv1.CARoot, *ecdsa.PrivateKey, error) {
	st := s.fsm.State()
	_, cfg, err := st.CAConfig(nil)
	if err != nil {
		return nil, nil, nil, toStatus(err)
	}
	if cfg == nil {
		return nil, nil, nil, errNoCA
	}
	_, roots, err := st.CARoots(nil)
	if err != nil {
		return nil, nil, nil, toStatus(err)
	}
	for _, r := range roots {
		if r.GetActive() {
			key, err := ca.ParseKey(cfg.GetPrivateKey())
			if err != nil {
				return nil, nil, nil, status.Errorf(codes.Internal, "ca key: %v", err)
			}
			return cfg, r, key, nil
		}
	}
	return nil, nil, nil, errNoCA
}

func (c *caService) GetConfig(ctx context.Context, req *connectv1.GetConfigRequest) (*connectv1.GetConfigResponse, error) {
	resp := &connectv1.GetConfigResponse{}
	return serveRead(ctx, c.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.GetConfigResponse, error) {
		return connectv1.NewCAServiceClient(cc).GetConfig(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, cfg, err := st.CAConfig(ws)
		resp.Config = nil
		if cfg != nil {
			pub := proto.Clone(cfg).(*connectv1.CAConfig)
			pub.PrivateKey = ""
			resp.Config = pub
		}
		return idx, err
	})
}

func (c *caService) SetConfig(ctx context.Context, req *connectv1.SetConfigRequest) (*connectv1.SetConfigResponse, error) {
	in := req.GetConfig()
	if in == nil {
		return nil, invalid("config is required")
	}
	for field, d := range map[string]*durationpb.Duration{"config.leaf_cert_ttl": in.GetLeafCertTtl(), "config.root_cert_ttl": in.GetRootCertTtl()} {
		if d != nil && (d.CheckValid() != nil || d.AsDuration() < time.Minute) {
			return nil, invalid("%s must be at least 1m", field)
		}
	}
	if (in.GetPrivateKey() == "") != (in.GetRootCert() == "") {
		return nil, invalid("config.private_key and config.root_cert go together")
	}
	if in.GetPrivateKey() != "" && !req.GetRotateRoot() {
		return nil, invalid("a new private_key and root_cert need rotate_root")
	}
	if resp, ok, err := forward(ctx, c.s, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.SetConfigResponse, error) {
		return connectv1.NewCAServiceClient(cc).SetConfig(ctx, req)
	}); ok {
		return resp, err
	}
	c.s.caMu.Lock()
	defer c.s.caMu.Unlock()
	st := c.s.fsm.State()
	_, cur, err := st.CAConfig(nil)
	if err != nil {
		return nil, toStatus(err)
	}
	if cur == nil {
		return nil, errNoCA
	}
	_, roots, err := st.CARoots(nil)
	if err != nil {
		return nil, toStatus(err)
	}
	next := proto.Clone(cur).(*connectv1.CAConfig)
	if in.GetLeafCertTtl() != nil {
		next.LeafCertTtl = in.GetLeafCertTtl()
	}
	if in.GetRootCertTtl() != nil {
		next.RootCertTtl = in.GetRootCertTtl()
	}
	newRoots := make([]*connectv1.CARoot, 0, len(roots)+1)
	for _, r := range roots {
		newRoots = append(newRoots, proto.Clone(r).(*connectv1.CARoot))
	}
	if req.GetRotateRoot() {
		root, keyPEM, err := c.s.makeRoot(next, in, len(roots)+1)
		if err != nil {
			return nil, err
		}
		now := timestamppb.Now()
		for _, r := range newRoots {
			if r.GetActive() {
				// Still trusted: live leaves it signed keep working until
				// pruneCARoots drops it, two leaf TTLs from now.
				r.Active, r.RotatedOutAt = false, now
			}
		}
		next.PrivateKey = keyPEM
		newRoots = append(newRoots, root)
	}
	res, err := c.s.apply(ctx, fsm.CAStateType, &connectv1.CAState{Config: next, Roots: newRoots})
	if err != nil {
		return nil, err
	}
	return &connectv1.SetConfigResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

// makeRoot returns a new active root: from the given key and certificate,
// or generated.
func (s *Server) makeRoot(cfg *connectv1.CAConfig, in *connectv1.CAConfig, serial int) (*connectv1.CARoot, string, error) {
	td := ca.TrustDomain(cfg.GetClusterId())
	if in.GetPrivateKey() != "" {
		key, err := ca.ParseKey(in.GetPrivateKey())
		if err != nil {
			return nil, "", invalid("config.private_key: %v", err)
		}
		if err := ca.CheckKeyMatches(in.GetRootCert(), key); err != nil {
			return nil, "", invalid("config.root_cert: %v", err)
		}
		root, err := ca.RootFromPEM(in.GetRootCert(), fmt.Sprintf("Beacon CA Primary Cert %d", serial))
		if err != nil {
			return nil, "", invalid("config.root_cert: %v", err)
		}
		root.Active = true
		return root, in.GetPrivateKey(), nil
	}
	key, keyPEM, err := ca.NewKey()
	if err != nil {
		return nil, "", status.Errorf(codes.Internal, "%v", err)
	}
	ttl := cfg.GetRootCertTtl().AsDuration()
	if ttl <= 0 {
		ttl = ca.DefaultRootTTL
	}
	root, err := ca.NewRoot(key, td, serial, ttl, time.Now())
	if err != nil {
		return nil, "", status.Errorf(codes.Internal, "%v", err)
	}
	root.Active = true
	return root, keyPEM, nil
}

// ensureCA makes the cluster's CA on first leadership: a cluster ID (and so
// the trust domain), a key and a root, stored through Raft.
func (s *Server) ensureCA(ctx context.Context) error {
	s.caMu.Lock()
	defer s.caMu.Unlock()
	_, cfg, err := s.fsm.State().CAConfig(nil)
	if err != nil || cfg != nil {
		return err
	}
	next := &connectv1.CAConfig{
		ClusterId:   ids.New(),
		LeafCertTtl: durationpb.New(ca.DefaultLeafTTL),
		RootCertTtl: durationpb.New(ca.DefaultRootTTL),
	}
	root, keyPEM, err := s.makeRoot(next, &connectv1.CAConfig{}, 1)
	if err != nil {
		return err
	}
	next.PrivateKey = keyPEM
	if _, err := s.apply(ctx, fsm.CAStateType, &connectv1.CAState{Config: next, Roots: []*connectv1.CARoot{root}}); err != nil {
		return err
	}
	s.logger.Info("connect CA initialized", "trust_domain", ca.TrustDomain(next.GetClusterId()), "root", root.GetId())
	return nil
}

// pruneCARoots drops the inactive roots no leaf can chain to any more:
// those rotated out more than two leaf TTLs before now (as Consul prunes).
// An inactive root without a rotation time (stored before roots had one)
// is given now, so it goes in its turn. It writes only when something
// changes.
func (s *Server) pruneCARoots(ctx context.Context, now time.Time) error {
	s.caMu.Lock()
	defer s.caMu.Unlock()
	st := s.fsm.State()
	_, cfg, err := st.CAConfig(nil)
	if err != nil || cfg == nil {
		return err
	}
	_, roots, err := st.CARoots(nil)
	if err != nil {
		return err
	}
	leafTTL := cfg.GetLeafCertTtl().AsDuration()
	if leafTTL <= 0 {
		leafTTL = ca.DefaultLeafTTL
	}
	keep, changed := pruneRoots(roots, leafTTL, now)
	if !changed {
		return nil
	}
	if _, err := s.apply(ctx, fsm.CAStateType, &connectv1.CAState{Config: cfg, Roots: keep}); err != nil {
		return err
	}
	s.logger.Info("pruned CA roots rotated out two leaf TTLs ago", "before", len(roots), "after", len(keep))
	return nil
}

// pruneRoots is pruneCARoots' decision: the roots to keep (copies, with
// rotation times stamped where missing), and whether that differs from
// roots.
func pruneRoots(roots []*connectv1.CARoot, leafTTL time.Duration, now time.Time) ([]*connectv1.CARoot, bool) {
	var keep []*connectv1.CARoot
	changed := false
	for _, r := range roots {
		if !r.GetActive() && r.GetRotatedOutAt() != nil && now.Sub(r.GetRotatedOutAt().AsTime()) > 2*leafTTL {
			changed = true
			continue
		}
		r = proto.Clone(r).(*connectv1.CARoot)
		if !r.GetActive() && r.GetRotatedOutAt() == nil {
			r.RotatedOutAt = timestamppb.New(now)
			changed = true
		}
		keep = append(keep, r)
	}
	return keep, changed
}

type intentionService struct {
	connectv1.UnimplementedIntentionServiceServer
	s *Server
}

func intentionName(field, v string) error {
	if v == state.Wildcard {
		return nil
	}
	if err := name(field, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, "*/") {
		return invalid("%s %q: only a whole \"*\" is a wildcard, and namespaces are not supported", field, v)
	}
	return nil
}

func (is *intentionService) UpsertIntention(ctx context.Context, req *connectv1.UpsertIntentionRequest) (*connectv1.UpsertIntentionResponse, error) {
	in := req.GetIntention()
	if in == nil {
		return nil, invalid("intention is required")
	}
	if err := intentionName("intention.source_name", in.GetSourceName()); err != nil {
		return nil, err
	}
	if err := intentionName("intention.destination_name", in.GetDestinationName()); err != nil {
		return nil, err
	}
	if err := enum("intention.action", in.GetAction()); err != nil {
		return nil, err
	}
	if in.GetAction() == connectv1.IntentionAction_INTENTION_ACTION_UNSPECIFIED {
		return nil, invalid("intention.action must be allow or deny")
	}
	if t := in.GetSourceType(); t != "" && t != "consul" {
		return nil, invalid("intention.source_type %q: only \"consul\" is supported", t)
	}
	if len(in.GetDescription()) > maxMetaValLen {
		return nil, invalid("intention.description is longer than %d bytes", maxMetaValLen)
	}
	if err := meta("intention.meta", in.GetMeta()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, is.s, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.UpsertIntentionResponse, error) {
		return connectv1.NewIntentionServiceClient(cc).UpsertIntention(ctx, req)
	}); ok {
		return resp, err
	}
	ni := proto.Clone(in).(*connectv1.Intention)
	ni.Id = ids.New() // kept only if the pair is new
	res, err := is.s.apply(ctx, fsm.IntentionUpsertType, ni)
	if err != nil {
		return nil, err
	}
	return &connectv1.UpsertIntentionResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

func (is *intentionService) DeleteIntention(ctx context.Context, req *connectv1.DeleteIntentionRequest) (*connectv1.DeleteIntentionResponse, error) {
	if err := intentionName("source_name", req.GetSourceName()); err != nil {
		return nil, err
	}
	if err := intentionName("destination_name", req.GetDestinationName()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, is.s, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.DeleteIntentionResponse, error) {
		return connectv1.NewIntentionServiceClient(cc).DeleteIntention(ctx, req)
	}); ok {
		return resp, err
	}
	res, err := is.s.apply(ctx, fsm.IntentionDeleteType, req)
	if err != nil {
		return nil, err
	}
	return &connectv1.DeleteIntentionResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

func (is *intentionService) GetIntention(ctx context.Context, req *connectv1.GetIntentionRequest) (*connectv1.GetIntentionResponse, error) {
	if err := intentionName("source_name", req.GetSourceName()); err != nil {
		return nil, err
	}
	if err := intentionName("destination_name", req.GetDestinationName()); err != nil {
		return nil, err
	}
	resp := &connectv1.GetIntentionResponse{}
	resp, err := serveRead(ctx, is.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.GetIntentionResponse, error) {
		return connectv1.NewIntentionServiceClient(cc).GetIntention(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, in, err := st.Intention(ws, req.GetSourceName(), req.GetDestinationName())
		resp.Intention = in
		return idx, err
	})
	if err == nil && resp.GetIntention() == nil {
		return nil, status.Error(codes.NotFound, "Intention not found")
	}
	return resp, err
}

func (is *intentionService) ListIntentions(ctx context.Context, req *connectv1.ListIntentionsRequest) (*connectv1.ListIntentionsResponse, error) {
	resp := &connectv1.ListIntentionsResponse{}
	return serveRead(ctx, is.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.ListIntentionsResponse, error) {
		return connectv1.NewIntentionServiceClient(cc).ListIntentions(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, all, err := st.Intentions(ws)
		resp.Intentions = all
		return idx, err
	})
}

func (is *intentionService) MatchIntentions(ctx context.Context, req *connectv1.MatchIntentionsRequest) (*connectv1.MatchIntentionsResponse, error) {
	if err := enum("by", req.GetBy()); err != nil {
		return nil, err
	}
	if req.GetBy() == connectv1.MatchBy_MATCH_BY_UNSPECIFIED {
		return nil, invalid("by must be source or destination")
	}
	if len(req.GetNames()) == 0 {
		return nil, invalid("names is required")
	}
	for i, n := range req.GetNames() {
		if err := intentionName(fmt.Sprintf("names[%d]", i), n); err != nil {
			return nil, err
		}
	}
	resp := &connectv1.MatchIntentionsResponse{}
	return serveRead(ctx, is.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.MatchIntentionsResponse, error) {
		return connectv1.NewIntentionServiceClient(cc).MatchIntentions(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, all, err := st.Intentions(ws)
		resp.Matches = map[string]*connectv1.IntentionList{}
		for _, n := range req.GetNames() {
			resp.Matches[n] = &connectv1.IntentionList{Intentions: state.MatchIntentions(all, n, req.GetBy() == connectv1.MatchBy_MATCH_BY_SOURCE)}
		}
		resp.DefaultAllow = !is.s.cfg.DefaultIntentionDeny
		return idx, err
	})
}

func (is *intentionService) CheckIntention(ctx context.Context, req *connectv1.CheckIntentionRequest) (*connectv1.CheckIntentionResponse, error) {
	if err := name("source_name", req.GetSourceName()); err != nil {
		return nil, err
	}
	if err := name("destination_name", req.GetDestinationName()); err != nil {
		return nil, err
	}
	resp := &connectv1.CheckIntentionResponse{}
	return serveRead(ctx, is.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*connectv1.CheckIntentionResponse, error) {
		return connectv1.NewIntentionServiceClient(cc).CheckIntention(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, all, err := st.Intentions(ws)
		if in := state.DecideIntention(all, req.GetSourceName(), req.GetDestinationName()); in != nil {
			resp.Allowed = in.GetAction() == connectv1.IntentionAction_INTENTION_ACTION_ALLOW
			resp.Reason = fmt.Sprintf("Matched intention: %s => %s (%s)", in.GetSourceName(), in.GetDestinationName(), actionName(in.GetAction()))
		} else {
			resp.Allowed = !is.s.cfg.DefaultIntentionDeny
			resp.Reason = "Default behavior configured by ACLs"
		}
		return idx, err
	})
}

func actionName(a connectv1.IntentionAction) string {
	if a == connectv1.IntentionAction_INTENTION_ACTION_DENY {
		return "deny"
	}
	return "allow"
}
