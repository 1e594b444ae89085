package api

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Blocking-query limits, as in Consul.
const (
	defaultWait = 5 * time.Minute
	maxWait     = 10 * time.Minute
	// jitterFraction: up to wait/16 is added so that many watchers that
	// started together do not all come back at once.
	jitterFraction = 16
)

// MaxBlockingTime is the longest a blocking read can take: the capped
// wait plus the largest jitter. The HTTP server's write timeout must exceed
// it.
const MaxBlockingTime = maxWait + maxWait/jitterFraction

// checkCommon applies the query parameters every route shares: ?dc must
// name this datacenter, and the Enterprise namespace and partition may only
// be the default ones.
func checkCommon(r *http.Request, q url.Values, localDC string) error {
	if dc := q.Get("dc"); dc != "" && !strings.EqualFold(dc, localDC) {
		return &httpError{status: http.StatusInternalServerError, msg: "No path to datacenter"}
	}
	if !isDefault(q.Get("ns")) {
		return badRequest(`Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature`)
	}
	if !isDefault(r.Header.Get("X-Consul-Namespace")) {
		return badRequest(`Invalid header: "X-Consul-Namespace" - Namespaces are a Consul Enterprise feature`)
	}
	if !isDefault(q.Get("partition")) {
		return badRequest(`Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature`)
	}
	if !isDefault(r.Header.Get("X-Consul-Partition")) {
		return badRequest(`Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature`)
	}
	return nil
}

func isDefault(v string) bool { return v == "" || strings.EqualFold(v, "default") }

// requestToken finds the caller's ACL token where Consul looks for it:
// ?token=, then X-Consul-Token, then Authorization: Bearer.
func requestToken(r *http.Request, q url.Values) string {
	if t := q.Get("token"); t != "" {
		return t
	}
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	scheme, val, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(val)
	}
	return ""
}

// readOptions parses a read's ?index, ?wait, ?stale and ?consistent into
// ReadOptions, and names the consistency for X-Consul-Effective-Consistency.
// A read blocks only when ?index is above 0; its wait defaults to 5 minutes,
// is capped at 10, and gets up to wait/16 of random jitter.
func readOptions(q url.Values) (*queryv1.ReadOptions, string, error) {
	opts := &queryv1.ReadOptions{}
	_, stale := q["stale"]
	_, consistent := q["consistent"]
	mode := "leader"
	switch {
	case stale && consistent:
		return nil, "", badRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
	case consistent && q.Has("cached"):
		return nil, "", badRequest("Cannot specify ?cached with ?consistent, conflicting semantics.")
	case stale:
		opts.Consistency = queryv1.Consistency_CONSISTENCY_STALE
		mode = "stale"
	case consistent:
		opts.Consistency = queryv1.Consistency_CONSISTENCY_CONSISTENT
		mode = "consistent"
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, "", badRequest("Invalid wait time")
		}
		wait = d
	}
	if v := q.Get("index"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, "", badRequest("Invalid index")
		}
		opts.MinIndex = idx
	}
	if opts.MinIndex > 0 {
		if wait == 0 {
			wait = defaultWait
		}
		wait = min(wait, maxWait)
		if j := int64(wait / jitterFraction); j > 0 {
			wait += time.Duration(rand.Int64N(j))
		}
		opts.MaxWait = durationpb.New(wait)
	}
	return opts, mode, nil
}

// nodeMeta parses the repeatable ?node-meta=key:value.
func nodeMeta(q url.Values) map[string]string {
	vals := q["node-meta"]
	if len(vals) == 0 {
		return nil
	}
	out := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, _ := strings.Cut(v, ":")
		if k != "" {
			out[k] = val
		}
	}
	return out
}

// tags returns the repeatable ?tag= (an instance must carry all of them).
func tags(q url.Values) []string {
	var out []string
	for _, t := range q["tag"] {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// boolFlag reads a flag that may be given bare (?passing), or with a value
// strconv.ParseBool reads (passing=1, passing=true, passing=false).
func boolFlag(q url.Values, name string) (bool, error) {
	vals, ok := q[name]
	if !ok {
		return false, nil
	}
	if len(vals) == 0 || vals[0] == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(vals[0])
	if err != nil {
		return false, badRequestf("Invalid value for ?%s: %q", name, vals[0])
	}
	return b, nil
}

// has reports whether a flag such as ?recurse is present, with any value.
func has(q url.Values, name string) bool {
	_, ok := q[name]
	return ok
}

// setReadMeta writes the headers every read carries, whatever its status:
// X-Consul-Index (never 0), X-Consul-KnownLeader, X-Consul-LastContact in
// milliseconds and X-Consul-Effective-Consistency.
func setReadMeta(w http.ResponseWriter, m *queryv1.ReadMeta, mode string) {
	h := w.Header()
	index := max(m.GetIndex(), 1)
	h.Set("X-Consul-Index", strconv.FormatUint(index, 10))
	h.Set("X-Consul-KnownLeader", strconv.FormatBool(m.GetKnownLeader()))
	h.Set("X-Consul-LastContact", strconv.FormatInt(m.GetLastContact().AsDuration().Milliseconds(), 10))
	h.Set("X-Consul-Effective-Consistency", mode)
	if rec, ok := w.(*recorder); ok {
		// A batched read: the batch may hold this answer for the next call.
		rec.index, rec.unchanged = index, m.GetUnchanged()
	}
}

// readMetaHeaders are the headers setReadMeta writes, as http.Header keys
// them (X-Consul-Knownleader: canonical form lower-cases within a word).
var readMetaHeaders = []string{
	http.CanonicalHeaderKey("X-Consul-Index"),
	http.CanonicalHeaderKey("X-Consul-KnownLeader"),
	http.CanonicalHeaderKey("X-Consul-LastContact"),
	http.CanonicalHeaderKey("X-Consul-Effective-Consistency"),
}

// filteredRead parses what every filtered read takes: the read options
// (?index, ?wait, ?stale, ?consistent) and a ?filter over T.
func filteredRead[T any](q url.Values) (*queryv1.ReadOptions, string, *filter[T], error) {
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, "", nil, err
	}
	f, err := parseFilter[T](q)
	if err != nil {
		return nil, "", nil, err
	}
	return opts, mode, f, nil
}

// pathName is the request's {name} path segment, or a 400 saying that the
// what name is missing.
func pathName(r *http.Request, what string) (string, error) {
	name := r.PathValue("name")
	if name == "" {
		return "", badRequest("Missing " + what + " name")
	}
	return name, nil
}
