package state

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// Table names. They are also the keys of the index table, and the names
// TableSizes reports.
const (
	tableIndex      = "index"
	tableNodes      = "nodes"
	tableServices   = "services"
	tableChecks     = "checks"
	tableKVs        = "kvs"
	tableTombstones = "tombstones"
	tableSessions   = "sessions"
	tableMembers    = "members"
	tableCARoots    = "ca_roots"
	tableCAConfig   = "ca_config"
	tableIntentions = "intentions"
)

// allTables lists every table in snapshot order: the order Persist writes
// them and Restore expects nothing of (records are self-describing).
var allTables = []string{tableIndex, tableNodes, tableServices, tableChecks, tableSessions, tableKVs, tableTombstones, tableMembers, tableCARoots, tableCAConfig, tableIntentions}

// indexRow is one row of the index table: the last Raft index that changed
// a table, or one service's instances (see serviceIndexKey).
type indexRow struct {
	name  string
	value uint64
}

// serviceRow is a service instance with the name of the node it runs on;
// catalogv1.Service does not carry its node.
type serviceRow struct {
	node string
	svc  *catalogv1.Service
}

// connectName is the name of the service whose mesh endpoint this instance
// is ("" when none): a connect proxy's destination, or the service itself
// when it speaks Connect natively.
func connectName(svc *catalogv1.Service) string {
	if svc.GetKind() == catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY {
		return svc.GetProxy().GetDestinationServiceName()
	}
	if svc.GetConnect().GetNative() {
		return svc.GetService()
	}
	return ""
}

// strIndex indexes rows of type T by the string parts fn returns: each part
// is terminated by a NUL so that compound keys cannot run into each other.
// It lets proto messages be stored as they are while indexing nested or
// computed fields, which memdb's reflection-based indexers cannot reach.
type strIndex[T any] struct {
	parts     int
	lowercase bool
	// fn returns the row's key parts, or false when the row is not in this
	// index (only allowed for indexes with AllowMissing).
	fn func(T) ([]string, bool)
}

func (x *strIndex[T]) encode(vals []string) []byte {
	n := 0
	for _, v := range vals {
		n += len(v) + 1
	}
	b := make([]byte, 0, n)
	for _, v := range vals {
		if x.lowercase {
			v = strings.ToLower(v)
		}
		b = append(b, v...)
		b = append(b, 0)
	}
	return b
}

// FromObject implements memdb.SingleIndexer.
func (x *strIndex[T]) FromObject(raw any) (bool, []byte, error) {
	row, ok := raw.(T)
	if !ok {
		return false, nil, fmt.Errorf("index: unexpected row type %T", raw)
	}
	vals, ok := x.fn(row)
	if !ok {
		return false, nil, nil
	}
	if len(vals) != x.parts {
		return false, nil, fmt.Errorf("index: %d parts, want %d", len(vals), x.parts)
	}
	return true, x.encode(vals), nil
}

func argStrings(args []any) ([]string, error) {
	vals := make([]string, len(args))
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("index: argument %d is %T, want string", i, a)
		}
		vals[i] = s
	}
	return vals, nil
}

// FromArgs implements memdb.Indexer: an exact lookup with every part.
func (x *strIndex[T]) FromArgs(args ...any) ([]byte, error) {
	if len(args) != x.parts {
		return nil, fmt.Errorf("index: %d arguments, want %d", len(args), x.parts)
	}
	vals, err := argStrings(args)
	if err != nil {
		return nil, err
	}
	return x.encode(vals), nil
}

// PrefixFromArgs implements memdb.PrefixIndexer: the leading parts match
// exactly and the last one given matches as a prefix.
func (x *strIndex[T]) PrefixFromArgs(args ...any) ([]byte, error) {
	if len(args) == 0 || len(args) > x.parts {
		return nil, fmt.Errorf("index: %d arguments, want 1 to %d", len(args), x.parts)
	}
	vals, err := argStrings(args)
	if err != nil {
		return nil, err
	}
	b := x.encode(vals)
	return b[:len(b)-1], nil
}

func one[T any](lowercase bool, fn func(T) string) *strIndex[T] {
	return &strIndex[T]{parts: 1, lowercase: lowercase, fn: func(row T) ([]string, bool) {
		v := fn(row)
		return []string{v}, v != ""
	}}
}

func two[T any](lowercase bool, fn func(T) (string, string)) *strIndex[T] {
	return &strIndex[T]{parts: 2, lowercase: lowercase, fn: func(row T) ([]string, bool) {
		a, b := fn(row)
		return []string{a, b}, true
	}}
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableIndex: {
			Name: tableIndex,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: one(false, func(r *indexRow) string { return r.name })},
			},
		},
		tableNodes: {
			Name: tableNodes,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: one(true, (*catalogv1.Node).GetNode)},
				"meta": {Name: "meta", AllowMissing: true,
					Indexer: &memdb.StringMapFieldIndex{Field: "Meta"}},
			},
		},
		tableServices: {
			Name: tableServices,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: two(true, func(r *serviceRow) (string, string) {
					return r.node, r.svc.GetId()
				})},
				"node": {Name: "node", Indexer: one(true, func(r *serviceRow) string { return r.node })},
				"service": {Name: "service", AllowMissing: true,
					Indexer: one(true, func(r *serviceRow) string { return r.svc.GetService() })},
				"connect": {Name: "connect", AllowMissing: true,
					Indexer: one(true, func(r *serviceRow) string { return connectName(r.svc) })},
			},
		},
		tableChecks: {
			Name: tableChecks,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: two(true, func(c *catalogv1.HealthCheck) (string, string) {
					return c.GetNode(), c.GetCheckId()
				})},
				"node": {Name: "node", Indexer: one(true, (*catalogv1.HealthCheck).GetNode)},
				// Node-level checks are under (node, "").
				"node_service": {Name: "node_service", Indexer: two(true, func(c *catalogv1.HealthCheck) (string, string) {
					return c.GetNode(), c.GetServiceId()
				})},
				"service": {Name: "service", AllowMissing: true,
					Indexer: one(true, (*catalogv1.HealthCheck).GetServiceName)},
				"status": {Name: "status", Indexer: one(false, func(c *catalogv1.HealthCheck) string {
					return c.GetStatus().String()
				})},
			},
		},
		tableKVs: {
			Name: tableKVs,
			Indexes: map[string]*memdb.IndexSchema{
				"id":      {Name: "id", Unique: true, Indexer: one(false, (*kvv1.KVPair).GetKey)},
				"session": {Name: "session", AllowMissing: true, Indexer: one(false, (*kvv1.KVPair).GetSession)},
			},
		},
		// Tombstones remember deleted keys (Key, and the delete's index as
		// ModifyIndex) so that a prefix's index does not go backwards.
		tableTombstones: {
			Name: tableTombstones,
			Indexes: map[string]*memdb.IndexSchema{
				"id":    {Name: "id", Unique: true, Indexer: one(false, (*kvv1.KVPair).GetKey)},
				"index": {Name: "index", Indexer: &memdb.UintFieldIndex{Field: "ModifyIndex"}},
			},
		},
		tableCARoots: {
			Name: tableCARoots,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: one(false, (*connectv1.CARoot).GetId)},
			},
		},
		// One row: the CA configuration, with the active signing key.
		tableCAConfig: {
			Name: tableCAConfig,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: one(false, func(*connectv1.CAConfig) string { return "config" })},
			},
		},
		tableIntentions: {
			Name: tableIntentions,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: one(false, (*connectv1.Intention).GetId)},
				"pair": {Name: "pair", Unique: true, Indexer: two(false, func(i *connectv1.Intention) (string, string) {
					return i.GetSourceName(), i.GetDestinationName()
				})},
			},
		},
		tableMembers: {
			Name: tableMembers,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: one(true, (*catalogv1.Member).GetName)},
			},
		},
		tableSessions: {
			Name: tableSessions,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: one(false, (*kvv1.Session).GetId)},
				"node": {Name: "node", Indexer: one(true, (*kvv1.Session).GetNode)},
			},
		},
	}}
}
