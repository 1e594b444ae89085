package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func TestParseDNSPerf(t *testing.T) {
	out, err := os.ReadFile("testdata/dnsperf.txt")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseDNSPerf(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.Rate, 16592.164737) || !near(r.AvgMs, 5.735) || !near(r.MaxMs, 181.549) ||
		r.Total != 49868 || r.Lost != 0 || r.Errors != 0 || r.RespBytes != 84 || !near(r.Seconds, 3.005515) {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseDNSPerf("dnsperf: socket: Too many open files"); err == nil {
		t.Fatal("no statistics: want an error")
	}
}

func TestParseDNSPerfErrors(t *testing.T) {
	out := `  Queries sent:         100
  Queries completed:    90 (90.00%)
  Queries lost:         10 (10.00%)

  Response codes:       NOERROR 80 (88.89%), SERVFAIL 10 (11.11%)
  Average packet size:  request 36, response 52
  Run time (s):         1.000
  Queries per second:   90.0

  Average Latency (s):  0.000500 (min 0.000100, max 0.002000)
`
	r, err := parseDNSPerf(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 10 || r.Lost != 10 || r.Total != 100 || !near(r.AvgMs, 0.5) {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseWrk(t *testing.T) {
	out, err := os.ReadFile("testdata/wrk.txt")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.Rate, 4050.46) || !near(r.P50ms, 14.15) || !near(r.P99ms, 95.31) || !near(r.AvgMs, 17.61) ||
		!near(r.MaxMs, 138.84) || r.Total != 12192 || r.Errors != 0 || !near(r.Seconds, 3.01) {
		t.Fatalf("parsed %+v", r)
	}
	if want := 114.74 * (1 << 20) / 12192; !near(r.RespBytes, want) {
		t.Fatalf("bytes/response %v, want %v", r.RespBytes, want)
	}
}

func TestParseWrkErrorsAndUnits(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:1/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   850.12us    1.20ms   1.02s    95.00%
  Latency Distribution
     50%  612.00us
     75%    1.00ms
     90%    2.00ms
     99%    1.50s
  1000 requests in 10.00s, 1.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    100.00
Transfer/sec:    102.40KB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.P50ms, 0.612) || !near(r.P99ms, 1500) || !near(r.AvgMs, 0.85012) || !near(r.MaxMs, 1020) || r.Errors != 10 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseDNSPerfLatencies(t *testing.T) {
	out := "[Status] Sending queries\n> NOERROR web.service.consul A 0.000100\n> NOERROR web.service.consul A 0.000300\n" +
		"> NOERROR web.service.consul A 0.000200\n> SERVFAIL web.service.consul A 0.004000\nStatistics:\n"
	p50, p99 := parseDNSPerfLatencies(out)
	if !near(p50, 0.3) || !near(p99, 4) {
		t.Fatalf("p50 %v p99 %v, want 0.3 and 4", p50, p99)
	}
	if p50, p99 := parseDNSPerfLatencies("no lines"); p50 != 0 || p99 != 0 {
		t.Fatalf("no lines: %v %v", p50, p99)
	}
}

func TestWrkPutLua(t *testing.T) {
	got := wrkPutLua(10000, 256)
	for _, want := range []string{
		`for i = 0, 256 - 1 do t[#t + 1] = string.char(97 + i % 26) end`, // putValue's bytes
		`local keys, reqs, i = 10000, {}, 0`,
		`string.format("/v1/kv/k%08d", k)`, // kvOps's keys
		`i = (i + 1) % keys`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "%!") {
		t.Errorf("script has a formatting error:\n%s", got)
	}
}
