package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/result"
)

// dnsperf runs dnsperf (one thread, -q 100) for one repeated question and
// parses its statistics. dnsperf sends no EDNS0, so servers answer within
// 512 bytes. dnsperf 2.10 reports only the mean latency, so a second, short
// pass at a fixed offered rate (latQPS, the same for every server) with -v
// gives p50 and p99 from its per-query lines.
func dnsperf(addr, qname, qtype string, clients, seconds, latQPS, latSeconds int) (Result, error) {
	res, err := dnsperfPass(addr, qname, qtype, clients, seconds, 0)
	if err != nil || latQPS <= 0 {
		return res, err
	}
	lat, err := dnsperfPass(addr, qname, qtype, clients, latSeconds, latQPS)
	if err != nil {
		return Result{}, fmt.Errorf("latency pass: %w", err)
	}
	res.P50ms, res.P99ms = lat.P50ms, lat.P99ms
	return res, nil
}

// dnsperfPass is one dnsperf run; with qps > 0 it is rate-limited and
// verbose, and its per-query latencies give P50ms and P99ms.
func dnsperfPass(addr, qname, qtype string, clients, seconds, qps int) (Result, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Result{}, err
	}
	qf, err := os.CreateTemp("", "dnsperf-*.txt")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(qf.Name())
	fmt.Fprintf(qf, "%s %s\n", qname, qtype)
	qf.Close()
	args := []string{"-s", host, "-p", port, "-d", qf.Name(), "-c", strconv.Itoa(clients), "-q", "100", "-l", strconv.Itoa(seconds)}
	if qps > 0 {
		args = append(args, "-Q", strconv.Itoa(qps), "-v")
	}
	out, err := exec.Command("dnsperf", args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("dnsperf %s: %w\n%s", strings.Join(args, " "), err, tail(out))
	}
	res, err := parseDNSPerf(string(out))
	if err != nil {
		return Result{}, fmt.Errorf("%w\n%s", err, tail(out))
	}
	if qps > 0 {
		res.P50ms, res.P99ms = parseDNSPerfLatencies(string(out))
	}
	res.Clients = clients
	return res, nil
}

// parseDNSPerfLatencies reads the per-query lines of dnsperf -v
// ("> NOERROR web.service.consul A 0.000463") and returns p50 and p99 in ms.
func parseDNSPerfLatencies(out string) (p50, p99 float64) {
	var lat []float64
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "> ") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			lat = append(lat, v*1000)
		}
	}
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// tail keeps the end of a tool's output for an error message.
func tail(out []byte) []byte {
	if len(out) > 2000 {
		return out[len(out)-2000:]
	}
	return out
}

var (
	dpSent      = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	dpCompleted = regexp.MustCompile(`Queries completed:\s+(\d+)`)
	dpLost      = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	dpCodes     = regexp.MustCompile(`Response codes:\s+(.*)`)
	dpCode      = regexp.MustCompile(`([A-Z]+) (\d+)`)
	dpSize      = regexp.MustCompile(`Average packet size:\s+request (\d+), response (\d+)`)
	dpRunTime   = regexp.MustCompile(`Run time \(s\):\s+([\d.]+)`)
	dpQPS       = regexp.MustCompile(`Queries per second:\s+([\d.]+)`)
	dpLatency   = regexp.MustCompile(`Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)`)
)

func parseDNSPerf(out string) (Result, error) {
	var r Result
	r.Kind, r.Op = result.KindDNS, "dnsperf"
	qps := dpQPS.FindStringSubmatch(out)
	lat := dpLatency.FindStringSubmatch(out)
	completed := dpCompleted.FindStringSubmatch(out)
	if qps == nil || lat == nil || completed == nil {
		return r, fmt.Errorf("dnsperf output has no statistics")
	}
	r.Rate = atof(qps[1])
	r.AvgMs = atof(lat[1]) * 1000
	r.MaxMs = atof(lat[3]) * 1000
	done := int64(atof(completed[1]))
	r.Total = int(done)
	if m := dpSent.FindStringSubmatch(out); m != nil {
		r.Total = int(atof(m[1]))
	}
	if m := dpLost.FindStringSubmatch(out); m != nil {
		r.Lost = int64(atof(m[1]))
	}
	if m := dpSize.FindStringSubmatch(out); m != nil {
		r.RespBytes = atof(m[2])
	}
	if m := dpRunTime.FindStringSubmatch(out); m != nil {
		r.Seconds = atof(m[1])
	}
	// Anything but NOERROR is an error: SERVFAIL before the view is
	// loaded, NXDOMAIN for a missing service.
	var noerror int64
	if m := dpCodes.FindStringSubmatch(out); m != nil {
		for _, c := range dpCode.FindAllStringSubmatch(m[1], -1) {
			if c[1] == "NOERROR" {
				noerror = int64(atof(c[2]))
			}
		}
	}
	r.Errors = done - noerror
	return r, nil
}

// wrk runs wrk with --latency against one URL, with any extra arguments
// (a Lua script), and parses its statistics.
func wrk(url string, threads, conns, seconds int, extra ...string) (Result, error) {
	args := append([]string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(seconds) + "s", "--latency"}, extra...)
	args = append(args, url)
	out, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	res, err := parseWrk(string(out))
	if err != nil {
		return Result{}, fmt.Errorf("%w\n%s", err, out)
	}
	res.Clients = conns
	return res, nil
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s+Latency\s+([\d.]+)(us|ms|s|m)\s+\S+\s+([\d.]+)(us|ms|s|m)`)
	wrkRequests = regexp.MustCompile(`(\d+) requests in ([\d.]+)(ms|s|m), ([\d.]+)([KMGT]?B) read`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func parseWrk(out string) (Result, error) {
	var r Result
	r.Kind, r.Op = result.KindHTTP, "wrk"
	rps := wrkRPS.FindStringSubmatch(out)
	if rps == nil {
		return r, fmt.Errorf("wrk output has no Requests/sec")
	}
	r.Rate = atof(rps[1])
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		v := dur(m[2], m[3])
		if m[1] == "50" {
			r.P50ms = v
		} else {
			r.P99ms = v
		}
	}
	if m := wrkLatency.FindStringSubmatch(out); m != nil {
		r.AvgMs = dur(m[1], m[2])
		r.MaxMs = dur(m[3], m[4])
	}
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.Total = int(atof(m[1]))
		r.Seconds = dur(m[2], m[3]) / 1000
		read := atof(m[4]) * map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[5]]
		if r.Total > 0 {
			r.RespBytes = read / float64(r.Total)
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Errors += int64(atof(m[1]))
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			r.Errors += int64(atof(s))
		}
	}
	return r, nil
}

// dur converts a wrk duration to milliseconds.
func dur(v, unit string) float64 {
	d := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[unit]
	return atof(v) * float64(d) / float64(time.Millisecond)
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// wrkPutScript is the Lua script of wrkPut (see wrkPutLua). Each
// wrk thread cycles through the keys from the first, and every request is
// formatted once, before the measurement.
const wrkPutScript = `-- written by loadgen: PUT /v1/kv/k%%08d over %d keys
local t = {}
for i = 0, %d - 1 do t[#t + 1] = string.char(97 + i %% 26) end
local value = table.concat(t)
local keys, reqs, i = %d, {}, 0
function init(args)
  for k = 0, keys - 1 do
    reqs[k] = wrk.format("PUT", string.format("/v1/kv/k%%08d", k),
      {["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/octet-stream"}, value)
  end
end
function request()
  local r = reqs[i]
  i = (i + 1) %% keys
  return r
end
`

// wrkPutLua is wrkPut's script for puts over keys keys of size bytes.
func wrkPutLua(keys, size int) string {
	return fmt.Sprintf(wrkPutScript, keys, size, keys)
}

// wrkPut is -op put -target wrk-put: clients keep-alive connections of wrk
// PUT the same keys and values as the Go clients' puts (kvOps) to
// beacon-httpgw at addr for seconds. On a machine whose cores the load
// generator shares with the servers, its own CPU per request is part of
// every rate: wrk spends less of it than a Go HTTP client, as etcd's gRPC
// client, carrying 64 clients over 4 connections, does.
func wrkPut(addr string, clients, valueSize, seconds int) (Result, error) {
	f, err := os.CreateTemp("", "loadgen-put-*.lua")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(wrkPutLua(kvKeys, valueSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Result{}, fmt.Errorf("write the wrk script: %w", err)
	}
	res, err := wrk("http://"+addr, min(2, clients), clients, seconds, "-s", f.Name())
	if err != nil {
		return Result{}, err
	}
	res.Kind, res.Op = result.KindRate, "put"
	if res.Errors > 0 {
		return res, fmt.Errorf("wrk: %d of %d puts failed", res.Errors, res.Total)
	}
	// The rate counts answers: check that a key holds what was put.
	if err := checkPut("http://"+addr+"/v1/kv/", putValue(valueSize)); err != nil {
		return res, fmt.Errorf("check a put: %w", err)
	}
	return res, nil
}

// checkPut checks that the first key under the KV URL base holds value.
func checkPut(base string, value []byte) error {
	resp, body, err := getBody(base + "?keys")
	if err != nil {
		return err
	}
	var keys []string
	if err := json.Unmarshal(body, &keys); err != nil || len(keys) == 0 {
		return fmt.Errorf("GET %s?keys: %s, %d keys (%v)", base, resp.Status, len(keys), err)
	}
	resp, got, err := getBody(base + keys[0] + "?raw")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, value) {
		return fmt.Errorf("GET %s: %s, %d bytes, not the %d put", keys[0], resp.Status, len(got), len(value))
	}
	return nil
}
