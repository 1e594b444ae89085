package local

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// maxChecksPerWrite is the catalog's limit on checks in one Register.
const maxChecksPerWrite = 64

// Retry bounds of a failed sync.
const (
	minRetry = 500 * time.Millisecond
	maxRetry = 30 * time.Second
)

// Run keeps the catalog in step with the state until ctx ends: changes are
// pushed as they happen, a full anti-entropy pass runs at start and every
// AntiEntropyInterval (plus jitter), failures are retried with backoff,
// and services whose check stayed critical too long are deregistered.
// It stops the checks when it returns.
func (s *State) Run(ctx context.Context) {
	defer s.sched.Stop()
	ae := time.NewTimer(0)
	defer ae.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	reap := time.NewTicker(s.cfg.ReapInterval)
	defer reap.Stop()

	backoff := time.Duration(0)
	pendingFull := false
	for {
		full, retrying := false, false
		select {
		case <-ctx.Done():
			return
		case <-reap.C:
			s.reap()
			continue
		case <-ae.C:
			full = true
		case <-s.full:
			full = true
		case <-s.trigger:
		case <-retry.C:
			retrying = true
		}
		if backoff > 0 && !retrying {
			// A retry is scheduled; it carries whatever this asked for.
			pendingFull = pendingFull || full
			continue
		}
		var err error
		if full || pendingFull {
			err = s.SyncFull(ctx)
		} else {
			err = s.SyncChanges(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.metrics.syncErrors.Inc()
			pendingFull = pendingFull || full
			backoff = min(max(2*backoff, minRetry), maxRetry)
			s.logger.Warn("syncing with the catalog failed; will retry", "error", err, "retry_in", backoff)
			retry.Reset(backoff)
			continue
		}
		if full || pendingFull {
			ae.Reset(s.cfg.AntiEntropyInterval + rand.N(s.cfg.AntiEntropyInterval/8+1))
		}
		backoff, pendingFull = 0, false
	}
}

func (s *State) rpcCtx(ctx context.Context, tok string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
	return token.With(ctx, tok), cancel
}

// pending is one write the sync will make.
type pendingService struct {
	id     string
	entry  *service
	rev    uint64
	wire   *catalogv1.Service
	token  string
	checks []pendingCheck
}

type pendingCheck struct {
	id    string
	entry *check
	rev   uint64
	hc    *catalogv1.HealthCheck
	token string
}

// SyncChanges pushes what changed since the last sync: registrations of
// changed services and checks, deregistrations of removed ones.
func (s *State) SyncChanges(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.metrics.syncs.WithLabelValues("changes").Inc()
	return s.syncChanges(ctx)
}

// checksOfLocked maps each of the given services to its live checks' IDs,
// sorted, in one pass over the checks.
func (s *State) checksOfLocked(serviceIDs []string) map[string][]string {
	out := make(map[string][]string, len(serviceIDs))
	for _, id := range serviceIDs {
		out[id] = nil
	}
	for cid, c := range s.checks {
		if sid := c.hc.GetServiceId(); !c.deleted && sid != "" {
			if list, ok := out[sid]; ok {
				out[sid] = append(list, cid)
			}
		}
	}
	for _, list := range out {
		sort.Strings(list)
	}
	return out
}

func (s *State) syncChanges(ctx context.Context) error {
	var (
		deregSvcs   []pendingService
		deregChecks []pendingCheck
		regSvcs     []pendingService
		regChecks   = map[string][]pendingCheck{} // by service ID ("" for the node) and token
	)
	s.mu.Lock()
	// Only what changed is visited in order: with thousands of checks, a
	// sync after one result must not sort them all.
	changedSvcs := changedKeys(s.services, func(e *service) bool { return e.rev != e.syncedRev })
	var svcChecks map[string][]string // checks of the changed services
	for _, id := range changedSvcs {
		e := s.services[id]
		p := pendingService{id: id, entry: e, rev: e.rev, token: e.token}
		if e.deleted {
			deregSvcs = append(deregSvcs, p)
			continue
		}
		if svcChecks == nil {
			svcChecks = s.checksOfLocked(changedSvcs)
		}
		p.wire = proto.Clone(e.wire).(*catalogv1.Service)
		for _, cid := range svcChecks[id] {
			p.checks = append(p.checks, s.pendingCheckLocked(cid, s.checks[cid]))
		}
		regSvcs = append(regSvcs, p)
	}
	for _, id := range changedKeys(s.checks, func(c *check) bool { return c.rev != c.syncedRev }) {
		c := s.checks[id]
		sid := c.hc.GetServiceId()
		svc := s.services[sid]
		if sid != "" && (svc == nil || svc.deleted) {
			continue // goes with its service's deregistration
		}
		if c.deleted {
			deregChecks = append(deregChecks, s.pendingCheckLocked(id, c))
			continue
		}
		if sid != "" && svc.rev != svc.syncedRev {
			continue // goes with its service's registration
		}
		pc := s.pendingCheckLocked(id, c)
		key := sid + "\x00" + pc.token
		regChecks[key] = append(regChecks[key], pc)
	}
	s.mu.Unlock()

	var errs []error
	for _, p := range deregSvcs {
		if err := s.deregister(ctx, p.token, &catalogv1.DeregisterRequest{Node: s.node.GetNode(), ServiceId: p.id}); err != nil {
			errs = append(errs, fmt.Errorf("deregister service %q: %w", p.id, err))
			continue
		}
		s.mu.Lock()
		if s.services[p.id] == p.entry {
			delete(s.services, p.id)
		}
		for id, c := range s.checks {
			if c.deleted && c.hc.GetServiceId() == p.id {
				delete(s.checks, id)
			}
		}
		s.mu.Unlock()
	}
	for _, p := range deregChecks {
		if err := s.deregister(ctx, p.token, &catalogv1.DeregisterRequest{Node: s.node.GetNode(), CheckId: p.id}); err != nil {
			errs = append(errs, fmt.Errorf("deregister check %q: %w", p.id, err))
			continue
		}
		s.mu.Lock()
		if s.checks[p.id] == p.entry {
			delete(s.checks, p.id)
		}
		s.mu.Unlock()
	}
	for _, p := range regSvcs {
		first := p.checks[:min(len(p.checks), maxChecksPerWrite)]
		err := s.register(ctx, p.token, p.wire, first)
		if err == nil {
			err = s.registerChecks(ctx, p.token, p.checks[len(first):])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("register service %q: %w", p.id, err))
			continue
		}
		s.mu.Lock()
		if s.services[p.id] == p.entry {
			p.entry.syncedRev = p.rev
		}
		s.markChecksLocked(p.checks)
		s.mu.Unlock()
	}
	for _, key := range sortedKeys(regChecks) {
		pcs := regChecks[key]
		if err := s.registerChecks(ctx, pcs[0].token, pcs); err != nil {
			errs = append(errs, fmt.Errorf("register checks %q...: %w", pcs[0].id, err))
			continue
		}
		s.mu.Lock()
		s.markChecksLocked(pcs)
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *State) pendingCheckLocked(id string, c *check) pendingCheck {
	tok := c.token
	if tok == "" {
		if svc := s.services[c.hc.GetServiceId()]; svc != nil {
			tok = svc.token
		}
	}
	return pendingCheck{id: id, entry: c, rev: c.rev, hc: proto.Clone(c.hc).(*catalogv1.HealthCheck), token: tok}
}

func (s *State) markChecksLocked(pcs []pendingCheck) {
	now := time.Now()
	for _, pc := range pcs {
		if s.checks[pc.id] == pc.entry {
			pc.entry.syncedRev = pc.rev
			pc.entry.lastWrite = now
		}
	}
}

func (s *State) registerChecks(ctx context.Context, tok string, pcs []pendingCheck) error {
	for chunk := range slices.Chunk(pcs, maxChecksPerWrite) {
		if err := s.register(ctx, tok, nil, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (s *State) register(ctx context.Context, tok string, svc *catalogv1.Service, pcs []pendingCheck) error {
	req := &catalogv1.RegisterRequest{Node: s.node, Service: svc, SkipNodeUpdate: true}
	for _, pc := range pcs {
		req.Checks = append(req.Checks, pc.hc)
	}
	ctx, cancel := s.rpcCtx(ctx, tok)
	defer cancel()
	s.metrics.writes.WithLabelValues("register").Inc()
	_, err := s.cfg.Catalog.Register(ctx, req)
	return err
}

func (s *State) deregister(ctx context.Context, tok string, req *catalogv1.DeregisterRequest) error {
	ctx, cancel := s.rpcCtx(ctx, tok)
	defer cancel()
	s.metrics.writes.WithLabelValues("deregister").Inc()
	_, err := s.cfg.Catalog.Deregister(ctx, req)
	return err
}

// SyncFull compares the catalog's view of this node with the state, marks
// every difference for sync (including what the catalog holds and the
// agent does not own), then pushes the changes.
func (s *State) SyncFull(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.metrics.syncs.WithLabelValues("full").Inc()

	rctx, cancel := s.rpcCtx(ctx, "")
	defer cancel()
	ns, err := s.cfg.Catalog.NodeServices(rctx, &catalogv1.NodeServicesRequest{Node: s.node.GetNode()})
	if err != nil {
		return fmt.Errorf("read the node's services: %w", err)
	}
	nc, err := s.cfg.Catalog.NodeChecks(rctx, &catalogv1.NodeChecksRequest{Node: s.node.GetNode()})
	if err != nil {
		return fmt.Errorf("read the node's checks: %w", err)
	}
	remoteSvcs := map[string]*catalogv1.Service{}
	for _, svc := range ns.GetServices() {
		remoteSvcs[svc.GetId()] = svc
	}
	remoteChecks := map[string]*catalogv1.HealthCheck{}
	for _, c := range nc.GetChecks() {
		remoteChecks[c.GetCheckId()] = c
	}

	s.mu.Lock()
	for id, e := range s.services {
		if e.deleted {
			continue
		}
		r := remoteSvcs[id]
		if r != nil && e.wire.GetEnableTagOverride() && !slices.Equal(r.GetTags(), e.wire.GetTags()) {
			// Tags edited in the catalog win (Consul's enable_tag_override).
			e.wire.Tags = slices.Clone(r.GetTags())
		}
		if r == nil || !sameService(e.wire, r) {
			e.rev++
		}
	}
	for id, r := range remoteSvcs {
		if id == consulServiceID {
			continue
		}
		if e, ok := s.services[id]; !ok {
			s.services[id] = &service{wire: r, deleted: true, rev: 1}
		} else if e.deleted && e.rev == e.syncedRev {
			e.rev++
		}
	}
	for id, c := range s.checks {
		if c.deleted {
			continue
		}
		if r := remoteChecks[id]; r == nil || !sameCheck(c.hc, r, c.deferred != nil) {
			c.rev++
		}
	}
	for id, r := range remoteChecks {
		if id == serfCheckID {
			continue
		}
		if svc := s.services[r.GetServiceId()]; r.GetServiceId() != "" && svc != nil && svc.deleted {
			continue // removed with its service
		}
		if c, ok := s.checks[id]; !ok {
			s.checks[id] = &check{hc: r, deleted: true, rev: 1}
		} else if c.deleted && c.rev == c.syncedRev {
			c.rev++
		}
	}
	s.mu.Unlock()
	return s.syncChanges(ctx)
}

// remoteHealth answers an alias of another node from the catalog, as a
// blocking query when index is set.
func (s *State) remoteHealth(ctx context.Context, node, serviceID string, index uint64) ([]*catalogv1.HealthCheck, bool, uint64, error) {
	opts := &queryv1.ReadOptions{MinIndex: index}
	if index > 0 {
		opts.MaxWait = durationpb.New(5 * time.Minute)
	}
	resp, err := s.cfg.Catalog.NodeChecks(ctx, &catalogv1.NodeChecksRequest{Options: opts, Node: node})
	if err != nil {
		return nil, false, 0, err
	}
	exists := serviceID == ""
	if !exists {
		rctx, cancel := s.rpcCtx(ctx, "")
		defer cancel()
		ns, err := s.cfg.Catalog.NodeServices(rctx, &catalogv1.NodeServicesRequest{Node: node})
		if err != nil {
			return nil, false, 0, err
		}
		for _, svc := range ns.GetServices() {
			if svc.GetId() == serviceID {
				exists = true
			}
		}
	}
	return resp.GetChecks(), exists, max(resp.GetMeta().GetIndex(), 1), nil
}

// reap deregisters services that have a check critical for longer than its
// deregister_critical_service_after.
func (s *State) reap() {
	now := time.Now()
	var victims []string
	s.mu.Lock()
	for _, id := range sortedKeys(s.checks) {
		c := s.checks[id]
		if c.deleted || c.def == nil || c.def.DeregisterCriticalServiceAfter <= 0 || c.hc.GetServiceId() == "" || c.criticalSince.IsZero() {
			continue
		}
		limit := max(c.def.DeregisterCriticalServiceAfter, s.cfg.DeregisterMin)
		if now.Sub(c.criticalSince) > limit && !slices.Contains(victims, c.hc.GetServiceId()) {
			victims = append(victims, c.hc.GetServiceId())
			s.logger.Info("check has been critical for too long; deregistering its service",
				"check", id, "service", c.hc.GetServiceId(), "critical_for", now.Sub(c.criticalSince).Round(time.Second))
		}
	}
	s.mu.Unlock()
	for _, id := range victims {
		if err := s.RemoveService(id); err != nil && !errors.Is(err, ErrNotFound) {
			s.logger.Warn("reaping service", "service", id, "error", err)
		}
	}
}

// Deregister removes everything the agent owns from the catalog now
// (services with their checks, then node checks), for a graceful leave
// that has no membership to do it. It stops the checks first.
func (s *State) Deregister(ctx context.Context) error {
	s.sched.Stop()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	var svcs, nodeChecks []string
	tokens := map[string]string{}
	for id, e := range s.services {
		if !e.deleted {
			svcs = append(svcs, id)
			tokens[id] = e.token
		}
	}
	for id, c := range s.checks {
		if !c.deleted && c.hc.GetServiceId() == "" {
			nodeChecks = append(nodeChecks, id)
			tokens["check:"+id] = c.token
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range svcs {
		if err := s.deregister(ctx, tokens[id], &catalogv1.DeregisterRequest{Node: s.node.GetNode(), ServiceId: id}); err != nil {
			errs = append(errs, fmt.Errorf("deregister service %q: %w", id, err))
		}
	}
	for _, id := range nodeChecks {
		if err := s.deregister(ctx, tokens["check:"+id], &catalogv1.DeregisterRequest{Node: s.node.GetNode(), CheckId: id}); err != nil {
			errs = append(errs, fmt.Errorf("deregister check %q: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Stop stops every check runner.
func (s *State) Stop() { s.sched.Stop() }
