package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkBodyDC refuses a write whose body names another datacenter, as ?dc
// does.
func (s *Server) checkBodyDC(dc string) error {
	if dc != "" && !strings.EqualFold(dc, s.dc) {
		return &httpError{status: http.StatusInternalServerError, msg: "No path to datacenter"}
	}
	return nil
}

// catalogRegister is PUT /v1/catalog/register.
func (s *Server) catalogRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var req consuljson.RegisterRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := s.checkBodyDC(req.Datacenter); err != nil {
		return nil, err
	}
	in, err := req.Proto()
	if err != nil {
		return nil, badRequest(err.Error())
	}
	in.Node.Datacenter = s.dc
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Catalog.Register(ctx, in); err != nil {
		return nil, err
	}
	return true, nil
}

// catalogDeregister is PUT /v1/catalog/deregister. Removing what is not
// there succeeds, as in Consul.
func (s *Server) catalogDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var req consuljson.DeregisterRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if err := s.checkBodyDC(req.Datacenter); err != nil {
		return nil, err
	}
	in, err := req.Proto()
	if err != nil {
		return nil, badRequest(err.Error())
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Catalog.Deregister(ctx, in); err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	return true, nil
}

// catalogDatacenters is GET /v1/catalog/datacenters. Like Consul's, it
// answers without a leader: the gateway knows its own datacenter.
func (s *Server) catalogDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.Catalog.ListDatacenters(ctx, &catalogv1.ListDatacentersRequest{})
	if status.Code(err) == codes.Unavailable && r.Context().Err() == nil {
		return []string{s.dc}, nil
	}
	if err != nil {
		return nil, err
	}
	dcs := slices.Clone(resp.GetDatacenters())
	if !slices.Contains(dcs, s.dc) {
		dcs = append([]string{s.dc}, dcs...)
	}
	return dcs, nil
}

// catalogNodes is GET /v1/catalog/nodes.
func (s *Server) catalogNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.Node](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Catalog.ListNodes(ctx, &catalogv1.ListNodesRequest{Options: opts, NodeMeta: nodeMeta(q)})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	nodes := make([]consuljson.Node, 0, len(resp.GetNodes()))
	for _, n := range resp.GetNodes() {
		nodes = append(nodes, consuljson.NodeFromProto(n, s.dc))
	}
	return f.apply(nodes)
}

// catalogServices is GET /v1/catalog/services: service names with the
// union of their instances' tags. A ?filter is evaluated over each instance
// (Consul's ServiceNode), which needs every instance rather than the
// summary.
func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.ServiceNode](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	if f != nil {
		return s.filteredServices(ctx, w, q, opts, mode, f)
	}
	resp, err := s.b.Catalog.ListServices(ctx, &catalogv1.ListServicesRequest{Options: opts, NodeMeta: nodeMeta(q)})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	out := make(map[string][]string, len(resp.GetServices()))
	for _, svc := range resp.GetServices() {
		out[svc.GetName()] = mergeTags(out[svc.GetName()], svc.GetTags())
	}
	return out, nil
}

// mergeTags adds tags to have, keeping the result sorted and distinct.
func mergeTags(have, tags []string) []string {
	out := append(slices.Clone(have), tags...)
	if out == nil {
		return []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// catalogServiceNodes is GET /v1/catalog/service/:service, and with connect
// GET /v1/catalog/connect/:service.
func (s *Server) catalogServiceNodes(connect bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		name, err := pathName(r, "service")
		if err != nil {
			return nil, err
		}
		q := r.URL.Query()
		opts, mode, f, err := filteredRead[consuljson.ServiceNode](q)
		if err != nil {
			return nil, err
		}
		ctx, cancel := callContext(r, opts)
		defer cancel()
		resp, err := s.b.Catalog.ServiceNodes(ctx, &catalogv1.ServiceNodesRequest{
			Options:  opts,
			Service:  name,
			Tags:     tags(q),
			NodeMeta: nodeMeta(q),
			Connect:  connect,
		})
		if err != nil {
			return nil, err
		}
		setReadMeta(w, resp.GetMeta(), mode)
		rows := make([]consuljson.ServiceNode, 0, len(resp.GetInstances()))
		for _, in := range resp.GetInstances() {
			rows = append(rows, consuljson.ServiceNodeFromProto(in.GetNode(), in.GetService(), s.dc))
		}
		return f.apply(rows)
	}
}

// catalogNode is GET /v1/catalog/node/:node; an unknown node is 200 null,
// as in Consul. ?filter applies to the services.
func (s *Server) catalogNode(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := pathName(r, "node")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.NodeService](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Catalog.NodeServices(ctx, &catalogv1.NodeServicesRequest{Options: opts, Node: name})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	if resp.GetNode() == nil {
		return (*consuljson.NodeServices)(nil), nil
	}
	out := &consuljson.NodeServices{
		Node:     consuljson.NodeFromProto(resp.GetNode(), s.dc),
		Services: make(map[string]consuljson.NodeService, len(resp.GetServices())),
	}
	for _, svc := range resp.GetServices() {
		ns := consuljson.NodeServiceFromProto(svc)
		ok, err := f.match(ns)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Services[ns.ID] = ns
		}
	}
	return out, nil
}

// catalogNodeServices is GET /v1/catalog/node-services/:node.
func (s *Server) catalogNodeServices(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := pathName(r, "node")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.NodeService](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Catalog.NodeServices(ctx, &catalogv1.NodeServicesRequest{Options: opts, Node: name})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	out := consuljson.NodeServiceList{Services: []consuljson.NodeService{}}
	if resp.GetNode() == nil {
		return out, nil
	}
	node := consuljson.NodeFromProto(resp.GetNode(), s.dc)
	out.Node = &node
	for _, svc := range resp.GetServices() {
		out.Services = append(out.Services, consuljson.NodeServiceFromProto(svc))
	}
	out.Services, err = f.apply(out.Services)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// metaMatches reports whether have holds every pair of want.
func metaMatches(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// filteredServices answers /v1/catalog/services?filter=: it lists every
// instance, keeps those whose node matches ?node-meta and whose flat row
// passes the filter, and sums up their tags by service name.
func (s *Server) filteredServices(ctx context.Context, w http.ResponseWriter, q url.Values,
	opts *queryv1.ReadOptions, mode string, f *filter[consuljson.ServiceNode]) (any, error) {
	resp, err := s.b.Health.ListServiceHealth(ctx, &catalogv1.ListServiceHealthRequest{Options: opts})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	want := nodeMeta(q)
	out := map[string][]string{}
	for _, in := range resp.GetInstances() {
		if !metaMatches(in.GetNode().GetMeta(), want) {
			continue
		}
		row := consuljson.ServiceNodeFromProto(in.GetNode(), in.GetService(), s.dc)
		ok, err := f.match(row)
		if err != nil {
			return nil, err
		}
		if ok {
			out[row.ServiceName] = mergeTags(out[row.ServiceName], row.ServiceTags)
		}
	}
	return out, nil
}
