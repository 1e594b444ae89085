package rpcclient

import (
	"context"
	"testing"
	"time"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestStateFloorObserve(t *testing.T) {
	follower := func(idx uint64) *queryv1.ReadMeta {
		return &queryv1.ReadMeta{StateIndex: idx, KnownLeader: true, LastContact: durationpb.New(40 * time.Millisecond)}
	}
	leader := func(idx uint64) *queryv1.ReadMeta { return &queryv1.ReadMeta{StateIndex: idx, KnownLeader: true} }
	tests := []struct {
		name  string
		seen  []*queryv1.ReadMeta
		floor uint64
	}{
		{"rises", []*queryv1.ReadMeta{follower(5), leader(9)}, 9},
		{"a follower behind does not lower it", []*queryv1.ReadMeta{leader(9), follower(4)}, 9},
		{"a leaderless replica does not lower it", []*queryv1.ReadMeta{leader(9), {StateIndex: 3}}, 9},
		{"the leader behind it lowers it (restore)", []*queryv1.ReadMeta{follower(90), leader(12)}, 12},
		{"no state index is ignored", []*queryv1.ReadMeta{leader(7), nil, {}}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f stateFloor
			for _, m := range tt.seen {
				f.observe(m)
			}
			if got := f.seen.Load(); got != tt.floor {
				t.Fatalf("floor %d, want %d", got, tt.floor)
			}
		})
	}
}

func TestStateFloorSetsMinStateIndexOnStaleReads(t *testing.T) {
	var f stateFloor
	f.seen.Store(42)
	invoke := func(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		reply.(*kvv1.GetResponse).Meta = &queryv1.ReadMeta{StateIndex: 50, KnownLeader: true, LastContact: durationpb.New(time.Millisecond)}
		return nil
	}
	for _, tt := range []struct {
		mode queryv1.Consistency
		want uint64
	}{
		{queryv1.Consistency_CONSISTENCY_STALE, 42},
		{queryv1.Consistency_CONSISTENCY_UNSPECIFIED, 0},
		{queryv1.Consistency_CONSISTENCY_CONSISTENT, 0},
	} {
		f.seen.Store(42)
		req := &kvv1.GetRequest{Key: "k", Options: &queryv1.ReadOptions{Consistency: tt.mode}}
		if err := f.intercept(context.Background(), "/kv", req, &kvv1.GetResponse{}, nil, invoke); err != nil {
			t.Fatal(err)
		}
		if got := req.GetOptions().GetMinStateIndex(); got != tt.want {
			t.Errorf("%v: min_state_index %d, want %d", tt.mode, got, tt.want)
		}
		if got := f.seen.Load(); got != 50 {
			t.Errorf("%v: floor %d after the answer, want 50", tt.mode, got)
		}
	}
}
