package state

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// Register upserts a node and, optionally, one service instance on it and
// checks, at Raft index idx, all or nothing.
//
// Content identical to what is stored (ignoring the index fields) is left
// untouched: no index moves and no watch fires, because agents re-sync
// their registrations constantly. A check's node defaults to the request's
// node; a service check must name a service on that node, and takes the
// service's name and tags; a check without status is critical, and a
// critical check invalidates the sessions that depend on it.
func (s *Store) Register(idx uint64, req *catalogv1.RegisterRequest) error {
	if req == nil {
		return fmt.Errorf("register: %w: nil request", ErrInvalidRequest)
	}
	if req.GetNode().GetNode() == "" {
		return fmt.Errorf("register: %w", ErrMissingNode)
	}
	err := s.write(idx, func(w *writeTxn) error {
		node := req.GetNode().GetNode()
		if err := w.ensureNode(req.GetNode(), req.GetSkipNodeUpdate()); err != nil {
			return err
		}
		if req.GetService() != nil {
			if err := w.ensureService(node, req.GetService()); err != nil {
				return err
			}
		}
		for i, c := range req.GetChecks() {
			if c == nil {
				return fmt.Errorf("check %d: %w: nil check", i, ErrInvalidRequest)
			}
			if err := w.ensureCheck(node, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("register node %q: %w", req.GetNode().GetNode(), err)
	}
	return nil
}

// Deregister removes, at Raft index idx, one check (check_id), one service
// instance with its checks (service_id), or — when neither is set — the
// whole node with its services and checks, invalidating its sessions.
// Removing something that does not exist is not an error.
func (s *Store) Deregister(idx uint64, req *catalogv1.DeregisterRequest) error {
	if req == nil {
		return fmt.Errorf("deregister: %w: nil request", ErrInvalidRequest)
	}
	if req.GetNode() == "" {
		return fmt.Errorf("deregister: %w", ErrMissingNode)
	}
	err := s.write(idx, func(w *writeTxn) error {
		if req.GetServiceId() == "" && req.GetCheckId() == "" {
			return w.deleteNode(req.GetNode())
		}
		if req.GetServiceId() != "" {
			if err := w.deleteService(req.GetNode(), req.GetServiceId()); err != nil {
				return err
			}
		}
		if req.GetCheckId() != "" {
			return w.deleteCheck(req.GetNode(), req.GetCheckId())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deregister node %q: %w", req.GetNode(), err)
	}
	return nil
}

func (w *writeTxn) ensureNode(n *catalogv1.Node, skipUpdate bool) error {
	raw, err := w.First(tableNodes, "id", n.GetNode())
	if err != nil {
		return fmt.Errorf("look up node: %w", err)
	}
	if raw != nil && skipUpdate {
		return nil
	}
	if raw == nil && n.GetAddress() == "" {
		return fmt.Errorf("node %q is not registered: %w", n.GetNode(), ErrMissingNodeAddress)
	}
	nn := proto.Clone(n).(*catalogv1.Node)
	if raw != nil {
		old := raw.(*catalogv1.Node)
		nn.CreateIndex, nn.ModifyIndex = old.GetCreateIndex(), old.GetModifyIndex()
		if proto.Equal(nn, old) {
			return nil
		}
	} else {
		nn.CreateIndex = w.idx
	}
	nn.ModifyIndex = w.idx
	if err := w.Insert(tableNodes, nn); err != nil {
		return fmt.Errorf("insert node: %w", err)
	}
	w.touch(tableNodes)
	// Service queries return each instance's node, so they changed too.
	return w.touchNodeServices(nn.GetNode())
}

func (w *writeTxn) ensureService(node string, svc *catalogv1.Service) error {
	if svc.GetService() == "" {
		return fmt.Errorf("service %q: %w", svc.GetId(), ErrMissingServiceName)
	}
	ns := proto.Clone(svc).(*catalogv1.Service)
	if ns.Id == "" {
		ns.Id = ns.Service
	}
	raw, err := w.First(tableServices, "id", node, ns.GetId())
	if err != nil {
		return fmt.Errorf("look up service %q: %w", ns.GetId(), err)
	}
	if raw != nil {
		old := raw.(*serviceRow)
		ns.CreateIndex, ns.ModifyIndex = old.svc.GetCreateIndex(), old.svc.GetModifyIndex()
		if proto.Equal(ns, old.svc) {
			return nil
		}
		// The instance may have changed name or destination.
		w.touchService(old.svc)
	} else {
		ns.CreateIndex = w.idx
	}
	ns.ModifyIndex = w.idx
	if err := w.Insert(tableServices, &serviceRow{node: node, svc: ns}); err != nil {
		return fmt.Errorf("insert service %q: %w", ns.GetId(), err)
	}
	w.touch(tableServices)
	w.touchService(ns)

	// Checks carry their service's name and tags.
	checks, err := collect[*catalogv1.HealthCheck](w.Get(tableChecks, "node_service", node, ns.GetId()))
	if err != nil {
		return fmt.Errorf("list checks of service %q: %w", ns.GetId(), err)
	}
	for _, c := range checks {
		if c.GetServiceName() == ns.GetService() && slices.Equal(c.GetServiceTags(), ns.GetTags()) {
			continue
		}
		nc := proto.Clone(c).(*catalogv1.HealthCheck)
		nc.ServiceName = ns.GetService()
		nc.ServiceTags = slices.Clone(ns.GetTags())
		nc.ModifyIndex = w.idx
		if err := w.Insert(tableChecks, nc); err != nil {
			return fmt.Errorf("update check %q: %w", nc.GetCheckId(), err)
		}
		w.touch(tableChecks)
	}
	return nil
}

func (w *writeTxn) ensureCheck(node string, c *catalogv1.HealthCheck) error {
	nc := proto.Clone(c).(*catalogv1.HealthCheck)
	switch {
	case nc.Node == "":
		nc.Node = node
	case !strings.EqualFold(nc.Node, node):
		return fmt.Errorf("check %q: %w: node %q", nc.GetCheckId(), ErrCheckNodeMismatch, nc.GetNode())
	}
	if nc.CheckId == "" {
		return fmt.Errorf("check %q: %w", nc.GetName(), ErrMissingCheckID)
	}
	if nc.Status == catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
		nc.Status = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
	}
	nc.ServiceName, nc.ServiceTags = "", nil
	if nc.ServiceId != "" {
		raw, err := w.First(tableServices, "id", nc.GetNode(), nc.GetServiceId())
		if err != nil {
			return fmt.Errorf("look up service %q: %w", nc.GetServiceId(), err)
		}
		if raw == nil {
			return fmt.Errorf("check %q: %w: service %q on node %q",
				nc.GetCheckId(), ErrUnknownService, nc.GetServiceId(), nc.GetNode())
		}
		svc := raw.(*serviceRow).svc
		nc.ServiceId = svc.GetId()
		nc.ServiceName = svc.GetService()
		nc.ServiceTags = slices.Clone(svc.GetTags())
	}

	raw, err := w.First(tableChecks, "id", nc.GetNode(), nc.GetCheckId())
	if err != nil {
		return fmt.Errorf("look up check %q: %w", nc.GetCheckId(), err)
	}
	if raw != nil {
		old := raw.(*catalogv1.HealthCheck)
		nc.CreateIndex, nc.ModifyIndex = old.GetCreateIndex(), old.GetModifyIndex()
		if proto.Equal(nc, old) {
			return nil
		}
		// The check may have moved between services.
		if err := w.touchCheckServices(old); err != nil {
			return err
		}
	} else {
		nc.CreateIndex = w.idx
	}
	nc.ModifyIndex = w.idx
	if err := w.Insert(tableChecks, nc); err != nil {
		return fmt.Errorf("insert check %q: %w", nc.GetCheckId(), err)
	}
	w.touch(tableChecks)
	if err := w.touchCheckServices(nc); err != nil {
		return err
	}
	if nc.GetStatus() == catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL {
		return w.invalidateCheckSessions(nc.GetNode(), nc.GetCheckId())
	}
	return nil
}

// touchCheckServices touches the services whose health c bears on: its own
// service, or every service on its node for a node-level check.
func (w *writeTxn) touchCheckServices(c *catalogv1.HealthCheck) error {
	if c.GetServiceId() == "" {
		return w.touchNodeServices(c.GetNode())
	}
	raw, err := w.First(tableServices, "id", c.GetNode(), c.GetServiceId())
	if err != nil {
		return fmt.Errorf("look up service %q: %w", c.GetServiceId(), err)
	}
	if raw != nil {
		w.touchService(raw.(*serviceRow).svc)
	} else {
		w.touchService(&catalogv1.Service{Service: c.GetServiceName()})
	}
	return nil
}

func (w *writeTxn) deleteCheck(node, checkID string) error {
	raw, err := w.First(tableChecks, "id", node, checkID)
	if err != nil {
		return fmt.Errorf("look up check %q: %w", checkID, err)
	}
	if raw == nil {
		return nil
	}
	c := raw.(*catalogv1.HealthCheck)
	if err := w.touchCheckServices(c); err != nil {
		return err
	}
	if err := w.Delete(tableChecks, c); err != nil {
		return fmt.Errorf("delete check %q: %w", checkID, err)
	}
	w.touch(tableChecks)
	return w.invalidateCheckSessions(c.GetNode(), c.GetCheckId())
}

func (w *writeTxn) deleteService(node, id string) error {
	raw, err := w.First(tableServices, "id", node, id)
	if err != nil {
		return fmt.Errorf("look up service %q: %w", id, err)
	}
	if raw == nil {
		return nil
	}
	row := raw.(*serviceRow)
	checks, err := collect[*catalogv1.HealthCheck](w.Get(tableChecks, "node_service", node, row.svc.GetId()))
	if err != nil {
		return fmt.Errorf("list checks of service %q: %w", id, err)
	}
	for _, c := range checks {
		if err := w.deleteCheck(c.GetNode(), c.GetCheckId()); err != nil {
			return err
		}
	}
	if err := w.Delete(tableServices, row); err != nil {
		return fmt.Errorf("delete service %q: %w", id, err)
	}
	w.touch(tableServices)
	w.touchService(row.svc)
	return nil
}

func (w *writeTxn) deleteNode(node string) error {
	raw, err := w.First(tableNodes, "id", node)
	if err != nil {
		return fmt.Errorf("look up node: %w", err)
	}
	if raw == nil {
		return nil
	}
	rows, err := nodeServiceRows(w.Txn, node)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := w.deleteService(r.node, r.svc.GetId()); err != nil {
			return err
		}
	}
	checks, err := collect[*catalogv1.HealthCheck](w.Get(tableChecks, "node", node))
	if err != nil {
		return fmt.Errorf("list checks of node: %w", err)
	}
	for _, c := range checks {
		if err := w.deleteCheck(c.GetNode(), c.GetCheckId()); err != nil {
			return err
		}
	}
	if err := w.invalidateNodeSessions(node); err != nil {
		return err
	}
	if err := w.Delete(tableNodes, raw); err != nil {
		return fmt.Errorf("delete node: %w", err)
	}
	w.touch(tableNodes)
	return nil
}
