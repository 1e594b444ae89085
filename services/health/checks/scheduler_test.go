package checks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/google/go-cmp/cmp"
)

type update struct {
	id     string
	status catalogv1.HealthStatus
	output string
	at     time.Time
}

// recorder is a Notifier that keeps every update.
type recorder struct {
	mu      sync.Mutex
	updates []update
}

func (r *recorder) UpdateCheck(id string, status catalogv1.HealthStatus, output string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, update{id, status, output, time.Now()})
}

func (r *recorder) all() []update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]update(nil), r.updates...)
}

func (r *recorder) last(id string) (update, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.updates) - 1; i >= 0; i-- {
		if r.updates[i].id == id {
			return r.updates[i], true
		}
	}
	return update{}, false
}

// waitFor polls until the check's last update has status, or fails.
func (r *recorder) waitFor(t *testing.T, id string, status catalogv1.HealthStatus) update {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u, ok := r.last(id); ok && u.status == status {
			return u
		}
		if time.Now().After(deadline) {
			u, _ := r.last(id)
			t.Fatalf("check %s: want %s, last update %+v", id, StatusName(status), u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestThreshold(t *testing.T) {
	P, W, C := Passing, Warning, Critical
	tests := []struct {
		name                  string
		success, warn, failed int
		in                    []catalogv1.HealthStatus
		// want is what is reported for each input; 0 means nothing.
		want []catalogv1.HealthStatus
	}{
		{"no thresholds", 0, 0, 0, []catalogv1.HealthStatus{P, C, P, W, C}, []catalogv1.HealthStatus{P, C, P, W, C}},
		{"first result applies at once", 3, 0, 3, []catalogv1.HealthStatus{C}, []catalogv1.HealthStatus{C}},
		{"critical after 3 failures", 0, 0, 3, []catalogv1.HealthStatus{P, C, C, C, C, P}, []catalogv1.HealthStatus{P, 0, 0, C, C, P}},
		{"passing after 2 successes", 2, 0, 0, []catalogv1.HealthStatus{C, P, P, P, C, P, C}, []catalogv1.HealthStatus{C, 0, P, P, C, 0, C}},
		{"warning before critical", 0, 2, 4, []catalogv1.HealthStatus{P, C, C, C, C}, []catalogv1.HealthStatus{P, 0, W, W, C}},
		{"a success resets failures", 0, 0, 2, []catalogv1.HealthStatus{P, C, P, C, C}, []catalogv1.HealthStatus{P, 0, P, 0, C}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newThreshold(tt.success, tt.warn, tt.failed)
			var got []catalogv1.HealthStatus
			for _, s := range tt.in {
				st, ok := th.next(s)
				if !ok {
					st = 0
				}
				got = append(got, st)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("reported (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeProber returns scripted results and records when it ran.
type fakeProber struct {
	mu      sync.Mutex
	results []catalogv1.HealthStatus
	runs    []time.Time
}

func (f *fakeProber) probe(context.Context) (catalogv1.HealthStatus, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, time.Now())
	st := Passing
	if len(f.results) > 0 {
		st, f.results = f.results[0], f.results[1:]
	}
	return st, "run " + fmt.Sprint(len(f.runs))
}

func TestFirstRunsSpreadOverInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewScheduler(SchedulerConfig{Notifier: rec})
		defer s.Stop()
		const n = 50
		interval := 10 * time.Second
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		probers := make([]*fakeProber, n)
		var wg sync.WaitGroup
		for i := range n {
			probers[i] = &fakeProber{}
			c := &config.Check{ID: fmt.Sprint(i), Interval: interval, Timeout: time.Second}
			wg.Go(func() { s.poll(ctx, c, probers[i], newThreshold(0, 0, 0)) })
		}
		time.Sleep(interval + time.Second)
		cancel()
		wg.Wait()
		seen := map[time.Duration]bool{}
		for i, p := range probers {
			if len(p.runs) < 1 {
				t.Fatalf("check %d never ran", i)
			}
			first := p.runs[0].Sub(start)
			if first >= interval {
				t.Errorf("check %d first ran after %s, not within its interval", i, first)
			}
			if len(p.runs) > 1 && p.runs[1].Sub(p.runs[0]) != interval {
				t.Errorf("check %d ran again after %s", i, p.runs[1].Sub(p.runs[0]))
			}
			seen[first] = true
		}
		if len(seen) < n/2 {
			t.Errorf("first runs at only %d distinct moments for %d checks", len(seen), n)
		}
	})
}

func TestPollAppliesThresholds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewScheduler(SchedulerConfig{Notifier: rec, Stagger: func(time.Duration) time.Duration { return 0 }})
		ctx, cancel := context.WithCancel(context.Background())
		p := &fakeProber{results: []catalogv1.HealthStatus{Passing, Critical, Critical, Passing, Passing}}
		c := &config.Check{ID: "c", Interval: time.Second, Timeout: time.Second}
		done := make(chan struct{})
		go func() { defer close(done); s.poll(ctx, c, p, newThreshold(2, 0, 2)) }()
		time.Sleep(4*time.Second + time.Millisecond)
		cancel()
		<-done
		var got []catalogv1.HealthStatus
		for _, u := range rec.all() {
			got = append(got, u.status)
		}
		// passing (first, at once), critical after two failures, passing
		// after two successes.
		want := []catalogv1.HealthStatus{Passing, Critical, Passing}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("reported (-want +got):\n%s", diff)
		}
	})
}

func TestTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewScheduler(SchedulerConfig{Notifier: rec})
		defer s.Stop()
		if err := s.Add(config.Check{ID: "ttl", TTL: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if err := s.SetTTL("ttl", Passing, "all good"); err != nil {
			t.Fatal(err)
		}
		// The update restarted the timer: nothing expires at the original 10 s.
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if u, _ := rec.last("ttl"); u.status != Passing {
			t.Fatalf("before expiry: %+v", u)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		u, _ := rec.last("ttl")
		if u.status != Critical || u.output != "TTL expired (last output before timeout follows): all good" {
			t.Fatalf("after expiry: %+v", u)
		}
		if err := s.SetTTL("nope", Passing, ""); err == nil {
			t.Error("SetTTL of an unknown check succeeded")
		}
		if err := s.Add(config.Check{ID: "tcp", TCP: "127.0.0.1:1", Interval: time.Hour, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTTL("tcp", Passing, ""); err == nil {
			t.Error("SetTTL of a TCP check succeeded")
		}
	})
}

func TestTTLExpiresWithoutUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewScheduler(SchedulerConfig{Notifier: rec})
		defer s.Stop()
		if err := s.Add(config.Check{ID: "ttl", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if u, _ := rec.last("ttl"); u.status != Critical || u.output != "TTL expired" {
			t.Fatalf("got %+v", u)
		}
		// A removed check reports nothing more.
		s.Remove("ttl")
		n := len(rec.all())
		time.Sleep(time.Minute)
		if len(rec.all()) != n {
			t.Fatal("a removed TTL check reported")
		}
	})
}

func TestSchedulerRunsAndReplacesChecks(t *testing.T) {
	var code atomic.Int32
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) }))
	defer srv.Close()
	rec := &recorder{}
	s := NewScheduler(SchedulerConfig{Notifier: rec, Stagger: func(time.Duration) time.Duration { return 0 }})
	defer s.Stop()
	c := config.Check{ID: "web", HTTP: srv.URL, Method: "GET", Interval: 20 * time.Millisecond, Timeout: time.Second}
	if err := s.Add(c); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "web", Passing)
	code.Store(500) // the server flaps
	rec.waitFor(t, "web", Critical)
	code.Store(200)
	rec.waitFor(t, "web", Passing)

	// Replacing the check stops the old runner before the new one starts.
	c.HTTP = srv.URL + "/v2"
	if err := s.Add(c); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u, _ := rec.last("web"); u.output == "HTTP GET "+srv.URL+"/v2: 200 OK Output: " {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replaced check never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Remove returns once the runner's goroutine has (TestTTLExpiresWithoutUpdates
	// shows, with a fake clock, that nothing arrives afterwards).
	s.Remove("web")
	if s.Running("web") {
		t.Fatal("still running after Remove")
	}
}

// fakeAlias serves AliasHealth from a settable list of checks.
type fakeAlias struct {
	mu      sync.Mutex
	checks  []*catalogv1.HealthCheck
	exists  bool
	index   uint64
	changed chan struct{}
}

func newFakeAlias() *fakeAlias {
	return &fakeAlias{index: 1, exists: true, changed: make(chan struct{})}
}

func (f *fakeAlias) set(checks ...*catalogv1.HealthCheck) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = checks
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeAlias) AliasHealth(ctx context.Context, node, serviceID string, index uint64) ([]*catalogv1.HealthCheck, bool, uint64, error) {
	for {
		f.mu.Lock()
		if index != f.index {
			defer f.mu.Unlock()
			return f.checks, f.exists, f.index, nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false, 0, ctx.Err()
		case <-ch:
		}
	}
}

func hc(id, svc string, st catalogv1.HealthStatus) *catalogv1.HealthCheck {
	return &catalogv1.HealthCheck{CheckId: id, Name: id, ServiceId: svc, Status: st, Output: id + " output"}
}

func TestAliasStatus(t *testing.T) {
	tests := []struct {
		name    string
		checks  []*catalogv1.HealthCheck
		service string
		exists  bool
		status  catalogv1.HealthStatus
		out     string
	}{
		{"no checks", nil, "web", true, Passing, "No checks found."},
		{"missing service", nil, "web", false, Critical, `Service "web" could not be found on node ""`},
		{"all passing", []*catalogv1.HealthCheck{hc("a", "web", Passing), hc("n", "", Passing)}, "web", true, Passing, "All checks passing."},
		{"other services ignored", []*catalogv1.HealthCheck{hc("a", "web", Passing), hc("b", "db", Critical)}, "web", true, Passing, "All checks passing."},
		{"warning", []*catalogv1.HealthCheck{hc("a", "web", Warning), hc("b", "web", Passing)}, "web", true, Warning, `Aliased check "a" failing: a output`},
		{"critical wins", []*catalogv1.HealthCheck{hc("a", "web", Warning), hc("b", "web", Critical)}, "web", true, Critical, `Aliased check "b" failing: b output`},
		{"node check counts", []*catalogv1.HealthCheck{hc("a", "web", Passing), hc("_node_maintenance", "", Critical)}, "web", true, Critical, `Aliased check "_node_maintenance" failing: _node_maintenance output`},
		{"node alias", []*catalogv1.HealthCheck{hc("a", "web", Critical), hc("serfHealth", "", Passing)}, "", true, Passing, "All checks passing."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := aliasStatus(tt.checks, "self", "", tt.service, tt.exists)
			if st != tt.status || out != tt.out {
				t.Fatalf("got %s %q, want %s %q", StatusName(st), out, StatusName(tt.status), tt.out)
			}
		})
	}
}

func TestAliasFollowsTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		src := newFakeAlias()
		s := NewScheduler(SchedulerConfig{Notifier: rec, Alias: src})
		defer s.Stop()
		if err := s.Add(config.Check{ID: "alias", AliasService: "web"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if u, _ := rec.last("alias"); u.status != Passing {
			t.Fatalf("no checks: %+v", u)
		}
		src.set(hc("web-check", "web", Critical))
		synctest.Wait()
		if u, _ := rec.last("alias"); u.status != Critical {
			t.Fatalf("target critical: %+v", u)
		}
		src.set(hc("web-check", "web", Passing))
		synctest.Wait()
		if u, _ := rec.last("alias"); u.status != Passing {
			t.Fatalf("target passing again: %+v", u)
		}
	})
}
