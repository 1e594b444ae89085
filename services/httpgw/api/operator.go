package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// snapshotDeadline bounds how long one snapshot may take to stream, in
// place of the server's read and write timeouts.
const snapshotDeadline = time.Hour

// snapshotChunk is the size of the pieces a restore is streamed in.
const snapshotChunk = 256 << 10

// statusLeader is GET /v1/status/leader: the leader's Raft address as a
// JSON string, "" when there is none.
func (s *Server) statusLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.Status.Leader(ctx, &operatorv1.LeaderRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetAddress(), nil
}

// statusPeers is GET /v1/status/peers: the voters' Raft addresses.
func (s *Server) statusPeers(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.Status.Peers(ctx, &operatorv1.PeersRequest{})
	if err != nil {
		return nil, err
	}
	return append([]string{}, resp.GetAddresses()...), nil
}

// raftConfiguration is GET /v1/operator/raft/configuration.
func (s *Server) raftConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	opts, mode, err := readOptions(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Operator.RaftConfiguration(ctx, &operatorv1.RaftConfigurationRequest{Options: opts})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	return consuljson.RaftConfigurationFromProto(resp), nil
}

// raftRemovePeer is DELETE /v1/operator/raft/peer?id= or ?address=.
func (s *Server) raftRemovePeer(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	id, addr := q.Get("id"), q.Get("address")
	switch {
	case id == "" && addr == "":
		return nil, badRequest("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
	case id != "" && addr != "":
		return nil, badRequest("Must specify only one of ?id or ?address")
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Operator.RemovePeer(ctx, &operatorv1.RemovePeerRequest{Id: id, Address: addr}); err != nil {
		return nil, err
	}
	return reply{status: http.StatusOK}, nil
}

// snapshotSave is GET /v1/snapshot[?stale]: the archive streamed from the
// catalog as it comes, with X-Consul-Index set to the index it reflects. A
// failure after the first bytes aborts the connection, so the client sees a
// truncated transfer rather than a short archive.
func (s *Server) snapshotSave(w http.ResponseWriter, r *http.Request) (any, error) {
	in := &operatorv1.SaveRequest{}
	mode := "leader"
	if has(r.URL.Query(), "stale") {
		in.Consistency, mode = queryv1.Consistency_CONSISTENCY_STALE, "stale"
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := s.b.Snapshot.Save(ctx, in)
	if err != nil {
		return nil, err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("snapshot: the catalog ended the stream without data")
	}
	if err != nil {
		return nil, err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(snapshotDeadline))
	setReadMeta(w, first.GetMeta(), mode)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return handled{}, nil
	}
	for msg := first; ; {
		if _, err := w.Write(msg.GetData()); err != nil {
			return handled{}, nil // the client left
		}
		msg, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			return handled{}, nil
		}
		if err != nil {
			s.log.Error("snapshot stream failed after the response started", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// snapshotRestore is PUT /v1/snapshot: the body, an archive made by GET
// /v1/snapshot, is streamed to the catalog, which replaces its state.
func (s *Server) snapshotRestore(w http.ResponseWriter, r *http.Request) (any, error) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(snapshotDeadline))
	// Ending early cancels the stream, so a partial archive is never applied.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := s.b.Snapshot.Restore(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, snapshotChunk)
	total := 0
	for {
		n, rerr := r.Body.Read(buf)
		if n > 0 {
			total += n
			if err := stream.Send(&operatorv1.RestoreRequest{Data: buf[:n]}); err != nil {
				// The catalog ended the stream; its status is in CloseAndRecv.
				break
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, badRequestf("Failed to read the snapshot: %v", rerr)
		}
	}
	if total == 0 {
		return nil, badRequest("Missing snapshot: the request body is empty")
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return nil, err
	}
	return reply{status: http.StatusOK}, nil
}
