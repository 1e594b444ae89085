package queryv1_test

import (
	"testing"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

func TestLeaveOutUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		known uint64
		want  bool
	}{
		{"no known index", 0, false},
		{"older copy", 6, false},
		{"same index", 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := &queryv1.ReadMeta{Index: 7, KnownLeader: true, StateIndex: 9}
			resp := &catalogv1.ServiceHealthResponse{
				Instances: []*catalogv1.ServiceHealth{{Node: &catalogv1.Node{Node: "n1"}}},
				Meta:      meta,
			}
			got := queryv1.LeaveOutUnchanged(&queryv1.ReadOptions{KnownIndex: tc.known}, resp, meta)
			if got != tc.want || meta.GetUnchanged() != tc.want {
				t.Fatalf("LeaveOutUnchanged = %v, unchanged %v; want %v", got, meta.GetUnchanged(), tc.want)
			}
			if left := len(resp.GetInstances()); (left == 0) != tc.want {
				t.Errorf("%d instances left", left)
			}
			if resp.GetMeta() != meta || meta.GetIndex() != 7 || meta.GetStateIndex() != 9 || !meta.GetKnownLeader() {
				t.Errorf("meta changed: %v", resp.GetMeta())
			}
		})
	}
}

func TestReadMetaName(t *testing.T) {
	if got := (&queryv1.ReadMeta{}).ProtoReflect().Descriptor().FullName(); got != queryv1.ReadMetaName {
		t.Errorf("ReadMeta is %s, LeaveOutUnchanged looks for %s", got, queryv1.ReadMetaName)
	}
}
