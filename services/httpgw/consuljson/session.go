package consuljson

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Session limits and defaults, as in Consul.
const (
	SessionTTLMin    = 10 * time.Second
	SessionTTLMax    = 24 * time.Hour
	DefaultLockDelay = 15 * time.Second
	MaxLockDelay     = 60 * time.Second
)

// InvalidTTLError is a session TTL outside [SessionTTLMin, SessionTTLMax].
// Its text is Consul's, which Consul sends with a 500 and which clients
// (patroni) look for to adjust their TTL.
type InvalidTTLError struct{ TTL time.Duration }

func (e *InvalidTTLError) Error() string {
	return fmt.Sprintf("Invalid Session TTL '%d', must be between [%v=%v]", int64(e.TTL), SessionTTLMin, SessionTTLMax)
}

// Session is Consul's session. LockDelay is in nanoseconds and TTL a
// duration string ("" without a TTL), as Consul writes them.
type Session struct {
	ID            string
	Name          string
	Node          string
	LockDelay     time.Duration
	Behavior      string
	TTL           string
	NodeChecks    []string
	ServiceChecks []ServiceCheck
	CreateIndex   uint64
	ModifyIndex   uint64
}

// ServiceCheck names a service-level check a session depends on.
type ServiceCheck struct {
	ID string
}

// SessionFromProto converts a session.
func SessionFromProto(s *kvv1.Session) Session {
	out := Session{
		ID:            s.GetId(),
		Name:          s.GetName(),
		Node:          s.GetNode(),
		LockDelay:     s.GetLockDelay().AsDuration(),
		Behavior:      "release",
		NodeChecks:    stringList(s.GetNodeChecks()),
		ServiceChecks: make([]ServiceCheck, 0, len(s.GetServiceChecks())),
		CreateIndex:   s.GetCreateIndex(),
		ModifyIndex:   s.GetModifyIndex(),
	}
	if s.GetBehavior() == kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE {
		out.Behavior = "delete"
	}
	if ttl := s.GetTtl().AsDuration(); ttl > 0 {
		out.TTL = ttl.String()
	}
	for _, c := range s.GetServiceChecks() {
		out.ServiceChecks = append(out.ServiceChecks, ServiceCheck{ID: c.GetId()})
	}
	return out
}

// SessionsFromProto converts a list of sessions; never nil.
func SessionsFromProto(ss []*kvv1.Session) []Session {
	out := make([]Session, 0, len(ss))
	for _, s := range ss {
		out = append(out, SessionFromProto(s))
	}
	return out
}

// LockDelay reads a session's lock delay as Consul does: a duration string,
// or a number that is seconds when below 1000 and nanoseconds otherwise.
type LockDelay time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *LockDelay) UnmarshalJSON(b []byte) error {
	v, err := parseDurationJSON(b, true)
	if err != nil {
		return err
	}
	*d = LockDelay(v)
	return nil
}

// SessionCreateRequest is the body of PUT /v1/session/create. The check
// lists are pointers so that an explicit [] ("no checks") differs from an
// absent field (the serfHealth default).
type SessionCreateRequest struct {
	Name          string
	Node          string
	LockDelay     *LockDelay
	Behavior      string
	TTL           string
	Checks        *[]string
	NodeChecks    *[]string
	ServiceChecks []ServiceCheck
}

// Proto validates the request and converts it; node is the session's node
// when the body names none. The legacy Checks list is merged into
// NodeChecks. Without either, node_checks_set stays false and the catalog
// applies Consul's serfHealth default.
func (r *SessionCreateRequest) Proto(node string) (*kvv1.CreateSessionRequest, error) {
	s := &kvv1.Session{
		Name:      r.Name,
		Node:      r.Node,
		LockDelay: durationpb.New(DefaultLockDelay),
	}
	if s.Node == "" {
		s.Node = node
	}
	if r.LockDelay != nil {
		d := time.Duration(*r.LockDelay)
		if d < 0 || d > MaxLockDelay {
			return nil, fmt.Errorf("invalid LockDelay %v: must be between 0s and %v", d, MaxLockDelay)
		}
		s.LockDelay = durationpb.New(d)
	}
	switch r.Behavior {
	case "", "release":
		s.Behavior = kvv1.SessionBehavior_SESSION_BEHAVIOR_RELEASE
	case "delete":
		s.Behavior = kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE
	default:
		return nil, fmt.Errorf("invalid Behavior %q: want release or delete", r.Behavior)
	}
	if r.TTL != "" {
		ttl, err := time.ParseDuration(r.TTL)
		if err != nil {
			return nil, fmt.Errorf("invalid TTL %q: %w", r.TTL, err)
		}
		if ttl != 0 && (ttl < SessionTTLMin || ttl > SessionTTLMax) {
			return nil, &InvalidTTLError{TTL: ttl}
		}
		if ttl > 0 {
			s.Ttl = durationpb.New(ttl)
		}
	}
	out := &kvv1.CreateSessionRequest{Session: s}
	if r.Checks != nil || r.NodeChecks != nil {
		out.NodeChecksSet = true
		s.NodeChecks = []string{}
		for _, l := range []*[]string{r.NodeChecks, r.Checks} {
			if l == nil {
				continue
			}
			for _, c := range *l {
				if c == "" {
					return nil, errors.New("invalid node check: empty check ID")
				}
				if !slices.Contains(s.NodeChecks, c) {
					s.NodeChecks = append(s.NodeChecks, c)
				}
			}
		}
	}
	for _, c := range r.ServiceChecks {
		if c.ID == "" {
			return nil, errors.New("invalid service check: empty check ID")
		}
		s.ServiceChecks = append(s.ServiceChecks, &kvv1.ServiceCheckRef{Id: c.ID})
	}
	return out, nil
}

// SessionCreateResponse is the answer of PUT /v1/session/create.
type SessionCreateResponse struct {
	ID string
}

var _ json.Unmarshaler = (*LockDelay)(nil)
