// Package authz decides whether a caller may connect to the proxied service
// from the intentions that name it, kept in a local cache that follows the
// catalog with blocking queries: a decision never waits on the network,
// and a changed intention applies to the next connection.
package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/platform/blocking"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Wildcard matches every service name in an intention.
const Wildcard = "*"

// Precedence is Consul's (open-source) precedence of an intention from
// source to destination: exact→exact 9, *→exact 8, exact→* 6, *→* 5.
func Precedence(source, destination string) int {
	switch {
	case source != Wildcard && destination != Wildcard:
		return 9
	case source == Wildcard && destination != Wildcard:
		return 8
	case source != Wildcard:
		return 6
	}
	return 5
}

// Decision is the outcome of an authorization.
type Decision struct {
	Allowed bool
	// Reason reads as Consul's /v1/agent/connect/authorize reason.
	Reason string
}

// Decide applies intentions to a connection from source to destination:
// among the intentions that match both names (exactly or by wildcard), the
// most precedent decides, deny winning a tie; when none matches, the
// default applies. Names compare case-insensitively, as in Consul.
func Decide(intentions []*connectv1.Intention, source, destination string, defaultAllow bool) Decision {
	var best *connectv1.Intention
	bestPrec := -1
	for _, in := range intentions {
		src, dst := in.GetSourceName(), in.GetDestinationName()
		if !matches(src, source) || !matches(dst, destination) {
			continue
		}
		p := Precedence(src, dst)
		if p > bestPrec || (p == bestPrec && !allows(in) && allows(best)) {
			best, bestPrec = in, p
		}
	}
	if best == nil {
		return Decision{Allowed: defaultAllow, Reason: "Default behavior configured by ACLs"}
	}
	action := "deny"
	if allows(best) {
		action = "allow"
	}
	return Decision{
		Allowed: allows(best),
		Reason:  fmt.Sprintf("Matched intention: %s => %s (%s)", best.GetSourceName(), best.GetDestinationName(), action),
	}
}

func matches(pattern, name string) bool {
	return pattern == Wildcard || strings.EqualFold(pattern, name)
}

// allows reports whether an intention allows; anything but an explicit
// allow (an unknown action, L7 permissions Beacon does not enforce) denies.
func allows(in *connectv1.Intention) bool {
	return in.GetAction() == connectv1.IntentionAction_INTENTION_ACTION_ALLOW
}

// Source is the part of the catalog's IntentionService the cache uses;
// connectv1.IntentionServiceClient satisfies it.
type Source interface {
	MatchIntentions(ctx context.Context, in *connectv1.MatchIntentionsRequest, opts ...grpc.CallOption) (*connectv1.MatchIntentionsResponse, error)
}

// Config configures a Cache.
type Config struct {
	Source Source
	// Service is the destination whose intentions are cached.
	Service string
	// MaxWait bounds each blocking query (default 5m).
	MaxWait time.Duration
	Logger  *slog.Logger
	// OnError is called on each failed query.
	OnError func(error)
}

// snapshot is one answer of the catalog, immutable once stored.
type snapshot struct {
	intentions   []*connectv1.Intention
	defaultAllow bool
	index        uint64
}

// Cache holds the intentions whose destination is one service (or *).
type Cache struct {
	cfg    Config
	logger *slog.Logger
	cur    atomic.Pointer[snapshot]
	// loaded is closed by the first answer.
	loaded chan struct{}
}

// New returns a Cache for cfg; Run fills it.
func New(cfg Config) (*Cache, error) {
	if cfg.Source == nil {
		return nil, errors.New("authz: no intention source")
	}
	if cfg.Service == "" {
		return nil, errors.New("authz: no service name")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{cfg: cfg, logger: logger, loaded: make(chan struct{})}, nil
}

// Run follows the catalog until ctx ends.
func (c *Cache) Run(ctx context.Context) error {
	_ = blocking.Loop(ctx, c.query, blocking.Options{Logger: c.logger, OnError: c.cfg.OnError})
	return nil
}

// Ready waits for the first answer.
func (c *Cache) Ready(ctx context.Context) error {
	select {
	case <-c.loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for intentions of %q: %w", c.cfg.Service, ctx.Err())
	}
}

// Index is the catalog index of the intentions in force (0 before the
// first answer).
func (c *Cache) Index() uint64 {
	if s := c.cur.Load(); s != nil {
		return s.index
	}
	return 0
}

// Authorize decides a connection from source. Until the first answer
// arrives it denies: a proxy that cannot tell fails closed.
func (c *Cache) Authorize(source string) Decision {
	s := c.cur.Load()
	if s == nil {
		return Decision{Allowed: false, Reason: "intentions not loaded yet"}
	}
	return Decide(s.intentions, source, c.cfg.Service, s.defaultAllow)
}

func (c *Cache) query(ctx context.Context, minIndex uint64) (uint64, error) {
	resp, err := c.cfg.Source.MatchIntentions(ctx, &connectv1.MatchIntentionsRequest{
		Options: &queryv1.ReadOptions{MinIndex: minIndex, MaxWait: durationpb.New(c.cfg.MaxWait)},
		By:      connectv1.MatchBy_MATCH_BY_DESTINATION,
		Names:   []string{c.cfg.Service},
	})
	if err != nil {
		return 0, fmt.Errorf("match intentions for %q: %w", c.cfg.Service, err)
	}
	s := &snapshot{index: resp.GetMeta().GetIndex(), defaultAllow: resp.GetDefaultAllow()}
	for name, list := range resp.GetMatches() {
		if strings.EqualFold(name, c.cfg.Service) {
			s.intentions = append(s.intentions, list.GetIntentions()...)
		}
	}
	prev := c.cur.Swap(s)
	if prev == nil {
		close(c.loaded)
	}
	if prev == nil || prev.index != s.index {
		c.logger.Debug("intentions updated", "service", c.cfg.Service, "count", len(s.intentions),
			"default_allow", s.defaultAllow, "index", s.index)
	}
	return s.index, nil
}
