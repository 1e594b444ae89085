package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// Nodes returns the nodes whose meta has every pair of nodeMeta, sorted by
// name (case-insensitively, as names match).
func (s *Store) Nodes(ws memdb.WatchSet, nodeMeta map[string]string) (uint64, []*catalogv1.Node, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := nodesIter(tx, nodeMeta)
	if err != nil {
		return 0, nil, fmt.Errorf("list nodes: %w", err)
	}
	ws.Add(it.WatchCh())
	var out []*catalogv1.Node
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if n := raw.(*catalogv1.Node); metaMatch(n, nodeMeta) {
			out = append(out, n)
		}
	}
	return maxIndex(tx, tableNodes), out, nil
}

// nodesIter iterates every node or, with a meta filter, the nodes having
// its first pair (by key order, so the choice is stable), which also makes
// the watch narrower. Both are in node-name order.
func nodesIter(tx *memdb.Txn, nodeMeta map[string]string) (memdb.ResultIterator, error) {
	if len(nodeMeta) == 0 {
		return tx.Get(tableNodes, "id")
	}
	keys := make([]string, 0, len(nodeMeta))
	for k := range nodeMeta {
		// The meta index leaves out empty keys.
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return tx.Get(tableNodes, "id")
	}
	sort.Strings(keys)
	return tx.Get(tableNodes, "meta", keys[0], nodeMeta[keys[0]])
}

// metaMatch says whether n's meta has every pair of filter.
func metaMatch(n *catalogv1.Node, filter map[string]string) bool {
	for k, v := range filter {
		got, ok := n.GetMeta()[k]
		if !ok || got != v {
			return false
		}
	}
	return true
}

// hasTags says whether svc carries every tag, compared case-insensitively
// as Consul does.
func hasTags(svc *catalogv1.Service, tags []string) bool {
	for _, want := range tags {
		if !slices.ContainsFunc(svc.GetTags(), func(t string) bool { return strings.EqualFold(t, want) }) {
			return false
		}
	}
	return true
}

// nodeCache looks up each node once per read, watching each.
type nodeCache struct {
	tx *memdb.Txn
	w  *watcher
	m  map[string]*catalogv1.Node
}

func newNodeCache(tx *memdb.Txn, w *watcher) *nodeCache {
	return &nodeCache{tx: tx, w: w, m: make(map[string]*catalogv1.Node)}
}

// get returns node name, or nil.
func (c *nodeCache) get(name string) (*catalogv1.Node, error) {
	key := strings.ToLower(name)
	if n, ok := c.m[key]; ok {
		return n, nil
	}
	ch, raw, err := c.tx.FirstWatch(tableNodes, "id", name)
	if err != nil {
		return nil, fmt.Errorf("look up node %q: %w", name, err)
	}
	c.w.add(ch, tableNodes)
	var n *catalogv1.Node
	if raw != nil {
		n = raw.(*catalogv1.Node)
	}
	c.m[key] = n
	return n, nil
}

// Services returns each service name with the distinct tags of its
// instances, sorted by name. nodeMeta keeps the services with an instance on
// a node whose meta has every pair; node keeps those with an instance on
// that node.
func (s *Store) Services(ws memdb.WatchSet, nodeMeta map[string]string, node string) (uint64, []*catalogv1.ServiceSummary, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	tables := []string{tableServices}

	// allowed, when set, holds the lower-cased names of the nodes that pass.
	var allowed map[string]bool
	var it memdb.ResultIterator
	var err error
	switch {
	case node != "":
		tables = append(tables, tableNodes)
		ch, raw, err := tx.FirstWatch(tableNodes, "id", node)
		if err != nil {
			return 0, nil, fmt.Errorf("list services: look up node %q: %w", node, err)
		}
		ws.Add(ch)
		allowed = map[string]bool{}
		if raw != nil && metaMatch(raw.(*catalogv1.Node), nodeMeta) {
			allowed[strings.ToLower(node)] = true
		}
		it, err = tx.Get(tableServices, "node", node)
		if err != nil {
			return 0, nil, fmt.Errorf("list services of node %q: %w", node, err)
		}
	case len(nodeMeta) > 0:
		tables = append(tables, tableNodes)
		nit, err := nodesIter(tx, nodeMeta)
		if err != nil {
			return 0, nil, fmt.Errorf("list services: list nodes: %w", err)
		}
		ws.Add(nit.WatchCh())
		allowed = map[string]bool{}
		for raw := nit.Next(); raw != nil; raw = nit.Next() {
			if n := raw.(*catalogv1.Node); metaMatch(n, nodeMeta) {
				allowed[strings.ToLower(n.GetNode())] = true
			}
		}
		fallthrough
	default:
		it, err = tx.Get(tableServices, "id")
		if err != nil {
			return 0, nil, fmt.Errorf("list services: %w", err)
		}
	}
	ws.Add(it.WatchCh())

	byName := make(map[string]*catalogv1.ServiceSummary)
	tagSets := make(map[string]map[string]bool)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		row := raw.(*serviceRow)
		if allowed != nil && !allowed[strings.ToLower(row.node)] {
			continue
		}
		key := strings.ToLower(row.svc.GetService())
		if _, ok := byName[key]; !ok {
			byName[key] = &catalogv1.ServiceSummary{Name: row.svc.GetService(), Kind: row.svc.GetKind()}
			tagSets[key] = make(map[string]bool)
		}
		for _, t := range row.svc.GetTags() {
			tagSets[key][t] = true
		}
	}
	out := make([]*catalogv1.ServiceSummary, 0, len(byName))
	for key, sum := range byName {
		for t := range tagSets[key] {
			sum.Tags = append(sum.Tags, t)
		}
		sort.Strings(sum.Tags)
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b *catalogv1.ServiceSummary) int { return cmpFold(a.GetName(), b.GetName()) })
	return maxIndex(tx, tables...), out, nil
}

// cmpFold orders names case-insensitively, then byte-wise to be total.
func cmpFold(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// instanceRows returns the instances of service (or, with connect, its mesh
// endpoints: the connect proxies whose destination it is and its
// Connect-native instances) in node-name then service-ID order, watching
// that set of rows.
func instanceRows(tx *memdb.Txn, ws memdb.WatchSet, service string, connect bool) ([]*serviceRow, error) {
	index := "service"
	if connect {
		index = "connect"
	}
	it, err := tx.Get(tableServices, index, service)
	if err != nil {
		return nil, fmt.Errorf("list instances of service %q: %w", service, err)
	}
	ws.Add(it.WatchCh())
	rows, _ := collect[*serviceRow](it, nil)
	return rows, nil
}

// serviceQueryIndex is the index of a query on one service: the last change
// to its instances, their nodes or checks, or — once it has none — the
// newest of the fallback tables.
func serviceQueryIndex(tx *memdb.Txn, service string, connect bool, fallback ...string) uint64 {
	key := serviceIndexKey(service)
	if connect {
		key = connectIndexKey(service)
	}
	if idx := indexOf(tx, key); idx > 0 {
		return idx
	}
	return maxIndex(tx, fallback...)
}

// ServiceNodes returns the instances of service carrying every tag on nodes
// whose meta has every pair of nodeMeta, with their nodes, sorted by node
// name then service ID. With connect it returns the service's mesh
// endpoints instead (see instanceRows).
func (s *Store) ServiceNodes(ws memdb.WatchSet, service string, tags []string, nodeMeta map[string]string, connect bool) (uint64, []*catalogv1.ServiceInstance, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	rows, err := instanceRows(tx, ws, service, connect)
	if err != nil {
		return 0, nil, err
	}
	nodes := newNodeCache(tx, newWatcher(ws, tx))
	var out []*catalogv1.ServiceInstance
	for _, row := range rows {
		if !hasTags(row.svc, tags) {
			continue
		}
		n, err := nodes.get(row.node)
		if err != nil {
			return 0, nil, err
		}
		if n == nil || !metaMatch(n, nodeMeta) {
			continue
		}
		out = append(out, &catalogv1.ServiceInstance{Node: n, Service: row.svc})
	}
	return serviceNodesIndex(tx, service, connect), out, nil
}

// ServiceNodesIndex is the index ServiceNodes of service would return now,
// read without running it (see ServiceHealthIndex).
func (s *Store) ServiceNodesIndex(service string, connect bool) uint64 {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return serviceNodesIndex(tx, service, connect)
}

func serviceNodesIndex(tx *memdb.Txn, service string, connect bool) uint64 {
	return serviceQueryIndex(tx, service, connect, tableNodes, tableServices)
}

// NodeServices returns node (nil if unknown) and its service instances
// sorted by ID.
func (s *Store) NodeServices(ws memdb.WatchSet, node string) (uint64, *catalogv1.Node, []*catalogv1.Service, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	ch, raw, err := tx.FirstWatch(tableNodes, "id", node)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("look up node %q: %w", node, err)
	}
	ws.Add(ch)
	it, err := tx.Get(tableServices, "node", node)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("list services of node %q: %w", node, err)
	}
	ws.Add(it.WatchCh())
	idx := maxIndex(tx, tableNodes, tableServices)
	if raw == nil {
		return idx, nil, nil, nil
	}
	var svcs []*catalogv1.Service
	for r := it.Next(); r != nil; r = it.Next() {
		svcs = append(svcs, r.(*serviceRow).svc)
	}
	return idx, raw.(*catalogv1.Node), svcs, nil
}
