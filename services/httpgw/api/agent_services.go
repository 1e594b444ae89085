package api

import (
	"cmp"
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// hashPollInterval is how often a hash-blocking GET /v1/agent/service/:id
// asks the agent whether the service changed; the agent API has no watch.
var hashPollInterval = 250 * time.Millisecond

// agentServices is GET /v1/agent/services: the agent's instances by ID.
func (s *Server) agentServices(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilter[consuljson.AgentService](r.URL.Query())
	if err != nil {
		return nil, err
	}
	resp, err := callAgent(s, r, AgentClient.ListServices, &agentv1.ListServicesRequest{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]consuljson.AgentService, len(resp.GetServices()))
	for _, svc := range resp.GetServices() {
		as := consuljson.AgentServiceFromProto(svc, s.dc)
		ok, err := f.match(as)
		if err != nil {
			return nil, err
		}
		if ok {
			out[as.ID] = as
		}
	}
	return out, nil
}

// agentService is GET /v1/agent/service/:id, with its ContentHash in the
// body and in X-Consul-ContentHash. With ?hash= it blocks, as Consul's
// hash-based blocking does, until the hash differs or ?wait (default 5 m,
// at most 10 m, plus up to 1/16 of jitter) passes.
func (s *Server) agentService(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, &httpError{status: http.StatusNotFound, msg: "unknown service ID: "}
	}
	q := r.URL.Query()
	hash := q.Get("hash")
	wait := defaultWait
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, badRequest("Invalid wait time")
		}
		wait = min(cmp.Or(d, defaultWait), maxWait)
	}
	if j := int64(wait / jitterFraction); j > 0 {
		wait += time.Duration(rand.Int64N(j))
	}
	deadline := time.Now().Add(wait)

	for {
		resp, err := callAgent(s, r, AgentClient.GetService, &agentv1.GetServiceRequest{ServiceId: id})
		if err != nil {
			return nil, err
		}
		if hash == "" || resp.GetContentHash() != hash || !time.Now().Before(deadline) {
			as := consuljson.AgentServiceFromProto(resp.GetService(), s.dc)
			as.ContentHash = resp.GetContentHash()
			if as.ContentHash != "" {
				w.Header().Set("X-Consul-ContentHash", as.ContentHash)
			}
			return as, nil
		}
		if err := pause(r.Context(), min(hashPollInterval, time.Until(deadline))); err != nil {
			return nil, err
		}
	}
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// agentServiceRegister is PUT /v1/agent/service/register
// [?replace-existing-checks]. Running out of sidecar ports is a 500, as
// in Consul, whose agent fails the registration with a plain error there
// (it was a 400 "Invalid SidecarService" before Consul 1.11).
func (s *Server) agentServiceRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var reg consuljson.AgentServiceRegistration
	if err := decodeConsulKeys(body, &reg); err != nil {
		return nil, err
	}
	// Consul takes the bare flag and "true"; any other value is false.
	q := r.URL.Query()
	replace := has(q, "replace-existing-checks") &&
		(q.Get("replace-existing-checks") == "" || q.Get("replace-existing-checks") == "true")
	req, err := reg.Proto(replace)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	if _, err := callAgent(s, r, AgentClient.RegisterService, req); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// agentServiceDeregister is PUT /v1/agent/service/deregister/:id; it takes
// the instance's checks and sidecar with it.
func (s *Server) agentServiceDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	req := &agentv1.DeregisterServiceRequest{ServiceId: r.PathValue("id")}
	if _, err := callAgent(s, r, AgentClient.DeregisterService, req); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// agentServiceMaintenance is PUT /v1/agent/service/maintenance/:id
// ?enable=&reason=.
func (s *Server) agentServiceMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	return s.maintenance(r, id)
}

// agentHealthByID is GET /v1/agent/health/service/id/:id: the instance, the
// checks bearing on it (its own and the node's) and their aggregated
// status, which is also the HTTP status: 200 passing, 429 warning, 503
// critical or in maintenance, 404 unknown. ?format=text or Accept:
// text/plain answers the status alone.
func (s *Server) agentHealthByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, badRequest("Missing serviceID")
	}
	infos, err := s.localHealth(r, func(svc *consuljson.AgentService) bool { return svc.ID == id })
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		msg := "ServiceId " + id + " not found"
		if wantsText(r) {
			return rawReply{status: http.StatusNotFound, contentType: "text/plain", body: []byte(msg)}, nil
		}
		return reply{status: http.StatusNotFound, body: consuljson.AgentServiceChecksInfo{AggregatedStatus: consuljson.StatusCritical}}, nil
	}
	info := infos[0]
	code := healthCode(info.AggregatedStatus)
	if wantsText(r) {
		return rawReply{status: code, contentType: "text/plain", body: []byte(info.AggregatedStatus)}, nil
	}
	return reply{status: code, body: info}, nil
}

// agentHealthByName is GET /v1/agent/health/service/name/:name: every
// instance of the service on this agent, with the worst status of them
// all as the HTTP status (404 and [] when there is none).
func (s *Server) agentHealthByName(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if name == "" {
		return nil, badRequest("Missing service Name")
	}
	infos, err := s.localHealth(r, func(svc *consuljson.AgentService) bool { return svc.Service == name })
	if err != nil {
		return nil, err
	}
	code, text := http.StatusNotFound, "ServiceName "+name+" Not Found"
	for _, info := range infos {
		if c := healthCode(info.AggregatedStatus); code == http.StatusNotFound || c > code {
			code, text = c, info.AggregatedStatus
		}
	}
	if wantsText(r) {
		return rawReply{status: code, contentType: "text/plain", body: []byte(text)}, nil
	}
	return reply{status: code, body: infos}, nil
}

// localHealth builds the health of the agent's instances that match, from
// its services and checks. Node checks bear on every instance.
func (s *Server) localHealth(r *http.Request, match func(*consuljson.AgentService) bool) ([]consuljson.AgentServiceChecksInfo, error) {
	svcs, err := callAgent(s, r, AgentClient.ListServices, &agentv1.ListServicesRequest{})
	if err != nil {
		return nil, err
	}
	var matched []consuljson.AgentService
	for _, svc := range svcs.GetServices() {
		if as := consuljson.AgentServiceFromProto(svc, s.dc); match(&as) {
			matched = append(matched, as)
		}
	}
	out := make([]consuljson.AgentServiceChecksInfo, 0, len(matched))
	if len(matched) == 0 {
		return out, nil
	}
	checks, err := callAgent(s, r, AgentClient.ListChecks, &agentv1.ListChecksRequest{})
	if err != nil {
		return nil, err
	}
	for i := range matched {
		cs := []consuljson.HealthCheck{}
		for _, c := range checks.GetChecks() {
			if c.GetServiceId() == "" || c.GetServiceId() == matched[i].ID {
				hc := consuljson.HealthCheckFromProto(c)
				if hc.Node == "" {
					hc.Node = s.node
				}
				cs = append(cs, hc)
			}
		}
		out = append(out, consuljson.AgentServiceChecksInfo{
			AggregatedStatus: consuljson.AggregatedStatus(cs),
			Service:          &matched[i],
			Checks:           cs,
		})
	}
	return out, nil
}

// healthCode is the HTTP status of an aggregated status.
func healthCode(status string) int {
	switch status {
	case consuljson.StatusPassing:
		return http.StatusOK
	case consuljson.StatusWarning:
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// wantsText reports whether the agent health endpoints should answer in
// plain text, as Consul decides it: an Accept starting with text/plain, or
// else ?format=text.
func wantsText(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
		return true
	}
	return r.URL.Query().Get("format") == "text"
}
