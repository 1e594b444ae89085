package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/beaconmesh/beacon/platform/logging"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
)

// monitorWriteTimeout bounds each write of a log stream: a client that
// stops reading is let go rather than holding the stream.
const monitorWriteTimeout = time.Minute

// agentMonitor is GET /v1/agent/monitor?loglevel=&logjson: the node agent's
// log lines from now on, at loglevel (default info) and above, as text or
// with ?logjson as JSON, one per line, until the client leaves.
func (s *Server) agentMonitor(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	level := q.Get("loglevel")
	if level == "" {
		level = "info"
	}
	if _, err := logging.ParseLevel(level); err != nil {
		return nil, badRequestf("Unknown log level: %s", level)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := s.b.Agent.Monitor(ctx, &agentv1.MonitorRequest{Level: level, Json: q.Has("logjson")})
	if err != nil {
		return nil, &agentError{err: err}
	}
	// The agent's first message says it is watching; an agent that cannot
	// answers with an error instead, before anything is sent.
	if _, err := stream.Recv(); err != nil {
		return nil, &agentError{err: err}
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	for {
		m, err := stream.Recv()
		if err != nil {
			return handled{}, nil // the client left, or the agent stopped
		}
		_ = rc.SetWriteDeadline(time.Now().Add(monitorWriteTimeout))
		if _, err := io.WriteString(w, m.GetLine()+"\n"); err != nil {
			return handled{}, nil
		}
		_ = rc.Flush()
	}
}
