package rpcclient

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The trailer keys a catalog replica answers every unary call with: its own
// Raft server address and the leader's, as it knows it ("" when none).
const (
	ReplicaTrailer = "beacon-replica"
	LeaderTrailer  = "beacon-leader"
)

// leaderBalancer is the name of the load-balancing policy Dial uses.
const leaderBalancer = "beacon_leader"

func init() { balancer.Register(leaderBuilder{}) }

// leaderBuilder builds the policy: calls that only the leader may answer
// (writes, default and consistent reads) go straight to the replica the
// latest answer named leader, instead of to whichever replica round-robin
// picks, which would forward them: one hop, and the follower's work, saved
// for two calls in three on three replicas. Stale reads, which any replica
// may answer, are spread round-robin, as is every call while no leader is
// known or the leader's connection is not ready. Which connection reaches
// which replica is learnt from the answers' trailers (ReplicaTrailer); a
// server that sends none leaves the policy plain round-robin.
type leaderBuilder struct{}

func (leaderBuilder) Name() string { return leaderBalancer }

func (leaderBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	// base's balancer manages the connections, one per address, and builds
	// a picker from the ready ones; the routing state is this connection's.
	return base.NewBalancerBuilder(leaderBalancer, &leaderRouting{}, base.Config{}).Build(cc, opts)
}

// leaderRouting is one client connection's knowledge of the replicas.
type leaderRouting struct {
	mu   sync.Mutex // serializes updates of view
	view atomic.Pointer[replicaView]
}

// replicaView is an immutable snapshot of what the answers have told.
type replicaView struct {
	replica map[balancer.SubConn]string // the replica each connection reaches
	leader  string                      // named by the latest answer
	// leaderConn reaches the leader; nil when unknown.
	leaderConn balancer.SubConn
}

// learn records what the end of a call through sc said: the trailer of
// its answer, or that none came.
func (r *leaderRouting) learn(sc balancer.SubConn, d balancer.DoneInfo) {
	self, leader := first(d.Trailer[ReplicaTrailer]), first(d.Trailer[LeaderTrailer])
	v := r.view.Load()
	if self == "" {
		// No answer, or a server that does not say. A leader that does
		// not answer in time (paused, partitioned, overloaded) is
		// forgotten, so that calls go round-robin again and a follower's
		// answer names the next leader; a client's leaving tells nothing.
		if v != nil && v.leaderConn == sc {
			switch status.Code(d.Err) {
			case codes.DeadlineExceeded, codes.Unavailable:
				r.update(sc, "", "")
			}
		}
		return
	}
	if v != nil && v.replica[sc] == self && v.leader == leader {
		return
	}
	r.update(sc, self, leader)
}

// update stores a new view: sc reaches replica self (forgotten if ""), and
// leader leads ("" when unknown).
func (r *leaderRouting) update(sc balancer.SubConn, self, leader string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := &replicaView{replica: map[balancer.SubConn]string{}, leader: leader}
	if old := r.view.Load(); old != nil {
		for c, id := range old.replica {
			next.replica[c] = id
		}
	}
	delete(next.replica, sc)
	if self != "" {
		next.replica[sc] = self
	}
	for c, id := range next.replica {
		if leader != "" && id == leader {
			next.leaderConn = c
			break
		}
	}
	r.view.Store(next)
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Build is base.PickerBuilder's: a picker over the ready connections.
func (r *leaderRouting) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	p := &leaderPicker{r: r}
	for sc := range info.ReadySCs {
		p.conns = append(p.conns, sc)
		p.done = append(p.done, func(d balancer.DoneInfo) { r.learn(sc, d) })
	}
	return p
}

// leaderPicker picks a ready connection for each call.
type leaderPicker struct {
	r     *leaderRouting
	conns []balancer.SubConn
	done  []func(balancer.DoneInfo) // done[i] learns from conns[i]'s answers
	next  atomic.Uint32
}

func (p *leaderPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if info.Ctx.Value(anyReplica{}) == nil {
		if v := p.r.view.Load(); v != nil && v.leaderConn != nil {
			for i, c := range p.conns {
				if c == v.leaderConn {
					return balancer.PickResult{SubConn: c, Done: p.done[i]}, nil
				}
			}
		}
	}
	i := int(p.next.Add(1) % uint32(len(p.conns)))
	return balancer.PickResult{SubConn: p.conns[i], Done: p.done[i]}, nil
}

// anyReplica marks a call's context when any replica may answer it.
type anyReplica struct{}

func withAnyReplica(ctx context.Context) context.Context {
	return context.WithValue(ctx, anyReplica{}, true)
}
