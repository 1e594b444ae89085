package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"github.com/hashicorp/go-bexpr/grammar"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestConsulSelectors checks that every selector Consul documents for an
// endpoint's ?filter names something in the struct the gateway filters.
func TestConsulSelectors(t *testing.T) {
	tests := []struct {
		typ       reflect.Type
		selectors string
	}{
		{reflect.TypeFor[consuljson.Node](), `Address Datacenter ID Meta Meta.k Node TaggedAddresses TaggedAddresses.lan`},
		{reflect.TypeFor[consuljson.ServiceNode](), `Address Datacenter ID Node NodeMeta NodeMeta.k TaggedAddresses
			TaggedAddresses.k ServiceAddress ServiceConnect.Native ServiceEnableTagOverride ServiceID ServiceKind
			ServiceMeta ServiceMeta.k ServiceName ServicePort ServiceProxy.DestinationServiceID
			ServiceProxy.DestinationServiceName ServiceProxy.LocalServiceAddress ServiceProxy.LocalServicePort
			ServiceProxy.Mode ServiceProxy.Upstreams ServiceProxy.Upstreams.0.DestinationName
			ServiceTaggedAddresses.lan.Address ServiceTaggedAddresses.lan.Port ServiceTags ServiceWeights.Passing
			ServiceWeights.Warning`},
		{reflect.TypeFor[consuljson.ServiceEntry](), `Checks Node.Address Node.Datacenter Node.ID Node.Meta Node.Meta.k
			Node.Node Node.TaggedAddresses Node.TaggedAddresses.k Service.Address Service.Connect.Native
			Service.EnableTagOverride Service.ID Service.Kind Service.Meta Service.Meta.k Service.Port Service.Service
			Service.Tags Service.TaggedAddresses.k.Address Service.TaggedAddresses.k.Port Service.Weights.Passing
			Service.Weights.Warning Service.Proxy.DestinationServiceID Service.Proxy.DestinationServiceName
			Service.Proxy.LocalServiceAddress Service.Proxy.LocalServicePort Service.Proxy.Mode Service.Proxy.Upstreams
			Service.Proxy.Upstreams.0.Datacenter Service.Proxy.Upstreams.0.DestinationName
			Service.Proxy.Upstreams.0.DestinationType Service.Proxy.Upstreams.0.LocalBindAddress
			Service.Proxy.Upstreams.0.LocalBindPort Checks.0.Status`},
		{reflect.TypeFor[consuljson.HealthCheck](), `CheckID Name Node Notes Output ServiceID ServiceName ServiceTags Status Type`},
		{reflect.TypeFor[consuljson.NodeService](), `Address ID Service Tags Port Meta Meta.k Kind EnableTagOverride
			Weights.Passing Weights.Warning TaggedAddresses.k.Address TaggedAddresses.k.Port Proxy.DestinationServiceName
			Connect.Native`},
	}
	for _, tt := range tests {
		for _, sel := range strings.Fields(tt.selectors) {
			s := grammar.Selector{Type: grammar.SelectorTypeBexpr, Path: strings.Split(sel, ".")}
			if _, err := checkSelector(tt.typ, s, nil); err != nil {
				t.Errorf("%s: %v", tt.typ.Name(), err)
			}
		}
	}
}

func TestReadOptionsJitter(t *testing.T) {
	for range 200 {
		opts, _, err := readOptions(url.Values{"index": {"5"}, "wait": {"16s"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := opts.GetMaxWait().AsDuration(); d < 16*time.Second || d >= 17*time.Second {
			t.Fatalf("max_wait %v outside [16s, 17s)", d)
		}
	}
}

func TestSetReadMetaNeverZero(t *testing.T) {
	rec := httptest.NewRecorder()
	setReadMeta(rec, nil, "leader")
	for h, want := range map[string]string{
		"X-Consul-Index": "1", "X-Consul-KnownLeader": "false", "X-Consul-LastContact": "0",
		"X-Consul-Effective-Consistency": "leader",
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for hdr, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"GZIP":                true,
		"deflate, gzip;q=1.0": true,
		"gzip;q=0":            false,
		"gzip; q=0.000":       false,
		"br, deflate":         false,
		"x-gzip":              false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if hdr != "" {
			r.Header.Set("Accept-Encoding", hdr)
		}
		if got := acceptsGzip(r); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", hdr, got, want)
		}
	}
}

func TestStatusOfContext(t *testing.T) {
	base, stop := context.WithCancelCause(context.Background())
	stop(ErrShuttingDown)
	if code, _ := statusOf(base, status.Error(codes.Canceled, "x"), nil); code != http.StatusServiceUnavailable {
		t.Errorf("shutdown: %d, want 503", code)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if code, _ := statusOf(gone, status.Error(codes.Canceled, "x"), nil); code != 499 {
		t.Errorf("client gone: %d, want 499", code)
	}
	if code, msg := statusOf(context.Background(), errors.New("stream broke"), nil); code != 500 || msg != "stream broke" {
		t.Errorf("plain error: %d %q", code, msg)
	}
	if code, _ := statusOf(context.Background(), status.Error(codes.NotFound, "x"), codeOverrides{codes.NotFound: 400}); code != 400 {
		t.Errorf("override: %d", code)
	}
}

func TestNodeMetaAndTags(t *testing.T) {
	q := url.Values{"node-meta": {"rack:r1", "env:prod:eu", "bare", ":x"}, "tag": {"a", "", "b"}}
	got := nodeMeta(q)
	want := map[string]string{"rack": "r1", "env": "prod:eu", "bare": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodeMeta = %v, want %v", got, want)
	}
	if got := tags(q); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("tags = %v", got)
	}
}

// FuzzReadOptions: no query string makes the parser panic, and what it
// accepts is within Consul's limits.
func FuzzReadOptions(f *testing.F) {
	for _, s := range []string{"index=5&wait=60000ms", "wait=99999h&index=1", "stale&consistent", "index=-1", "wait=1e3s", "index=1&wait=0s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		opts, mode, err := readOptions(q)
		if err != nil {
			return
		}
		if mode == "" {
			t.Fatal("no consistency mode")
		}
		if w := opts.GetMaxWait().AsDuration(); w > MaxBlockingTime || w < 0 {
			t.Fatalf("max_wait %v out of bounds", w)
		}
	})
}

// FuzzDecodeRegister: any body is either refused with a 400 or converts.
func FuzzDecodeRegister(f *testing.F) {
	for _, s := range []string{
		`{"Node":"n","Address":"a","Service":{"Service":"s","Proxy":{"Config":{"a":[1,{"b":null}]}}}}`,
		`{"node":"n","address":"a","checks":[null,{"name":"c","definition":{"interval":10}}]}`,
		`[]`, `null`, `{"Service":{"TaggedAddresses":{"x":{"Port":-1}}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req consuljson.RegisterRequest
		if err := decodeJSON([]byte(body), &req); err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest {
				t.Fatalf("decode error %v is not a 400", err)
			}
			return
		}
		_, _ = req.Proto()
	})
}

// FuzzFilter: no expression makes compiling or evaluating a filter panic.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{`Service.Meta.env == "qa"`, `"v1" in Service.Tags`, `any Checks as c { c.Status == "passing" }`,
		`Service.Port == 80 and not (Node.Node matches "^n")`, `Checks.Status == passing`, `/Service/Port == 1`} {
		f.Add(s)
	}
	entry := consuljson.ServiceEntry{
		Service: consuljson.NodeService{Tags: []string{"v1"}, Meta: map[string]string{"env": "qa"}, Port: 80},
		Checks:  []consuljson.HealthCheck{{Status: "passing"}},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		fl, err := parseFilter[consuljson.ServiceEntry](url.Values{"filter": {expr}})
		if err != nil || fl == nil {
			return
		}
		_, _ = fl.match(entry)
	})
}
