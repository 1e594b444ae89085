// Package result is the one-line JSON record a bench measurement produces:
// bench/loadgen writes it, bench/run.sh appends it to results.jsonl and
// bench/report reads it back. Fields a kind of measurement does not fill are
// left out of the JSON.
package result

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
)

// Kinds of measurement; the report has one table per kind.
const (
	KindRate     = "rate"     // operations/s with p50/p99 (KV puts); the default
	KindStartup  = "startup"  // seconds to a leader, and idle RSS
	KindDNS      = "dns"      // dnsperf: q/s, average latency, lost, response size
	KindHTTP     = "http"     // wrk: req/s, p50/p99, non-2xx and socket errors
	KindLoad     = "load"     // bulk catalog registration: instances/s
	KindRSS      = "rss"      // resident memory of a process
	KindSnapshot = "snapshot" // GET /v1/snapshot: bytes and seconds
	KindFanout   = "fanout"   // blocking-query waiters woken by one change
	KindRestore  = "restore"  // PUT /v1/snapshot: bytes and seconds
	KindChecks   = "checks"   // health checks on one agent: catalog writes/s and agent CPU
	KindTCP      = "tcp"      // a TCP path: bulk MiB/s, or 64-byte round trips, or new connections/s
	KindDeploy   = "deploy"   // the compose deployment (tests/compose): seconds, or an image's bytes
)

// Result is one measurement.
type Result struct {
	Name   string `json:"name"`
	Kind   string `json:"kind,omitempty"`
	Run    int    `json:"run,omitempty"`
	Target string `json:"target,omitempty"`
	Op     string `json:"op,omitempty"`
	// Missing says why the measurement could not be made (a peer that
	// could not be installed, a server that did not start).
	Missing string `json:"missing,omitempty"`

	Clients int     `json:"clients,omitempty"`
	Total   int     `json:"total,omitempty"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`

	AvgMs     float64 `json:"avg_ms,omitempty"`
	MaxMs     float64 `json:"max_ms,omitempty"`
	Lost      int64   `json:"lost,omitempty"`
	RespBytes float64 `json:"resp_bytes,omitempty"` // average response size

	Instances int   `json:"instances,omitempty"` // catalog size when measured
	RSSKiB    int64 `json:"rss_kib,omitempty"`
	// CPUPercent is a process' CPU use over the measurement, in percent of
	// one core.
	CPUPercent float64 `json:"cpu_percent,omitempty"`
	// ProcCPUSeconds is the CPU time, user and system, that the processes
	// loadgen was told to watch (a proxy path's two proxies) used over the
	// measurement, all together.
	ProcCPUSeconds float64 `json:"proc_cpu_s,omitempty"`
	Bytes          int64   `json:"bytes,omitempty"`

	// Fan-out.
	Waiters           int     `json:"waiters,omitempty"`
	Returned          int64   `json:"returned,omitempty"`
	Early             int64   `json:"early,omitempty"` // returned before the change
	RSSBeforeKiB      int64   `json:"rss_before_kib,omitempty"`
	PerWaiterKiB      float64 `json:"per_waiter_kib,omitempty"`
	CatalogPerWaitKiB float64 `json:"catalog_per_waiter_kib,omitempty"`
	SetupSeconds      float64 `json:"setup_seconds,omitempty"`
}

// Encode writes r as one JSON line.
func Encode(w io.Writer, r Result) error { return json.NewEncoder(w).Encode(r) }

// ReadFile reads the JSON lines of a run, skipping lines that do not parse.
func ReadFile(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Name == "" {
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
