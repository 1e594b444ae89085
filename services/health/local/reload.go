package local

import (
	"errors"
	"fmt"

	"github.com/beaconmesh/beacon/services/health/config"
)

// ApplyFiles makes the file-defined services and checks those of defs (a
// reload): new ones are added, changed ones replaced, and ones no longer
// defined removed. Unchanged services and checks are left alone, so they
// keep their status and their runners. Everything is checked before
// anything changes: on error the running set is untouched.
func (s *State) ApplyFiles(defs *config.Definitions) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()

	newSvcs := map[string]bool{}
	var errs []error
	for i := range defs.Services {
		svc := &defs.Services[i]
		newSvcs[svc.ID] = true
		if err := s.allowScripts(svc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", svc.Source, err))
		}
	}
	s.mu.Lock()
	for i := range defs.Checks {
		c := &defs.Checks[i]
		if c.Type() == config.TypeScript && !s.cfg.EnableScriptChecks {
			errs = append(errs, fmt.Errorf("%s: check %q: %w", c.Source, c.ID, ErrScriptsDisabled))
		}
		if c.ServiceID == "" || newSvcs[c.ServiceID] {
			continue
		}
		if e := s.services[c.ServiceID]; e == nil || e.deleted || e.source == SourceFile {
			errs = append(errs, fmt.Errorf("%s: check %q: service %q: %w", c.Source, c.ID, c.ServiceID, ErrNotFound))
		}
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		return errors.Join(errs...)
	}

	var gone, goneChecks []string
	unchanged := map[string]bool{}
	for id, e := range s.services {
		if e.deleted || e.source != SourceFile || e.parent != "" {
			continue
		}
		if !newSvcs[id] {
			gone = append(gone, id)
		}
	}
	for i := range defs.Services {
		svc := &defs.Services[i]
		if e := s.services[svc.ID]; e != nil && !e.deleted && e.source == SourceFile && config.SameDefinition(e.def, svc) {
			unchanged[svc.ID] = true
		}
	}
	newChecks := map[string]*config.Check{}
	for i := range defs.Checks {
		newChecks[defs.Checks[i].ID] = &defs.Checks[i]
	}
	for id, c := range s.checks {
		if !c.deleted && c.source == SourceFile && c.owner == "" && newChecks[id] == nil {
			goneChecks = append(goneChecks, id)
		}
	}
	s.mu.Unlock()

	for _, id := range gone {
		var ops runnerOps
		s.mu.Lock()
		s.removeServiceLocked(id, &ops)
		s.bumpLocked()
		s.kickLocked()
		s.mu.Unlock()
		s.apply(ops)
	}
	for _, id := range goneChecks {
		var ops runnerOps
		s.mu.Lock()
		s.removeCheckLocked(id, &ops)
		s.bumpLocked()
		s.kickLocked()
		s.mu.Unlock()
		s.apply(ops)
	}
	for i := range defs.Services {
		svc := &defs.Services[i]
		if unchanged[svc.ID] {
			continue
		}
		if err := s.addService(svc, AddOptions{Source: SourceFile, Token: svc.Token}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", svc.Source, err))
		}
	}
	for _, c := range defs.Checks {
		s.mu.Lock()
		old := s.checks[c.ID]
		same := old != nil && !old.deleted && old.source == SourceFile && old.def != nil && config.SameCheck(old.def, &c)
		s.mu.Unlock()
		if same {
			continue
		}
		if err := s.addCheck(&c, AddOptions{Source: SourceFile}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Source, err))
		}
	}
	return errors.Join(errs...)
}
