package grpcapi

import (
	"strings"
	"testing"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestValidateRejectsBadInput(t *testing.T) {
	node := func() *catalogv1.Node { return &catalogv1.Node{Node: "n1", Address: "10.0.0.1"} }
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"empty node name", validateRegister(&catalogv1.RegisterRequest{Node: &catalogv1.Node{Address: "a"}}, "dc1"), "node.node"},
		{"over-long node name", validateRegister(&catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: strings.Repeat("n", MaxNameLen+1), Address: "a"}}, "dc1"), "node.node"},
		{"missing address", validateRegister(&catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n1"}}, "dc1"), "node.address"},
		{"foreign datacenter", validateRegister(&catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n1", Address: "a", Datacenter: "dc9"}}, "dc1"), "node.datacenter"},
		{"unknown service kind", validateRegister(&catalogv1.RegisterRequest{Node: node(), Service: &catalogv1.Service{Service: "web", Kind: 99}}, "dc1"), "service.kind"},
		{"empty service name", validateRegister(&catalogv1.RegisterRequest{Node: node(), Service: &catalogv1.Service{}}, "dc1"), "service.service"},
		{"port out of range", validateRegister(&catalogv1.RegisterRequest{Node: node(), Service: &catalogv1.Service{Service: "web", Port: 70000}}, "dc1"), "service.port"},
		{"bad meta key", validateRegister(&catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n", Address: "a", Meta: map[string]string{"a b": "c"}}}, "dc1"), "node.meta"},
		{"unknown check status", validateRegister(&catalogv1.RegisterRequest{Node: node(), Checks: []*catalogv1.HealthCheck{{CheckId: "c", Status: 42}}}, "dc1"), "checks[0].status"},
		{"check without id", validateRegister(&catalogv1.RegisterRequest{Node: node(), Checks: []*catalogv1.HealthCheck{{Name: "c"}}}, "dc1"), "checks[0].check_id"},
		{"proxy without destination", validateRegister(&catalogv1.RegisterRequest{Node: node(), Service: &catalogv1.Service{Service: "p", Kind: catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY}}, "dc1"), "destination_service_name"},
		{"empty key", validatePut(&kvv1.PutRequest{}), "key"},
		{"value over 512 KiB", validatePut(&kvv1.PutRequest{Key: "k", Value: make([]byte, MaxValueSize+1)}), "value"},
		{"key with NUL", validatePut(&kvv1.PutRequest{Key: "a\x00b"}), "key"},
		{"key not UTF-8", validatePut(&kvv1.PutRequest{Key: "a\xffb"}), "key"},
		{"over-long key", validatePut(&kvv1.PutRequest{Key: strings.Repeat("k", MaxKeyLen+1)}), "key"},
		{"acquire and release", validatePut(&kvv1.PutRequest{Key: "k", Acquire: "a", Release: "b"}), "acquire"},
		{"session without node", validateSession(&kvv1.Session{}), "session.node"},
		{"session ttl too short", validateSession(&kvv1.Session{Node: "n", Ttl: durationpb.New(1)}), "session.ttl"},
		{"unknown behavior", validateSession(&kvv1.Session{Node: "n", Behavior: 7}), "session.behavior"},
		{"empty txn", validateTxn(nil), "ops"},
		{"txn over the op limit", validateTxn(make([]*kvv1.TxnOp, MaxTxnOps+1)), "ops"},
		{"txn op without verb", validateTxn([]*kvv1.TxnOp{{Op: &kvv1.TxnOp_Kv{Kv: &kvv1.KVOp{Key: "k"}}}}), "ops[0].kv.verb"},
		{"txn lock without session", validateTxn([]*kvv1.TxnOp{{Op: &kvv1.TxnOp_Kv{Kv: &kvv1.KVOp{Verb: kvv1.KVVerb_KV_VERB_LOCK, Key: "k"}}}}), "ops[0].kv.session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("accepted")
			}
			st, _ := status.FromError(tt.err)
			if st.Code() != codes.InvalidArgument {
				t.Errorf("code %s, want InvalidArgument (%v)", st.Code(), tt.err)
			}
			if !strings.Contains(st.Message(), tt.field) {
				t.Errorf("message %q does not name %q", st.Message(), tt.field)
			}
		})
	}
}

func TestValidateAcceptsGoodInput(t *testing.T) {
	req := &catalogv1.RegisterRequest{
		Node:    &catalogv1.Node{Node: "web-1", Address: "10.0.0.1", Meta: map[string]string{"rack": "r1"}},
		Service: &catalogv1.Service{Service: "web", Tags: []string{"v1"}, Port: 8080},
		Checks:  []*catalogv1.HealthCheck{{CheckId: "web-http", ServiceId: "web", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING}},
	}
	if err := validateRegister(req, "dc1"); err != nil {
		t.Fatal(err)
	}
	if err := validatePut(&kvv1.PutRequest{Key: "a/b/c", Value: make([]byte, MaxValueSize)}); err != nil {
		t.Fatal(err)
	}
	if err := validateSession(&kvv1.Session{Node: "n", Ttl: durationpb.New(15e9)}); err != nil {
		t.Fatal(err)
	}
}
