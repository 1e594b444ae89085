package authz

import (
	"context"
	"sync"
	"testing"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
)

func intention(src, dst string, allow bool) *connectv1.Intention {
	a := connectv1.IntentionAction_INTENTION_ACTION_DENY
	if allow {
		a = connectv1.IntentionAction_INTENTION_ACTION_ALLOW
	}
	return &connectv1.Intention{SourceName: src, DestinationName: dst, Action: a}
}

func TestPrecedence(t *testing.T) {
	for _, tt := range []struct {
		src, dst string
		want     int
	}{
		{"web", "db", 9},
		{"*", "db", 8},
		{"web", "*", 6},
		{"*", "*", 5},
	} {
		if got := Precedence(tt.src, tt.dst); got != tt.want {
			t.Errorf("Precedence(%q, %q) = %d, want %d", tt.src, tt.dst, got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name         string
		intentions   []*connectv1.Intention
		source       string
		defaultAllow bool
		want         bool
		reason       string
	}{
		{"no intention, default allow", nil, "web", true, true, "Default behavior configured by ACLs"},
		{"no intention, default deny", nil, "web", false, false, "Default behavior configured by ACLs"},
		{"exact allow over default deny", []*connectv1.Intention{intention("web", "db", true)}, "web", false, true, "Matched intention: web => db (allow)"},
		{"exact deny over default allow", []*connectv1.Intention{intention("web", "db", false)}, "web", true, false, "Matched intention: web => db (deny)"},
		{"exact beats wildcard source", []*connectv1.Intention{intention("*", "db", false), intention("web", "db", true)}, "web", false, true, "Matched intention: web => db (allow)"},
		{"wildcard source applies to others", []*connectv1.Intention{intention("*", "db", false), intention("web", "db", true)}, "api", true, false, "Matched intention: * => db (deny)"},
		{"*→exact beats exact→*", []*connectv1.Intention{intention("web", "*", false), intention("*", "db", true)}, "web", false, true, "Matched intention: * => db (allow)"},
		{"exact→* beats *→*", []*connectv1.Intention{intention("*", "*", false), intention("web", "*", true)}, "web", false, true, "Matched intention: web => * (allow)"},
		{"*→* applies last", []*connectv1.Intention{intention("*", "*", false)}, "web", true, false, "Matched intention: * => * (deny)"},
		{"another source's intention does not apply", []*connectv1.Intention{intention("api", "db", false)}, "web", true, true, "Default behavior configured by ACLs"},
		{"another destination's intention does not apply", []*connectv1.Intention{intention("web", "cache", false)}, "web", true, true, "Default behavior configured by ACLs"},
		{"names compare case-insensitively", []*connectv1.Intention{intention("WEB", "DB", false)}, "web", true, false, "Matched intention: WEB => DB (deny)"},
		{"deny wins a tie", []*connectv1.Intention{intention("web", "db", true), intention("Web", "db", false)}, "web", true, false, "Matched intention: Web => db (deny)"},
		{"unknown action denies", []*connectv1.Intention{{SourceName: "web", DestinationName: "db"}}, "web", true, false, "Matched intention: web => db (deny)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.intentions, tt.source, "db", tt.defaultAllow)
			if got.Allowed != tt.want || got.Reason != tt.reason {
				t.Errorf("Decide = %+v, want allowed=%v reason %q", got, tt.want, tt.reason)
			}
		})
	}
}

// fakeSource answers blocking MatchIntentions from a list of answers
// that the test replaces; a query blocks until the index passes min_index.
type fakeSource struct {
	mu      sync.Mutex
	index   uint64
	answer  []*connectv1.Intention
	allow   bool
	changed chan struct{}
	calls   []*connectv1.MatchIntentionsRequest
}

func newFakeSource() *fakeSource { return &fakeSource{index: 1, changed: make(chan struct{})} }

func (f *fakeSource) set(allow bool, in ...*connectv1.Intention) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.answer, f.allow = in, allow
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeSource) MatchIntentions(ctx context.Context, req *connectv1.MatchIntentionsRequest, _ ...grpc.CallOption) (*connectv1.MatchIntentionsResponse, error) {
	for {
		f.mu.Lock()
		f.calls = append(f.calls, req)
		idx, ch := f.index, f.changed
		if idx > req.GetOptions().GetMinIndex() {
			resp := &connectv1.MatchIntentionsResponse{
				Meta:         &queryv1.ReadMeta{Index: idx},
				Matches:      map[string]*connectv1.IntentionList{"DB": {Intentions: f.answer}},
				DefaultAllow: f.allow,
			}
			f.mu.Unlock()
			return resp, nil
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// TestCacheFollowsChanges checks that the cache fails closed before its
// first answer and applies each change as soon as the source has it.
func TestCacheFollowsChanges(t *testing.T) {
	src := newFakeSource()
	c, err := New(Config{Source: src, Service: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Authorize("web"); d.Allowed {
		t.Fatalf("before the first answer: %+v, want denied", d)
	}
	src.set(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		allow bool
		in    []*connectv1.Intention
		want  bool
	}{
		{true, []*connectv1.Intention{intention("web", "db", false)}, false},
		{true, nil, true},
		{false, nil, false},
		{false, []*connectv1.Intention{intention("*", "db", true)}, true},
	}
	for i, s := range steps {
		src.set(s.allow, s.in...)
		deadline := time.Now().Add(time.Second)
		for c.Authorize("web").Allowed != s.want {
			if time.Now().After(deadline) {
				t.Fatalf("step %d: Authorize(web) still %v after 1s", i, !s.want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, req := range src.calls {
		if req.GetBy() != connectv1.MatchBy_MATCH_BY_DESTINATION || len(req.GetNames()) != 1 || req.GetNames()[0] != "db" {
			t.Fatalf("query %v: want destination db", req)
		}
	}
}
