package state

import (
	"errors"
	"strings"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

func TestSessionCreateErrors(t *testing.T) {
	tests := []struct {
		name     string
		sess     *kvv1.Session
		want     error
		wantName string
	}{
		{"nil", nil, ErrInvalidRequest, ""},
		{"no id", &kvv1.Session{Node: "n1"}, ErrMissingSessionID, ""},
		{"no node", &kvv1.Session{Id: "s"}, ErrMissingNode, ""},
		{"unknown node", &kvv1.Session{Id: "s", Node: "n9"}, ErrUnknownNode, "n9"},
		{"unknown node check", &kvv1.Session{Id: "s", Node: "n1", NodeChecks: []string{"serfHealth", "nope"}},
			ErrUnknownCheck, "nope"},
		{"check of another node", &kvv1.Session{Id: "s", Node: "n1", NodeChecks: []string{"web2-http"}},
			ErrUnknownCheck, "web2-http"},
		{"unknown service check", &kvv1.Session{Id: "s", Node: "n1",
			ServiceChecks: []*kvv1.ServiceCheckRef{{Id: "gone"}}}, ErrUnknownCheck, "gone"},
		{"critical check", &kvv1.Session{Id: "s", Node: "n2",
			ServiceChecks: []*kvv1.ServiceCheckRef{{Id: "web2-http"}}}, ErrCheckCritical, "web2-http"},
		{"taken id", &kvv1.Session{Id: "s1", Node: "n1"}, ErrSessionExists, "s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			mustSession(t, s, 5, &kvv1.Session{Id: "s1", Node: "n1"})
			err := s.SessionCreate(10, tt.sess)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantName) {
				t.Errorf("error %q does not name %q", err, tt.wantName)
			}
			if got := s.TableSizes()[tableSessions]; got != 1 {
				t.Errorf("%d sessions, want 1", got)
			}
		})
	}
}

func TestSessionReads(t *testing.T) {
	s := fixture(t)
	s1 := &kvv1.Session{Id: "s1", Node: "n1", Name: "lock", Ttl: dur(10 * time.Second), NodeChecks: []string{"serfHealth"}}
	mustSession(t, s, 10, s1)
	mustSession(t, s, 11, &kvv1.Session{Id: "s2", Node: "n2"})
	mustSession(t, s, 12, &kvv1.Session{Id: "s0", Node: "N1"})

	idx, got, err := s.SessionGet(nil, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := &kvv1.Session{Id: "s1", Node: "n1", Name: "lock", Ttl: dur(10 * time.Second),
		NodeChecks: []string{"serfHealth"}, CreateIndex: 10, ModifyIndex: 10}
	if d := diff(want, got); d != "" || idx != 12 {
		t.Errorf("SessionGet index %d (want 12), (-want +got):\n%s", idx, d)
	}
	if idx, got, _ := s.SessionGet(nil, "nope"); got != nil || idx != 12 {
		t.Errorf("SessionGet(nope) = %d, %v; want 12, nil", idx, got)
	}
	ids := func(ss []*kvv1.Session) []string {
		var out []string
		for _, x := range ss {
			out = append(out, x.GetId())
		}
		return out
	}
	_, all, _ := s.SessionList(nil)
	if d := diff([]string{"s0", "s1", "s2"}, ids(all)); d != "" {
		t.Errorf("SessionList (-want +got):\n%s", d)
	}
	_, n1, _ := s.NodeSessions(nil, "n1")
	if d := diff([]string{"s0", "s1"}, ids(n1)); d != "" {
		t.Errorf("NodeSessions (-want +got):\n%s", d)
	}
	if d := diff([]string{"s1"}, ids(s.SessionsWithTTL())); d != "" {
		t.Errorf("SessionsWithTTL (-want +got):\n%s", d)
	}
}

func TestSessionInvalidation(t *testing.T) {
	triggers := []struct {
		name string
		do   func(s *Store) error
		// gone lists the sessions the trigger ends.
		gone []string
	}{
		{"destroy", func(s *Store) error { return s.SessionDestroy(20, "s1") }, []string{"s1"}},
		{"node deregistered", func(s *Store) error {
			return s.Deregister(20, &catalogv1.DeregisterRequest{Node: "n1"})
		}, []string{"s1", "s2"}},
		{"node check critical", func(s *Store) error {
			return s.Register(20, &catalogv1.RegisterRequest{Node: node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
				Checks: []*catalogv1.HealthCheck{check("serfHealth", "", critical)}})
		}, []string{"s1"}},
		{"service check critical", func(s *Store) error {
			return s.Register(20, &catalogv1.RegisterRequest{Node: node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
				Checks: []*catalogv1.HealthCheck{check("web1-http", "web1", critical)}})
		}, []string{"s1"}},
		{"check deregistered", func(s *Store) error {
			return s.Deregister(20, &catalogv1.DeregisterRequest{Node: "n1", CheckId: "serfHealth"})
		}, []string{"s1"}},
		{"service deregistered", func(s *Store) error {
			return s.Deregister(20, &catalogv1.DeregisterRequest{Node: "n1", ServiceId: "web1"})
		}, []string{"s1"}},
		{"check warning", func(s *Store) error {
			return s.Register(20, &catalogv1.RegisterRequest{Node: node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
				Checks: []*catalogv1.HealthCheck{check("web1-http", "web1", warning)}})
		}, nil},
	}
	for _, behavior := range []kvv1.SessionBehavior{
		kvv1.SessionBehavior_SESSION_BEHAVIOR_UNSPECIFIED,
		kvv1.SessionBehavior_SESSION_BEHAVIOR_RELEASE,
		kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE,
	} {
		for _, tt := range triggers {
			t.Run(behavior.String()+"/"+tt.name, func(t *testing.T) {
				s := fixture(t)
				mustSession(t, s, 10, &kvv1.Session{Id: "s1", Node: "n1", Behavior: behavior,
					LockDelay:     dur(15 * time.Second),
					NodeChecks:    []string{"serfHealth"},
					ServiceChecks: []*kvv1.ServiceCheckRef{{Id: "web1-http"}}})
				mustSession(t, s, 11, &kvv1.Session{Id: "s2", Node: "n1"})
				mustSession(t, s, 12, &kvv1.Session{Id: "s3", Node: "n2", NodeChecks: []string{"serfHealth"}})
				for i, k := range []string{"lock/a", "lock/b", "lock/c"} {
					mustPut(t, s, uint64(13+i), &kvv1.PutRequest{Key: k, Value: []byte("v"),
						Acquire: "s" + string(rune('1'+i))})
				}

				before := time.Now()
				if err := tt.do(s); err != nil {
					t.Fatal(err)
				}
				after := time.Now()

				gone := map[string]bool{}
				for _, id := range tt.gone {
					gone[id] = true
				}
				for i, id := range []string{"s1", "s2", "s3"} {
					_, sess, _ := s.SessionGet(nil, id)
					if (sess == nil) != gone[id] {
						t.Errorf("session %s exists = %v, want %v", id, sess != nil, !gone[id])
					}
					key := "lock/" + string(rune('a'+i))
					p := getKV(t, s, key)
					var want *kvv1.KVPair
					switch {
					case !gone[id]:
						want = &kvv1.KVPair{Key: key, Value: []byte("v"), Session: id, LockIndex: 1,
							CreateIndex: uint64(13 + i), ModifyIndex: uint64(13 + i)}
					case id == "s1" && behavior == kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE:
						want = nil
					default:
						want = &kvv1.KVPair{Key: key, Value: []byte("v"), LockIndex: 1,
							CreateIndex: uint64(13 + i), ModifyIndex: 20}
					}
					if d := diff(want, p); d != "" {
						t.Errorf("%s (-want +got):\n%s", key, d)
					}
				}
				until := s.KVLockDelay("lock/a")
				if gone["s1"] {
					if until.Before(before.Add(15*time.Second)) || until.After(after.Add(15*time.Second)) {
						t.Errorf("lock-delay of lock/a = %v, want 15s after the write", until)
					}
				} else if !until.IsZero() {
					t.Errorf("lock-delay of lock/a = %v, want none", until)
				}
				// s2 has no lock-delay.
				if until := s.KVLockDelay("lock/b"); !until.IsZero() {
					t.Errorf("lock-delay of lock/b = %v, want none", until)
				}
			})
		}
	}
}

func TestSessionDestroyMissing(t *testing.T) {
	s := fixture(t)
	if err := s.SessionDestroy(10, "nope"); err != nil {
		t.Fatal(err)
	}
	if got := s.MaxIndex(); got != 4 {
		t.Errorf("MaxIndex = %d, want 4", got)
	}
}

func TestLockDelaySweep(t *testing.T) {
	d := newLockDelay()
	past := time.Now().Add(-time.Second)
	for i := range 200 {
		d.set(string(rune('a'+i%26))+string(rune(i)), past)
	}
	if len(d.m) >= 200 {
		t.Errorf("%d expired lock-delays kept, want them swept", len(d.m))
	}
	future := time.Now().Add(time.Hour)
	d.set("k", future)
	d.set("k", past) // an earlier expiry never shortens a delay
	if got := d.get("k"); !got.Equal(future) {
		t.Errorf("get(k) = %v, want %v", got, future)
	}
	if got := d.get("missing"); !got.IsZero() {
		t.Errorf("get(missing) = %v, want zero", got)
	}
}
