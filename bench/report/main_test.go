package main

import (
	"strings"
	"testing"

	"github.com/beaconmesh/beacon/bench/internal/result"
)

func TestRenderRatiosPairRuns(t *testing.T) {
	rs := []result.Result{
		{Name: "dns-A/floor", Kind: result.KindDNS, Run: 1, Rate: 100},
		{Name: "dns-A/dnsgw", Kind: result.KindDNS, Run: 1, Rate: 50, Instances: 10000},
		{Name: "dns-A/floor", Kind: result.KindDNS, Run: 2, Rate: 200},
		{Name: "dns-A/dnsgw", Kind: result.KindDNS, Run: 2, Rate: 200, Instances: 10000},
		{Name: "dns-A/floor", Kind: result.KindDNS, Run: 3, Rate: 100},
		{Name: "dns-A/dnsgw", Kind: result.KindDNS, Run: 3, Rate: 90, Instances: 10000},
		{Name: "tcp-bulk/direct", Kind: result.KindTCP, Run: 1, Rate: 1000},
		{Name: "tcp-rtt/direct", Kind: result.KindTCP, Run: 1, P50ms: 0.03},
		{Name: "tcp-conns/direct", Kind: result.KindTCP, Run: 1, Rate: 4000},
		{Name: "tcp-bulk/beacon-mtls2", Kind: result.KindTCP, Run: 1, Missing: "beacon-proxy does not build"},
		{Name: "tcp-bulk/gorelay2", Kind: result.KindTCP, Run: 1, Rate: 800, Bytes: 2 << 30, ProcCPUSeconds: 1.5},
		{Name: "tcp-rtt/gorelay2", Kind: result.KindTCP, Run: 1, P50ms: 0.15},
		{Name: "tcp-conns/gorelay2", Kind: result.KindTCP, Run: 1, Rate: 1500},
		{Name: "startup/agent-dev", Kind: result.KindStartup, Run: 1, Seconds: 0.2, RSSKiB: 30 << 10},
	}
	out := render(rs)
	for _, want := range []string{
		"| DNS A q/s: beacon-dnsgw / miekg floor | 0.90× (0.50–1.00) | ≥ 0.9× | yes |",
		"| Proxy bulk MiB/s: Beacon two mTLS sidecars / direct | missing: beacon-proxy does not build |",
		"| direct loopback (the floor) | 1000 | – | 30 |",
		// 1.5 s of the relays' CPU for 2 GiB.
		"| two plain Go relays, no TLS: app → relay → relay → server | 800 | 750 | 150 |",
		"idle RSS, 2 s after leader) | 1 | 30.0 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestRenderProxyCPUPerGiB(t *testing.T) {
	rs := []result.Result{
		{Name: "tcp-bulk/beacon-mtls2", Kind: result.KindTCP, Run: 1, Rate: 900, Bytes: 1 << 30, ProcCPUSeconds: 1.4},
		{Name: "tcp-bulk/haproxy-mtls2", Kind: result.KindTCP, Run: 1, Rate: 500, Bytes: 1 << 30, ProcCPUSeconds: 2.8},
		{Name: "tcp-bulk/beacon-mtls2", Kind: result.KindTCP, Run: 2, Rate: 800, Bytes: 1 << 30, ProcCPUSeconds: 1.5},
		{Name: "tcp-bulk/haproxy-mtls2", Kind: result.KindTCP, Run: 2, Rate: 500, Bytes: 1 << 30, ProcCPUSeconds: 2.0},
		{Name: "tcp-rtt/beacon-mtls2", Kind: result.KindTCP, Run: 1, P50ms: 0.1},
		{Name: "tcp-conns/beacon-mtls2", Kind: result.KindTCP, Run: 1, Rate: 400},
	}
	out := render(rs)
	for _, want := range []string{
		"| Proxy bulk MiB/s: Beacon / HAProxy (both two mTLS sidecars) | 1.70× (1.60–1.80) | ≥ 1.5× | yes |",
		// Per run: 1.4/2.8 = 0.50 and 1.5/2.0 = 0.75.
		"| Proxy bulk, CPU per GiB of the two sidecars: Beacon / HAProxy (lower is better) | 0.62× (0.50–0.75) | – | – |",
		"| Beacon: app → sidecar ==mTLS==> sidecar → server | 850 (800–900) | 1450 (1400–1500) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
