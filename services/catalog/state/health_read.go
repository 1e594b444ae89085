package state

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// NodeChecks returns the checks on node, sorted by check ID.
func (s *Store) NodeChecks(ws memdb.WatchSet, node string) (uint64, []*catalogv1.HealthCheck, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableChecks, "node", node)
	if err != nil {
		return 0, nil, fmt.Errorf("list checks of node %q: %w", node, err)
	}
	ws.Add(it.WatchCh())
	out, _ := collect[*catalogv1.HealthCheck](it, nil)
	return maxIndex(tx, tableChecks), out, nil
}

// ServiceChecks returns the checks of every instance of service on nodes
// whose meta has every pair of nodeMeta, sorted by node then check ID.
func (s *Store) ServiceChecks(ws memdb.WatchSet, service string, nodeMeta map[string]string) (uint64, []*catalogv1.HealthCheck, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableChecks, "service", service)
	if err != nil {
		return 0, nil, fmt.Errorf("list checks of service %q: %w", service, err)
	}
	ws.Add(it.WatchCh())
	out, err := filterChecks(tx, ws, it, nodeMeta)
	if err != nil {
		return 0, nil, err
	}
	return checksIndex(tx, nodeMeta), out, nil
}

// ChecksInState returns the checks in state (every check for
// HEALTH_STATUS_UNSPECIFIED) on nodes whose meta has every pair of
// nodeMeta, sorted by node then check ID.
func (s *Store) ChecksInState(ws memdb.WatchSet, state catalogv1.HealthStatus, nodeMeta map[string]string) (uint64, []*catalogv1.HealthCheck, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	var (
		it  memdb.ResultIterator
		err error
	)
	if state == catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
		it, err = tx.Get(tableChecks, "id")
	} else {
		it, err = tx.Get(tableChecks, "status", state.String())
	}
	if err != nil {
		return 0, nil, fmt.Errorf("list checks in state %s: %w", state, err)
	}
	ws.Add(it.WatchCh())
	out, err := filterChecks(tx, ws, it, nodeMeta)
	if err != nil {
		return 0, nil, err
	}
	return checksIndex(tx, nodeMeta), out, nil
}

func checksIndex(tx *memdb.Txn, nodeMeta map[string]string) uint64 {
	if len(nodeMeta) == 0 {
		return maxIndex(tx, tableChecks)
	}
	return maxIndex(tx, tableChecks, tableNodes)
}

// filterChecks drains it, keeping the checks on nodes that pass nodeMeta.
func filterChecks(tx *memdb.Txn, ws memdb.WatchSet, it memdb.ResultIterator, nodeMeta map[string]string) ([]*catalogv1.HealthCheck, error) {
	var nodes *nodeCache
	if len(nodeMeta) > 0 {
		nodes = newNodeCache(tx, newWatcher(ws, tx))
	}
	var out []*catalogv1.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*catalogv1.HealthCheck)
		if nodes != nil {
			n, err := nodes.get(c.GetNode())
			if err != nil {
				return nil, err
			}
			if n == nil || !metaMatch(n, nodeMeta) {
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func instanceKey(node, serviceID string) string {
	return strings.ToLower(node) + "\x00" + strings.ToLower(serviceID)
}

// ServiceHealth returns the instances of service (or, with connect, its mesh
// endpoints) carrying every tag on nodes whose meta has every pair of
// nodeMeta, each with its node and the checks bearing on it: its node's
// node-level checks, then its own. passingOnly keeps the instances whose
// every check passes. Sorted by node name then service ID.
func (s *Store) ServiceHealth(ws memdb.WatchSet, service string, tags []string, nodeMeta map[string]string, passingOnly, connect bool) (uint64, []*catalogv1.ServiceHealth, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	rows, err := instanceRows(tx, ws, service, connect)
	if err != nil {
		return 0, nil, err
	}
	w := newWatcher(ws, tx)
	nodes := newNodeCache(tx, w)

	// The checks of a service's instances are watched as one set; mesh
	// endpoints have various names, so their checks are watched one
	// instance at a time.
	var svcChecks map[string][]*catalogv1.HealthCheck
	if !connect {
		it, err := tx.Get(tableChecks, "service", service)
		if err != nil {
			return 0, nil, fmt.Errorf("list checks of service %q: %w", service, err)
		}
		ws.Add(it.WatchCh())
		svcChecks = make(map[string][]*catalogv1.HealthCheck)
		for raw := it.Next(); raw != nil; raw = it.Next() {
			c := raw.(*catalogv1.HealthCheck)
			k := instanceKey(c.GetNode(), c.GetServiceId())
			svcChecks[k] = append(svcChecks[k], c)
		}
	}
	nodeChecks := make(map[string][]*catalogv1.HealthCheck)

	var out []*catalogv1.ServiceHealth
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
		nkey := strings.ToLower(row.node)
		nc, ok := nodeChecks[nkey]
		if !ok {
			if nc, err = watchedChecks(tx, w, row.node, ""); err != nil {
				return 0, nil, err
			}
			nodeChecks[nkey] = nc
		}
		var own []*catalogv1.HealthCheck
		if connect {
			if own, err = watchedChecks(tx, w, row.node, row.svc.GetId()); err != nil {
				return 0, nil, err
			}
		} else {
			own = svcChecks[instanceKey(row.node, row.svc.GetId())]
		}
		checks := make([]*catalogv1.HealthCheck, 0, len(nc)+len(own))
		checks = append(append(checks, nc...), own...)
		if passingOnly && !allPassing(checks) {
			continue
		}
		out = append(out, &catalogv1.ServiceHealth{Node: n, Service: row.svc, Checks: checks})
	}
	return serviceHealthIndex(tx, service, connect), out, nil
}

// ServiceHealthIndex is the index ServiceHealth of service would return
// now, read without running it: a caller holding the answer of that index
// knows it is current, whatever its tags, node meta and passing filter.
func (s *Store) ServiceHealthIndex(service string, connect bool) uint64 {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return serviceHealthIndex(tx, service, connect)
}

func serviceHealthIndex(tx *memdb.Txn, service string, connect bool) uint64 {
	return serviceQueryIndex(tx, service, connect, tableNodes, tableServices, tableChecks)
}

// watchedChecks returns the checks of one instance of node (its node-level
// checks for serviceID ""), watching them.
func watchedChecks(tx *memdb.Txn, w *watcher, node, serviceID string) ([]*catalogv1.HealthCheck, error) {
	it, err := tx.Get(tableChecks, "node_service", node, serviceID)
	if err != nil {
		return nil, fmt.Errorf("list checks of %q on node %q: %w", serviceID, node, err)
	}
	w.add(it.WatchCh(), tableChecks)
	out, _ := collect[*catalogv1.HealthCheck](it, nil)
	return out, nil
}

func allPassing(checks []*catalogv1.HealthCheck) bool {
	for _, c := range checks {
		if c.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_PASSING {
			return false
		}
	}
	return true
}

// AllServiceHealth returns the catalog's whole health view, for consumers
// that keep one (the DNS gateway): every node sorted by name, every
// node-level check, and every instance sorted by service name, node name
// and service ID, each with its node and the checks bearing on it as in
// ServiceHealth.
func (s *Store) AllServiceHealth(ws memdb.WatchSet) (uint64, []*catalogv1.Node, []*catalogv1.HealthCheck, []*catalogv1.ServiceHealth, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	nit, err := tx.Get(tableNodes, "id")
	if err != nil {
		return 0, nil, nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	cit, err := tx.Get(tableChecks, "id")
	if err != nil {
		return 0, nil, nil, nil, fmt.Errorf("list checks: %w", err)
	}
	sit, err := tx.Get(tableServices, "service")
	if err != nil {
		return 0, nil, nil, nil, fmt.Errorf("list services: %w", err)
	}
	ws.Add(nit.WatchCh())
	ws.Add(cit.WatchCh())
	ws.Add(sit.WatchCh())

	var nodes []*catalogv1.Node
	byName := make(map[string]*catalogv1.Node)
	for raw := nit.Next(); raw != nil; raw = nit.Next() {
		n := raw.(*catalogv1.Node)
		nodes = append(nodes, n)
		byName[strings.ToLower(n.GetNode())] = n
	}
	var nodeChecks []*catalogv1.HealthCheck
	perNode := make(map[string][]*catalogv1.HealthCheck)
	perInstance := make(map[string][]*catalogv1.HealthCheck)
	for raw := cit.Next(); raw != nil; raw = cit.Next() {
		c := raw.(*catalogv1.HealthCheck)
		if c.GetServiceId() == "" {
			nodeChecks = append(nodeChecks, c)
			k := strings.ToLower(c.GetNode())
			perNode[k] = append(perNode[k], c)
			continue
		}
		k := instanceKey(c.GetNode(), c.GetServiceId())
		perInstance[k] = append(perInstance[k], c)
	}
	var instances []*catalogv1.ServiceHealth
	for raw := sit.Next(); raw != nil; raw = sit.Next() {
		row := raw.(*serviceRow)
		nc := perNode[strings.ToLower(row.node)]
		own := perInstance[instanceKey(row.node, row.svc.GetId())]
		checks := make([]*catalogv1.HealthCheck, 0, len(nc)+len(own))
		checks = append(append(checks, nc...), own...)
		instances = append(instances, &catalogv1.ServiceHealth{
			Node: byName[strings.ToLower(row.node)], Service: row.svc, Checks: checks,
		})
	}
	return maxIndex(tx, tableNodes, tableServices, tableChecks), nodes, nodeChecks, instances, nil
}
