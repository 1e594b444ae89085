package leaf

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseServiceID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ServiceID
		err  string
	}{
		{"spiffe://abc.consul/ns/default/dc/dc1/svc/web", ServiceID{"abc.consul", "default", "dc1", "web"}, ""},
		{"SPIFFE://abc.consul/ns/team/dc/eu-1/svc/db", ServiceID{"abc.consul", "team", "eu-1", "db"}, ""},
		{"https://abc.consul/ns/default/dc/dc1/svc/web", ServiceID{}, "want spiffe://"},
		{"spiffe:///ns/default/dc/dc1/svc/web", ServiceID{}, "want spiffe://"},
		{"spiffe://abc.consul/agent/client/dc/dc1/id/x", ServiceID{}, "want path"},
		{"spiffe://abc.consul/ns/default/dc/dc1/svc/", ServiceID{}, "want path"},
		{"spiffe://abc.consul/ns/default/dc/dc1/svc/web/extra", ServiceID{}, "want path"},
		{"spiffe://abc.consul", ServiceID{}, "want path"},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseServiceID(u)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseServiceID(%s) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseServiceID(%s) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseServiceID(nil); err == nil {
		t.Error("ParseServiceID(nil) succeeded")
	}
}

func TestServiceIDRoundTrip(t *testing.T) {
	id := ServiceID{TrustDomain: "abc.consul", Datacenter: "dc1", Service: "web"}
	if got := id.String(); got != "spiffe://abc.consul/ns/default/dc/dc1/svc/web" {
		t.Fatalf("String = %s", got)
	}
	back, err := ParseServiceID(id.URI())
	if err != nil || back.Service != "web" || back.Namespace != "default" {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func TestRenewAt(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(100 * time.Hour)
	at := func(h float64) time.Time { return start.Add(time.Duration(h * float64(time.Hour))) }
	for _, tt := range []struct {
		name string
		now  time.Time
		r    float64
		want time.Time
	}{
		{"fresh leaf, earliest point", start, 0, at(60)},
		{"fresh leaf, middle", start, 0.5, at(75)},
		{"fresh leaf, near the latest point", start, 0.999, at(89.97)},
		{"past the soft point: now", at(80), 0.1, at(80)},
		{"past 90%: now", at(95), 0.9, at(95)},
		{"expired: now", at(120), 0.5, at(120)},
		{"empty lifetime: now", start, 0.5, start},
	} {
		t.Run(tt.name, func(t *testing.T) {
			va, vb := start, end
			if tt.name == "empty lifetime: now" {
				vb = va
			}
			got := RenewAt(va, vb, tt.now, tt.r)
			if d := got.Sub(tt.want); d < -time.Second || d > time.Second {
				t.Fatalf("RenewAt = %v, want %v", got, tt.want)
			}
		})
	}
}
