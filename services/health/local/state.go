// Package local is the node agent's own state: the services and checks it
// owns, where each came from (files, the API, maintenance), their current
// health, and the sync that keeps the catalog in step with them.
//
// Writes stay small. A check result becomes a catalog write only when its
// status or output changes, and output-only changes at most once per
// CheckUpdateInterval per check. A periodic anti-entropy sync compares the
// catalog's view of the node with the agent's and repairs the difference,
// in both directions: what the agent owns is (re)registered, and what the
// catalog holds for the node that the agent does not own is deregistered.
package local

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/checks"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Catalog is what the agent needs from the catalog. The generated
// CatalogService and HealthService clients provide it together.
type Catalog interface {
	Register(ctx context.Context, in *catalogv1.RegisterRequest, opts ...grpc.CallOption) (*catalogv1.RegisterResponse, error)
	Deregister(ctx context.Context, in *catalogv1.DeregisterRequest, opts ...grpc.CallOption) (*catalogv1.DeregisterResponse, error)
	NodeServices(ctx context.Context, in *catalogv1.NodeServicesRequest, opts ...grpc.CallOption) (*catalogv1.NodeServicesResponse, error)
	NodeChecks(ctx context.Context, in *catalogv1.NodeChecksRequest, opts ...grpc.CallOption) (*catalogv1.NodeChecksResponse, error)
}

// Errors, matched with errors.Is.
var (
	// ErrNotFound: the service or check is not owned by this agent.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the definition is wrong; the message says how.
	ErrInvalid = errors.New("invalid definition")
	// ErrScriptsDisabled: a script check on an agent started without
	// -enable-script-checks.
	ErrScriptsDisabled = errors.New("scripts are disabled on this agent; to enable, start it with -enable-script-checks")
	// ErrNotTTL: UpdateTTL of a check that is not a TTL check.
	ErrNotTTL = checks.ErrNotTTL
	// ErrNoSidecarPort: every port of the sidecar range is taken.
	ErrNoSidecarPort = errors.New("no free port in the sidecar port range")
)

// IDs the agent never removes from the catalog: the catalog's own
// registrations of a node (Consul skips the same two).
const (
	serfCheckID     = "serfHealth"
	consulServiceID = "consul"
)

// Source says who put a service or check in place.
type Source int

// Sources.
const (
	// SourceAPI is the agent API: kept across reloads.
	SourceAPI Source = iota
	// SourceFile is -config-dir: replaced by each reload.
	SourceFile
	// SourceMaintenance is a maintenance-mode check.
	SourceMaintenance
)

// Config configures a State.
type Config struct {
	// Node is the node this agent is; Node, Address and Datacenter must be set.
	Node *catalogv1.Node
	// Catalog receives the writes and answers anti-entropy's reads.
	Catalog Catalog
	// EnableScriptChecks allows script checks.
	EnableScriptChecks bool
	// DataDir, when set, keeps what the agent API registers across
	// restarts (see LoadPersisted).
	DataDir string
	// AntiEntropyInterval is the period of full syncs (default 60 s; a
	// random eighth of it is added each time).
	AntiEntropyInterval time.Duration
	// CheckUpdateInterval bounds how often an output-only change of one
	// check is written (default 5 m, as Consul's check_update_interval).
	CheckUpdateInterval time.Duration
	// ReapInterval is how often deregister_critical_service_after is
	// enforced (default 30 s), and DeregisterMin its smallest value
	// (default 1 m).
	ReapInterval, DeregisterMin time.Duration
	// SidecarMinPort and SidecarMaxPort bound automatic sidecar ports
	// (default 21000-21255).
	SidecarMinPort, SidecarMaxPort int
	// RPCTimeout bounds each catalog call (default 10 s).
	RPCTimeout time.Duration
	// Stagger is passed to the check scheduler (tests make it 0).
	Stagger func(time.Duration) time.Duration
	Logger  *slog.Logger
	// Registerer receives the beacon_health_* metrics (nil: none).
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.AntiEntropyInterval <= 0 {
		c.AntiEntropyInterval = time.Minute
	}
	if c.CheckUpdateInterval < 0 {
		c.CheckUpdateInterval = 0
	} else if c.CheckUpdateInterval == 0 {
		c.CheckUpdateInterval = 5 * time.Minute
	}
	if c.ReapInterval <= 0 {
		c.ReapInterval = 30 * time.Second
	}
	if c.DeregisterMin <= 0 {
		c.DeregisterMin = time.Minute
	}
	if c.SidecarMinPort == 0 && c.SidecarMaxPort == 0 {
		c.SidecarMinPort, c.SidecarMaxPort = 21000, 21255
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// State is the agent's owned services and checks. Its methods are safe
// for concurrent use.
type State struct {
	cfg     Config
	node    *catalogv1.Node
	logger  *slog.Logger
	sched   *checks.Scheduler
	metrics *metrics

	// opMu serializes changes of the owned set (API calls, reloads,
	// reaping), which also start and stop check runners.
	opMu sync.Mutex
	// mu guards everything below. It is never held while calling the
	// scheduler, whose runners call back into UpdateCheck.
	mu       sync.Mutex
	services map[string]*service
	checks   map[string]*check
	// version moves on every change an alias check may care about;
	// changed is closed (and replaced) when it does.
	version uint64
	changed chan struct{}

	syncMu  sync.Mutex // one sync at a time
	trigger chan struct{}
	full    chan struct{}
}

// service is one owned service instance (or the tombstone of one that
// must still be removed from the catalog).
type service struct {
	def    *config.Service // normalized; nil for tombstones
	wire   *catalogv1.Service
	source Source
	token  string
	// parent is set on sidecars: the ID of the service they belong to.
	parent string
	// rev moves on every change; the entry is in sync when syncedRev == rev.
	rev, syncedRev uint64
	deleted        bool
}

// check is one owned check (or a tombstone).
type check struct {
	def    *config.Check // nil for maintenance checks and tombstones
	hc     *catalogv1.HealthCheck
	source Source
	token  string
	// owner is the service whose definition listed the check (empty for
	// checks registered on their own).
	owner          string
	rev, syncedRev uint64
	deleted        bool
	// lastWrite is when status and output last reached the catalog.
	lastWrite time.Time
	// deferred is a pending write of an output-only change.
	deferred *time.Timer
	// criticalSince is when the check last turned critical (zero if not).
	criticalSince time.Time
}

// New returns an empty State; Run keeps the catalog in step with it.
func New(cfg Config) (*State, error) {
	cfg.setDefaults()
	if cfg.Node.GetNode() == "" || cfg.Node.GetAddress() == "" {
		return nil, errors.New("local state: node name and address are required")
	}
	if cfg.Catalog == nil {
		return nil, errors.New("local state: catalog is required")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &State{
		cfg:      cfg,
		node:     proto.Clone(cfg.Node).(*catalogv1.Node),
		logger:   cfg.Logger.With("component", "local"),
		metrics:  m,
		services: map[string]*service{},
		checks:   map[string]*check{},
		changed:  make(chan struct{}),
		version:  1, // 0 means "answer at once" to AliasHealth
		trigger:  make(chan struct{}, 1),
		full:     make(chan struct{}, 1),
	}
	s.sched = checks.NewScheduler(checks.SchedulerConfig{
		Notifier: s,
		Alias:    s,
		Stagger:  cfg.Stagger,
		Logger:   cfg.Logger.With("component", "checks"),
	})
	return s, nil
}

// NodeName is the node this agent is.
func (s *State) NodeName() string { return s.node.GetNode() }

// Node returns a copy of the node this agent registers.
func (s *State) Node() *catalogv1.Node { return proto.Clone(s.node).(*catalogv1.Node) }

// Services returns the owned service instances, sorted by ID.
func (s *State) Services() []*catalogv1.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*catalogv1.Service
	for _, id := range sortedKeys(s.services) {
		if svc := s.services[id]; !svc.deleted {
			out = append(out, proto.Clone(svc.wire).(*catalogv1.Service))
		}
	}
	return out
}

// Service returns one owned service instance and its content hash.
func (s *State) Service(id string) (*catalogv1.Service, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[id]
	if !ok || svc.deleted {
		return nil, "", ErrNotFound
	}
	return proto.Clone(svc.wire).(*catalogv1.Service), ContentHash(svc.wire), nil
}

// Checks returns the owned checks with their current state, sorted by ID.
func (s *State) Checks() []*catalogv1.HealthCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*catalogv1.HealthCheck
	for _, id := range sortedKeys(s.checks) {
		if c := s.checks[id]; !c.deleted {
			out = append(out, s.viewLocked(c))
		}
	}
	return out
}

// Check returns one owned check.
func (s *State) Check(id string) (*catalogv1.HealthCheck, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.checks[id]
	if !ok || c.deleted {
		return nil, ErrNotFound
	}
	return s.viewLocked(c), nil
}

// viewLocked is a check as the agent API shows it: with its service's
// name and tags, as Consul's /v1/agent/checks.
func (s *State) viewLocked(c *check) *catalogv1.HealthCheck {
	hc := proto.Clone(c.hc).(*catalogv1.HealthCheck)
	if svc, ok := s.services[hc.GetServiceId()]; ok && !svc.deleted {
		hc.ServiceName = svc.wire.GetService()
		hc.ServiceTags = append([]string(nil), svc.wire.GetTags()...)
	}
	return hc
}

// UpdateCheck records a check result (checks.Notifier). Only a change of
// status or output is news: a status change is written at once; an
// output-only change at most once per CheckUpdateInterval.
func (s *State) UpdateCheck(id string, status catalogv1.HealthStatus, output string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.checks[id]
	if !ok || c.deleted {
		return
	}
	now := time.Now()
	if status == checks.Critical {
		if c.criticalSince.IsZero() {
			c.criticalSince = now
		}
	} else {
		c.criticalSince = time.Time{}
	}
	if c.hc.GetStatus() == status && c.hc.GetOutput() == output {
		s.metrics.suppressed.Inc()
		return
	}
	s.bumpLocked()
	if c.hc.GetStatus() == status && s.cfg.CheckUpdateInterval > 0 {
		c.hc.Output = output
		if c.deferred != nil {
			return // the pending write will carry the newest output
		}
		wait := s.cfg.CheckUpdateInterval - now.Sub(c.lastWrite)
		if wait <= 0 {
			c.rev++
			s.kickLocked()
			return
		}
		c.deferred = time.AfterFunc(wait, func() { s.flushDeferred(id, c) })
		return
	}
	c.hc.Status, c.hc.Output = status, output
	if c.deferred != nil {
		c.deferred.Stop()
		c.deferred = nil
	}
	c.rev++
	s.kickLocked()
}

func (s *State) flushDeferred(id string, c *check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checks[id] != c || c.deferred == nil {
		return
	}
	c.deferred = nil
	c.rev++
	s.kickLocked()
}

// bumpLocked wakes alias checks watching this agent.
func (s *State) bumpLocked() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

// kickLocked asks the sync loop to push changes.
func (s *State) kickLocked() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// TriggerFullSync asks the sync loop for a full anti-entropy pass soon
// (after a membership re-join, say).
func (s *State) TriggerFullSync() {
	select {
	case s.full <- struct{}{}:
	default:
	}
}

// AliasHealth answers alias checks (checks.AliasSource): from this
// agent's own state for its node, from the catalog for other nodes.
func (s *State) AliasHealth(ctx context.Context, node, serviceID string, index uint64) ([]*catalogv1.HealthCheck, bool, uint64, error) {
	if node == "" || strings.EqualFold(node, s.node.GetNode()) {
		return s.localHealth(ctx, serviceID, index)
	}
	return s.remoteHealth(ctx, node, serviceID, index)
}

func (s *State) localHealth(ctx context.Context, serviceID string, index uint64) ([]*catalogv1.HealthCheck, bool, uint64, error) {
	for {
		s.mu.Lock()
		if index == 0 || s.version != index {
			var out []*catalogv1.HealthCheck
			for _, c := range s.checks {
				if !c.deleted {
					out = append(out, proto.Clone(c.hc).(*catalogv1.HealthCheck))
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].GetCheckId() < out[j].GetCheckId() })
			exists := serviceID == ""
			if svc, ok := s.services[serviceID]; ok && !svc.deleted {
				exists = true
			}
			v := s.version
			s.mu.Unlock()
			return out, exists, v, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false, 0, ctx.Err()
		case <-ch:
		}
	}
}
