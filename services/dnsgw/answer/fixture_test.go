package answer

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
)

const serial = 1700000000

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(serial, 0) }
	os.Exit(m.Run())
}

var (
	passing  = catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	warning  = catalogv1.HealthStatus_HEALTH_STATUS_WARNING
	critical = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
)

// fixture is a small datacenter with one of each case answers care about.
func fixture() fakecatalog.State {
	return fakecatalog.State{
		Nodes: []*catalogv1.Node{
			fakecatalog.Node("n1", "10.0.0.1", "rack", "r1", "env", "prod"),
			fakecatalog.Node("n2", "10.0.0.2"),
			fakecatalog.Node("n3", "10.0.0.3"),
			fakecatalog.Node("Mixed-Case", "10.0.0.4"),
			fakecatalog.Node("n6", "2001:db8::6"),
			fakecatalog.Node("nh", "host.example.com"),
		},
		NodeChecks: []*catalogv1.HealthCheck{
			fakecatalog.Serf("n1", passing),
			fakecatalog.Serf("n2", passing),
			fakecatalog.Serf("n3", critical), // every instance on n3 is out
		},
		Instances: []fakecatalog.Instance{
			{Node: "n1", Status: passing, Service: &catalogv1.Service{Id: "web1", Service: "web", Port: 80, Tags: []string{"v1", "Primary"}, Weights: &catalogv1.Weights{Passing: 10, Warning: 1}}},
			{Node: "n2", Status: warning, Service: &catalogv1.Service{Id: "web2", Service: "web", Port: 8080, Tags: []string{"v2"}, Weights: &catalogv1.Weights{Passing: 10, Warning: 1}}},
			{Node: "n3", Status: passing, Service: &catalogv1.Service{Id: "web3", Service: "web", Port: 80, Tags: []string{"v1"}}},
			{Node: "n1", Status: passing, Service: &catalogv1.Service{Id: "db1", Service: "db", Port: 5432, Address: "10.1.0.9"}},
			{Node: "n2", Status: critical, Service: &catalogv1.Service{Id: "api1", Service: "api", Port: 9090}},
			{Node: "n1", Status: passing, Service: &catalogv1.Service{
				Id: "web-sidecar-proxy", Service: "web-sidecar-proxy", Port: 21000,
				Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
				Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web", LocalServicePort: 80},
			}},
			{Node: "n2", Status: passing, Service: &catalogv1.Service{Id: "pay1", Service: "pay", Port: 9443, Connect: &catalogv1.ServiceConnect{Native: true}}},
			{Node: "n6", Service: &catalogv1.Service{Id: "v6", Service: "v6svc", Port: 8443}},
			{Node: "nh", Service: &catalogv1.Service{Id: "ext", Service: "ext", Port: 443}},
			{Node: "n1", Status: passing, Service: &catalogv1.Service{Id: "consul", Service: "consul", Port: 8300}},
		},
	}
}

func fixtureView(t testing.TB) *view.View {
	t.Helper()
	return view.Build(fakecatalog.Response(fixture(), 42), time.Now())
}

func newHandler(t testing.TB, mutate func(*Config)) *Handler {
	t.Helper()
	cfg := Config{Domain: "consul", AltDomain: "example.internal", Datacenter: "dc1", UDPAnswerLimit: 3, Views: staticViews{}}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

type staticViews struct{ v *view.View }

func (s staticViews) View() *view.View { return s.v }

// summary is a reply reduced to what the tests compare: records as
// single-spaced zone-file lines, answer order ignored.
type summary struct {
	Rcode      string
	AA, TC, RA bool
	Answer     []string
	Ns         []string
	Extra      []string
}

func summarize(m *dns.Msg) summary {
	s := summary{Rcode: dns.RcodeToString[m.Rcode], AA: m.Authoritative, TC: m.Truncated, RA: m.RecursionAvailable}
	lines := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			out = append(out, strings.Join(strings.Fields(rr.String()), " "))
		}
		slices.Sort(out)
		return out
	}
	s.Answer, s.Ns, s.Extra = lines(m.Answer), lines(m.Ns), lines(m.Extra)
	return s
}

// question is a name and type to ask about.
type question struct {
	name  string
	qtype uint16
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func soaLine(zone string) string {
	return fmt.Sprintf("%s 0 IN SOA ns.%s hostmaster.%s %d 3600 600 86400 0", zone, zone, zone, serial)
}
