package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/beaconmesh/beacon/services/health/config"
)

// What the agent API registers survives a restart, as in Consul: each
// service and check is a JSON file under the data dir (services/,
// checks/), written when it is registered and removed when it is
// deregistered. Files hold tokens, so they are private to the agent.

type persistedService struct {
	Token   string         `json:"token,omitempty"`
	Service config.Service `json:"service"`
}

type persistedCheck struct {
	Token string       `json:"token,omitempty"`
	Check config.Check `json:"check"`
}

type persistedMaintenance struct {
	Token       string `json:"token,omitempty"`
	ServiceID   string `json:"service_id,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Maintenance bool   `json:"maintenance"`
}

func fileKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16]) + ".json"
}

func (s *State) persistPath(kind, id string) string {
	return filepath.Join(s.cfg.DataDir, kind, fileKey(id))
}

func (s *State) persist(kind, id string, v any) {
	if s.cfg.DataDir == "" {
		return
	}
	if err := writeJSON(s.persistPath(kind, id), v); err != nil {
		s.logger.Warn("persisting a registration; it will not survive a restart", "id", id, "error", err)
	}
}

func (s *State) unpersist(kind, id string) {
	if s.cfg.DataDir == "" {
		return
	}
	if err := os.Remove(s.persistPath(kind, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("removing a persisted registration", "id", id, "error", err)
	}
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readDir[T any](dir string) ([]T, []error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []T
	var errs []error
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		out = append(out, v)
	}
	return out, errs
}

// LoadPersisted restores what the agent API registered before a restart.
// A service or check that the config files define as well is not
// restored: files win, as in Consul. Call it after the files are applied.
// Entries that cannot be restored are logged and skipped.
func (s *State) LoadPersisted() {
	if s.cfg.DataDir == "" {
		return
	}
	svcs, errs := readDir[persistedService](filepath.Join(s.cfg.DataDir, "services"))
	checks, cerrs := readDir[persistedCheck](filepath.Join(s.cfg.DataDir, "checks"))
	maint, merrs := readDir[persistedMaintenance](filepath.Join(s.cfg.DataDir, "maintenance"))
	for _, err := range append(append(errs, cerrs...), merrs...) {
		s.logger.Warn("reading a persisted registration", "error", err)
	}
	for _, p := range svcs {
		if s.definedByFile(p.Service.ID, true) {
			s.unpersist("services", p.Service.ID)
			continue
		}
		if err := s.AddService(&p.Service, AddOptions{Source: SourceAPI, Token: p.Token}); err != nil {
			s.logger.Warn("restoring a persisted service", "service", p.Service.ID, "error", err)
		}
	}
	for _, p := range checks {
		if s.definedByFile(p.Check.ID, false) {
			s.unpersist("checks", p.Check.ID)
			continue
		}
		if err := s.AddCheck(&p.Check, AddOptions{Source: SourceAPI, Token: p.Token}); err != nil {
			s.logger.Warn("restoring a persisted check", "check", p.Check.ID, "error", err)
		}
	}
	for _, p := range maint {
		if err := s.SetMaintenance(p.ServiceID, true, p.Reason, p.Token); err != nil {
			s.logger.Warn("restoring maintenance mode", "service", p.ServiceID, "error", err)
		}
	}
}

func (s *State) definedByFile(id string, service bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if service {
		e := s.services[id]
		return e != nil && !e.deleted && e.source == SourceFile
	}
	c := s.checks[id]
	return c != nil && !c.deleted && c.source == SourceFile
}
