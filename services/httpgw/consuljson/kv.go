package consuljson

import (
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// KVPair is a key with its value (Consul's DirEntry). Value is base64 in
// JSON, and null when empty, as in Consul.
type KVPair struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	Session     string `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// KVPairFromProto converts a pair.
func KVPairFromProto(p *kvv1.KVPair) KVPair {
	out := KVPair{
		LockIndex:   p.GetLockIndex(),
		Key:         p.GetKey(),
		Flags:       p.GetFlags(),
		Session:     p.GetSession(),
		CreateIndex: p.GetCreateIndex(),
		ModifyIndex: p.GetModifyIndex(),
	}
	if v := p.GetValue(); len(v) > 0 {
		out.Value = v
	}
	return out
}

// KVPairsFromProto converts a list of pairs; never nil.
func KVPairsFromProto(ps []*kvv1.KVPair) []KVPair {
	out := make([]KVPair, 0, len(ps))
	for _, p := range ps {
		out = append(out, KVPairFromProto(p))
	}
	return out
}
