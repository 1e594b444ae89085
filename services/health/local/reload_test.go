package local

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/checks"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/beaconmesh/beacon/services/health/internal/fakecatalog"
	"github.com/google/go-cmp/cmp"
)

func defs(t *testing.T, hcl string) *config.Definitions {
	t.Helper()
	d, err := config.ParseFile("files.hcl", []byte(hcl))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func serviceIDs(xs []*catalogv1.Service) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.GetId())
	}
	return out
}

func TestApplyFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		v1 := `
service { name = "web" port = 80 check { ttl = "1h" } }
service { name = "api" port = 81 check { id = "api-ttl" name = "api" ttl = "1h" } }
check { name = "disk" ttl = "1h" }
`
		if err := s.ApplyFiles(defs(t, v1)); err != nil {
			t.Fatal(err)
		}
		// An API registration lives through reloads.
		mustAdd(t, s, svc(t, `service { name = "manual" }`))
		if err := s.UpdateTTL("service:web", checks.Passing, "web is fine"); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTTL("api-ttl", checks.Passing, "api is fine"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		writes := cat.Writes()

		// The same files again: nothing changes, nothing is written.
		if err := s.ApplyFiles(defs(t, v1)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if cat.Writes() != writes {
			t.Fatalf("an identical reload made %d writes", cat.Writes()-writes)
		}

		// web unchanged, api changed, disk removed, db and mem added.
		v2 := `
service { name = "web" port = 80 check { ttl = "1h" } }
service { name = "api" port = 82 check { id = "api-ttl" name = "api" ttl = "1h" } }
service { name = "db" port = 5432 }
check { name = "mem" ttl = "1h" }
`
		if err := s.ApplyFiles(defs(t, v2)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"api", "db", "manual", "web"}, cat.ServiceIDs(node)); diff != "" {
			t.Fatalf("services (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"api-ttl", "mem", "service:web"}, cat.CheckIDs(node)); diff != "" {
			t.Fatalf("checks (-want +got):\n%s", diff)
		}
		if p := cat.Service(node, "api").GetPort(); p != 82 {
			t.Fatalf("api port %d, want 82", p)
		}
		// Unchanged web, and api's unchanged check, keep their state.
		for id, out := range map[string]string{"service:web": "web is fine", "api-ttl": "api is fine"} {
			if c, err := s.Check(id); err != nil || c.GetStatus() != checks.Passing || c.GetOutput() != out {
				t.Fatalf("%s after reload: %v %v", id, c, err)
			}
		}

		// api gone from the files.
		if err := s.ApplyFiles(defs(t, `service { name = "web" port = 80 check { ttl = "1h" } }`)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"manual", "web"}, cat.ServiceIDs(node)); diff != "" {
			t.Fatalf("services (-want +got):\n%s", diff)
		}
	})
}

func TestApplyFilesRefusesAndChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		if err := s.ApplyFiles(defs(t, `service { name = "web" check { ttl = "1h" } }`)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		before := serviceIDs(s.Services())

		tests := []struct {
			name string
			hcl  string
			want error
		}{
			{"script check without the flag", `service { name = "db" check { args = ["true"] interval = "10s" } }`, ErrScriptsDisabled},
			{"check of an unknown service", `check { name = "c" service_id = "nope" ttl = "1h" }`, ErrNotFound},
		}
		for _, tt := range tests {
			err := s.ApplyFiles(defs(t, tt.hcl))
			if !errors.Is(err, tt.want) {
				t.Fatalf("%s: got %v, want %v", tt.name, err, tt.want)
			}
			synctest.Wait()
			after := serviceIDs(s.Services())
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("%s changed the running set (-before +after):\n%s", tt.name, diff)
			}
			if diff := cmp.Diff([]string{"web"}, cat.ServiceIDs(node)); diff != "" {
				t.Fatalf("%s changed the catalog (-want +got):\n%s", tt.name, diff)
			}
		}
	})
}

func TestAPIRegistrationsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s := start(t, fakecatalog.Client{C: fakecatalog.New()}, func(c *Config) { c.DataDir = dir })
		if err := s.AddService(svc(t, `service { name = "api" connect { sidecar_service {} } }`), AddOptions{Source: SourceAPI, Token: "tok"}); err != nil {
			t.Fatal(err)
		}
		mustAdd(t, s, svc(t, `service { name = "gone" }`))
		if err := s.AddCheck(&config.Check{ID: "disk", Name: "disk", TTL: time.Hour, Status: config.StatusCritical}, AddOptions{Source: SourceAPI}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMaintenance("api", true, "moving racks", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveService("gone"); err != nil {
			t.Fatal(err)
		}
		// A file later defines "web"; a persisted "web" must not come back.
		mustAdd(t, s, svc(t, `service { name = "web" port = 1 }`))
	})
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, func(c *Config) { c.DataDir = dir })
		if err := s.ApplyFiles(defs(t, `service { name = "web" port = 2 }`)); err != nil {
			t.Fatal(err)
		}
		s.LoadPersisted()
		synctest.Wait()
		if diff := cmp.Diff([]string{"api", "api-sidecar-proxy", "web"}, serviceIDs(s.Services())); diff != "" {
			t.Fatalf("services after restart (-want +got):\n%s", diff)
		}
		if w, _, _ := s.Service("web"); w.GetPort() != 2 {
			t.Fatalf("the persisted web beat the file's: %v", w)
		}
		if _, err := s.Check("disk"); err != nil {
			t.Fatal("disk check not restored")
		}
		if c, err := s.Check("_service_maintenance:api"); err != nil || c.GetNotes() != "moving racks" {
			t.Fatalf("maintenance not restored: %v %v", c, err)
		}
		if !slices.Contains(cat.Tokens(), "tok") {
			t.Fatalf("api's token was not restored: %q", cat.Tokens())
		}
	})
}
