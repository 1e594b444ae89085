package local

import (
	"errors"
	"fmt"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/checks"
	"github.com/beaconmesh/beacon/services/health/config"
	"google.golang.org/protobuf/proto"
)

// Maintenance-mode checks, as Consul names them.
const (
	NodeMaintenanceID        = "_node_maintenance"
	ServiceMaintenancePrefix = "_service_maintenance:"

	defaultNodeMaintReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
	defaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
)

// AddOptions qualify AddService and AddCheck.
type AddOptions struct {
	Source Source
	// Token is used for this registration's catalog writes.
	Token string
	// ReplaceExistingChecks removes the service's checks that the new
	// definition does not have (Consul's ?replace-existing-checks).
	ReplaceExistingChecks bool
}

// runnerOps are the scheduler calls a change needs, made once the state
// lock is released.
type runnerOps struct {
	add    []config.Check
	remove []string
	// services are the IDs of removed services.
	services []string
}

func (s *State) apply(ops runnerOps) {
	for _, id := range ops.remove {
		s.sched.Remove(id)
		s.unpersist("checks", id)
	}
	for _, id := range ops.services {
		s.unpersist("services", id)
		s.unpersist("maintenance", ServiceMaintenancePrefix+id)
	}
	for _, c := range ops.add {
		if err := s.sched.Add(c); err != nil {
			s.logger.Warn("starting check", "check", c.ID, "error", err)
		}
	}
}

// AddService adds or replaces a service instance (normalized) with its
// checks and, when it has a connect.sidecar_service, its sidecar. Checks
// that keep their ID keep their status, and their runner when their
// definition is unchanged.
func (s *State) AddService(def *config.Service, opts AddOptions) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	return s.addService(def, opts)
}

func (s *State) addService(def *config.Service, opts AddOptions) error {
	def = def.Clone()
	if err := s.allowScripts(def); err != nil {
		return err
	}
	var ops runnerOps
	s.mu.Lock()
	var sidecar *config.Service
	sidecarID := def.ID + "-sidecar-proxy"
	if def.Connect != nil && def.Connect.SidecarService != nil {
		port := 0
		if def.Connect.SidecarService.Port == 0 {
			p, err := s.sidecarPortLocked(sidecarID)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			port = p
		}
		sc, err := config.Sidecar(def, port)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: connect.sidecar_service: %w", ErrInvalid, err)
		}
		sidecar = sc
	}
	s.putServiceLocked(def, opts, "", &ops)
	if sidecar != nil {
		// A sidecar is derived whole from its parent: its old checks go.
		s.putServiceLocked(sidecar, AddOptions{Source: opts.Source, Token: sidecar.Token, ReplaceExistingChecks: true}, def.ID, &ops)
	} else if old := s.services[sidecarID]; old != nil && !old.deleted && old.parent == def.ID {
		s.removeServiceLocked(sidecarID, &ops)
	}
	s.bumpLocked()
	s.kickLocked()
	s.mu.Unlock()
	s.apply(ops)
	switch opts.Source {
	case SourceAPI:
		s.persist("services", def.ID, persistedService{Token: opts.Token, Service: *def})
	case SourceFile:
		s.unpersist("services", def.ID) // a file's definition wins
	}
	return nil
}

func (s *State) allowScripts(def *config.Service) error {
	if s.cfg.EnableScriptChecks {
		return nil
	}
	all := append(append([]config.Check(nil), def.Check...), def.Checks...)
	if sc := def.Connect; sc != nil && sc.SidecarService != nil {
		all = append(append(all, sc.SidecarService.Check...), sc.SidecarService.Checks...)
	}
	for _, c := range all {
		if c.Type() == config.TypeScript {
			return fmt.Errorf("check %q: %w", c.ID, ErrScriptsDisabled)
		}
	}
	return nil
}

// sidecarPortLocked picks the sidecar's port: the one it already has, or
// the lowest port of the range no owned service uses.
func (s *State) sidecarPortLocked(sidecarID string) (int, error) {
	lo, hi := s.cfg.SidecarMinPort, s.cfg.SidecarMaxPort
	if e := s.services[sidecarID]; e != nil && !e.deleted && e.def.Port >= lo && e.def.Port <= hi {
		return e.def.Port, nil
	}
	used := map[int]bool{}
	for id, e := range s.services {
		if !e.deleted && id != sidecarID {
			used[e.def.Port] = true
		}
	}
	for p := lo; p <= hi; p++ {
		if !used[p] {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w %d-%d", ErrNoSidecarPort, lo, hi)
}

func (s *State) putServiceLocked(def *config.Service, opts AddOptions, parent string, ops *runnerOps) {
	wire := ToWire(def)
	addDefaultTaggedAddresses(wire)
	e := &service{def: def, wire: wire, source: opts.Source, token: opts.Token, parent: parent, rev: 1}
	old := s.services[def.ID]
	if old != nil {
		e.rev, e.syncedRev = old.rev, old.syncedRev
		if old.deleted || !proto.Equal(old.wire, wire) || old.token != opts.Token {
			e.rev++
		}
	}
	s.services[def.ID] = e

	keep := map[string]bool{}
	for i := range def.Checks {
		c := &def.Checks[i]
		keep[c.ID] = true
		s.putCheckLocked(c, opts.Source, "", def.ID, ops)
	}
	for id, c := range s.checks {
		if c.deleted || c.hc.GetServiceId() != def.ID || keep[id] || c.source == SourceMaintenance {
			continue
		}
		// A file's service owns its checks: a reload drops the ones it no
		// longer lists. Through the API, only if asked.
		if opts.ReplaceExistingChecks || (opts.Source == SourceFile && c.owner == def.ID) {
			s.removeCheckLocked(id, ops)
		}
	}
}

func (s *State) putCheckLocked(def *config.Check, source Source, token, owner string, ops *runnerOps) {
	hc := &catalogv1.HealthCheck{
		Node:       s.node.GetNode(),
		CheckId:    def.ID,
		Name:       def.Name,
		Notes:      def.Notes,
		ServiceId:  def.ServiceID,
		Status:     checks.ParseStatus(def.Status),
		Type:       def.Type(),
		Definition: DefinitionToWire(def),
	}
	e := &check{def: def, hc: hc, source: source, token: token, owner: owner, rev: 1}
	old := s.checks[def.ID]
	switch {
	case old != nil && !old.deleted:
		hc.Status, hc.Output = old.hc.GetStatus(), old.hc.GetOutput()
		e.rev, e.syncedRev = old.rev, old.syncedRev
		e.lastWrite, e.criticalSince = old.lastWrite, old.criticalSince
		if old.deferred != nil {
			old.deferred.Stop()
			e.rev++ // the waiting output goes out with this write
		}
		if !proto.Equal(old.hc, hc) || old.token != token {
			e.rev++
		}
		if old.def == nil || !config.SameCheck(old.def, def) {
			ops.add = append(ops.add, *def)
		}
	default:
		if old != nil {
			e.rev, e.syncedRev = old.rev+1, old.syncedRev
		}
		if hc.Status == checks.Critical {
			e.criticalSince = time.Now()
		}
		ops.add = append(ops.add, *def)
	}
	s.checks[def.ID] = e
}

func (s *State) removeCheckLocked(id string, ops *runnerOps) {
	c := s.checks[id]
	if c == nil || c.deleted {
		return
	}
	if c.deferred != nil {
		c.deferred.Stop()
	}
	s.checks[id] = &check{hc: c.hc, deleted: true, token: c.token, rev: c.rev + 1, syncedRev: c.syncedRev}
	if c.def != nil {
		ops.remove = append(ops.remove, id)
	}
}

func (s *State) removeServiceLocked(id string, ops *runnerOps) {
	e := s.services[id]
	if e == nil || e.deleted {
		return
	}
	s.services[id] = &service{wire: e.wire, deleted: true, token: e.token, rev: e.rev + 1, syncedRev: e.syncedRev}
	ops.services = append(ops.services, id)
	for cid, c := range s.checks {
		if c.hc.GetServiceId() == id {
			s.removeCheckLocked(cid, ops)
		}
	}
	if sc := s.services[id+"-sidecar-proxy"]; sc != nil && sc.parent == id {
		s.removeServiceLocked(id+"-sidecar-proxy", ops)
	}
}

// RemoveService removes an owned service instance with its checks and its
// sidecar.
func (s *State) RemoveService(id string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var ops runnerOps
	s.mu.Lock()
	if e := s.services[id]; e == nil || e.deleted {
		s.mu.Unlock()
		return fmt.Errorf("service %q: %w", id, ErrNotFound)
	}
	s.removeServiceLocked(id, &ops)
	s.bumpLocked()
	s.kickLocked()
	s.mu.Unlock()
	s.apply(ops)
	return nil
}

// AddCheck adds or replaces a check (normalized with NormalizeNodeCheck);
// when it names a service, that service must be owned.
func (s *State) AddCheck(def *config.Check, opts AddOptions) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	return s.addCheck(def, opts)
}

func (s *State) addCheck(def *config.Check, opts AddOptions) error {
	def = def.Clone()
	if def.Type() == config.TypeScript && !s.cfg.EnableScriptChecks {
		return fmt.Errorf("check %q: %w", def.ID, ErrScriptsDisabled)
	}
	var ops runnerOps
	s.mu.Lock()
	if def.ServiceID != "" {
		if e := s.services[def.ServiceID]; e == nil || e.deleted {
			s.mu.Unlock()
			return fmt.Errorf("check %q: service %q: %w", def.ID, def.ServiceID, ErrNotFound)
		}
	}
	s.putCheckLocked(def, opts.Source, opts.Token, "", &ops)
	s.bumpLocked()
	s.kickLocked()
	s.mu.Unlock()
	s.apply(ops)
	switch opts.Source {
	case SourceAPI:
		s.persist("checks", def.ID, persistedCheck{Token: opts.Token, Check: *def})
	case SourceFile:
		s.unpersist("checks", def.ID)
	}
	return nil
}

// RemoveCheck removes an owned check; removing an unknown check is not an
// error, as in Consul.
func (s *State) RemoveCheck(id string) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var ops runnerOps
	s.mu.Lock()
	s.removeCheckLocked(id, &ops)
	s.bumpLocked()
	s.kickLocked()
	s.mu.Unlock()
	s.apply(ops)
}

// UpdateTTL sets the status and output of a TTL check and restarts its
// timer (Consul's check pass, warn, fail and update).
func (s *State) UpdateTTL(id string, status catalogv1.HealthStatus, output string) error {
	switch status {
	case checks.Passing, checks.Warning, checks.Critical:
	default:
		return fmt.Errorf("%w: status must be passing, warning or critical", ErrInvalid)
	}
	s.mu.Lock()
	c := s.checks[id]
	if c == nil || c.deleted {
		s.mu.Unlock()
		return fmt.Errorf("check %q: %w", id, ErrNotFound)
	}
	if c.def == nil || c.def.Type() != config.TypeTTL {
		s.mu.Unlock()
		return fmt.Errorf("check %q: %w", id, ErrNotTTL)
	}
	s.mu.Unlock()
	err := s.sched.SetTTL(id, status, output)
	if errors.Is(err, checks.ErrUnknownCheck) {
		return fmt.Errorf("check %q: %w", id, ErrNotFound)
	}
	return err
}

// SetMaintenance puts the node (serviceID empty) or an owned service
// instance in or out of maintenance: a critical check that takes it out
// of DNS and of ?passing answers. Enabling twice keeps the first reason.
func (s *State) SetMaintenance(serviceID string, enable bool, reason, tok string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var ops runnerOps
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		s.apply(ops)
	}()
	id, name, notes := NodeMaintenanceID, "Node Maintenance Mode", defaultNodeMaintReason
	if serviceID != "" {
		if e := s.services[serviceID]; e == nil || e.deleted {
			return fmt.Errorf("service %q: %w", serviceID, ErrNotFound)
		}
		id, name, notes = ServiceMaintenancePrefix+serviceID, "Service Maintenance Mode", defaultServiceMaintReason
	}
	if reason != "" {
		notes = reason
	}
	old := s.checks[id]
	switch {
	case enable && old != nil && !old.deleted:
		return nil
	case enable:
		s.persist("maintenance", id, persistedMaintenance{Token: tok, ServiceID: serviceID, Reason: reason, Maintenance: true})
		e := &check{
			hc: &catalogv1.HealthCheck{
				Node: s.node.GetNode(), CheckId: id, Name: name, Notes: notes,
				Status: checks.Critical, ServiceId: serviceID, Type: "maintenance",
			},
			source: SourceMaintenance, token: tok, rev: 1,
		}
		if old != nil {
			e.rev, e.syncedRev = old.rev+1, old.syncedRev
		}
		s.checks[id] = e
	default:
		s.removeCheckLocked(id, &ops)
		s.unpersist("maintenance", id)
	}
	s.bumpLocked()
	s.kickLocked()
	return nil
}

// InMaintenance reports whether the node (serviceID empty) or a service is
// in maintenance mode.
func (s *State) InMaintenance(serviceID string) bool {
	id := NodeMaintenanceID
	if serviceID != "" {
		id = ServiceMaintenancePrefix + serviceID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.checks[id]
	return c != nil && !c.deleted
}
