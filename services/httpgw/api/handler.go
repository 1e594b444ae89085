package api

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
)

// handlerFunc is the shape of every route: it returns the value to encode
// as JSON (or one of the reply types below) or an error for statusOf.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// reply is an answer with a status other than 200 and a JSON body, or no
// body at all when body is nil.
type reply struct {
	status int
	body   any
}

// rawReply is an answer that is not JSON, with status 200 unless status
// says otherwise.
type rawReply struct {
	status      int
	contentType string
	body        []byte
}

// handled means the handler wrote the whole response itself.
type handled struct{}

// gzipMinSize is the smallest body worth compressing.
const gzipMinSize = 1024

// endpoint is one path of the route table with its handlers by method.
type endpoint struct {
	pattern string
	runs    map[string]func(http.ResponseWriter, *http.Request) // the handlers by method, wrapped by runner
	allow   string
	codes   map[string]codeOverrides // by method
	cache   cacheKind                // how its ?cached GETs are served (cacheKinds)
}

// runner is h wrapped to write its result or error: made once per route
// and method, since a batched read keeps it while its call runs.
func (e *endpoint) runner(s *Server, method string, h handlerFunc) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := h(w, r)
		if err != nil {
			e.fail(s, w, r, method, err)
			return
		}
		s.write(w, r, out)
	}
}

// serve runs the handler for r's method: the one wrapper that answers
// 405 with Allow, applies the checks every request shares, and writes the
// result or the error.
func (e *endpoint) serve(s *Server, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusWriter{ResponseWriter: w}
	defer func() {
		s.observe(e.pattern, r.Method, rec.status(), time.Since(start))
	}()

	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	run, ok := e.runs[method]
	if !ok {
		rec.Header().Set("Allow", e.allow)
		if r.Method == http.MethodOptions {
			rec.WriteHeader(http.StatusOK)
			return
		}
		writeText(rec, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}

	q := r.URL.Query() // parsed once for the checks every request shares
	if err := checkCommon(r, q, s.dc); err != nil {
		e.fail(s, rec, r, method, err)
		return
	}
	if tok := requestToken(r, q); tok != "" {
		r = r.WithContext(token.With(r.Context(), tok))
	}
	if e.cache != noCache && method == http.MethodGet && q.Has("cached") && !q.Has("consistent") {
		if err := s.cache.serve(rec, r, q, e.cache, run); err != nil {
			e.fail(s, rec, r, method, err)
		}
		return
	}
	if share, join := batchMode(e.pattern, q); share && method == http.MethodGet {
		if !s.batches.serve(rec, r, join, run) {
			e.fail(s, rec, r, method, context.Cause(r.Context()))
		}
		return
	}
	run(rec, r)
}

// fail answers err with its status and message, as Consul words them.
func (e *endpoint) fail(s *Server, w http.ResponseWriter, r *http.Request, method string, err error) {
	code, msg := statusOf(r.Context(), err, e.codes[method])
	s.logError(r, e.pattern, code, err)
	writeText(w, code, msg)
}

// write encodes a handler's result.
func (s *Server) write(w http.ResponseWriter, r *http.Request, out any) {
	switch v := out.(type) {
	case handled:
		return
	case rawReply:
		writeBody(w, r, cmp.Or(v.status, http.StatusOK), v.contentType, v.body)
		return
	case reply:
		if v.body == nil {
			w.WriteHeader(v.status)
			return
		}
		s.writeJSON(w, r, v.status, v.body)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// writeJSON writes v compactly, or indented with four spaces and a final
// newline under ?pretty. A nil slice is written as [] rather than null.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []struct{}{}
	}
	var (
		buf []byte
		err error
	)
	// The query is parsed again only when it may name ?pretty.
	pretty := false
	if strings.Contains(r.URL.RawQuery, "pretty") {
		_, pretty = r.URL.Query()["pretty"]
	}
	switch b, isBool := v.(bool); {
	case pretty:
		buf, err = json.MarshalIndent(v, "", "    ")
		buf = append(buf, '\n')
	case isBool: // the answer of every KV put and delete
		buf = jsonFalse
		if b {
			buf = jsonTrue
		}
	default:
		buf, err = json.Marshal(v)
	}
	if err != nil {
		s.log.Error("encode response", "path", r.URL.Path, "err", err)
		writeText(w, http.StatusInternalServerError, "failed to encode the response: "+err.Error())
		return
	}
	writeBody(w, r, status, "application/json", buf)
}

// jsonFalse and jsonTrue are shared bodies: writeBody never modifies one.
var jsonFalse, jsonTrue = []byte("false"), []byte("true")

// writeBody writes body, gzipped when the client accepts it and it is big
// enough to gain from it.
func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Add("Vary", "Accept-Encoding")
	if len(body) >= gzipMinSize && acceptsGzip(r) {
		if zipped, ok := gzipBody(body); ok {
			h.Set("Content-Encoding", "gzip")
			body = zipped
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		sendBody(w, r, body)
	}
}

// gzipBody is body gzipped, or ok false if compressing failed.
func gzipBody(body []byte) (zipped []byte, ok bool) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(body)
	if zw.Close() != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// writeText writes an error or message as plain text, as Consul does.
func writeText(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// acceptsGzip reports whether Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, field := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(field, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return !slices.Contains([]string{"q=0", "q=0.0", "q=0.00", "q=0.000"}, q)
		}
	}
	return false
}

// statusWriter remembers the status a handler wrote, for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushing) through the wrapper.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// logError logs a failed request: server faults as errors, the rest at
// debug. The query string is left out because it may carry a token.
func (s *Server) logError(r *http.Request, route string, code int, err error) {
	level := slog.LevelDebug
	if code >= 500 && code != http.StatusServiceUnavailable {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed",
		"method", r.Method, "path", r.URL.Path, "route", route, "status", code, "err", err)
}
