// Package fsm is the catalog's Raft state machine: it decodes committed log
// entries into state store writes, and snapshots and restores the store.
//
// A command is one MessageType byte followed by a protobuf message. Types
// are only ever added; a type with IgnoreUnknownTypeFlag set may be skipped
// by a replica that does not know it. Failing to decode a committed entry
// is the only panic: every replica would fail the same way, and going on
// would let replicas diverge. Semantic failures (a CAS that does not hold,
// an unknown session) are returned in the Result.
package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/beaconmesh/beacon/services/catalog/state"
)

// MessageType tags a command in the Raft log. Values are never reused.
type MessageType uint8

// Command types and the message each carries.
const (
	RegisterType        MessageType = 1  // catalogv1.RegisterRequest
	DeregisterType      MessageType = 2  // catalogv1.DeregisterRequest
	KVPutType           MessageType = 3  // kvv1.PutRequest
	KVDeleteType        MessageType = 4  // kvv1.DeleteRequest
	SessionCreateType   MessageType = 5  // kvv1.Session
	SessionDestroyType  MessageType = 6  // kvv1.DestroySessionRequest
	TxnType             MessageType = 7  // kvv1.TxnRequest
	MemberJoinType      MessageType = 8  // catalogv1.JoinMemberRequest
	MemberStatusType    MessageType = 9  // catalogv1.Member
	CAStateType         MessageType = 10 // connectv1.CAState
	IntentionUpsertType MessageType = 11 // connectv1.Intention
	IntentionDeleteType MessageType = 12 // connectv1.DeleteIntentionRequest
	KVPutBatchType      MessageType = 13 // kvv1.PutBatchRequest
	MemberRemoveType    MessageType = 14 // catalogv1.LeaveMemberRequest (prune)

	// IgnoreUnknownTypeFlag marks a command type that replicas which do not
	// know it may skip (with a warning) instead of stopping.
	IgnoreUnknownTypeFlag MessageType = 128
)

// newMessage returns an empty message of the kind t carries, or nil if t is
// unknown.
func newMessage(t MessageType) proto.Message {
	switch t {
	case RegisterType:
		return &catalogv1.RegisterRequest{}
	case DeregisterType:
		return &catalogv1.DeregisterRequest{}
	case KVPutType:
		return &kvv1.PutRequest{}
	case KVDeleteType:
		return &kvv1.DeleteRequest{}
	case SessionCreateType:
		return &kvv1.Session{}
	case SessionDestroyType:
		return &kvv1.DestroySessionRequest{}
	case TxnType:
		return &kvv1.TxnRequest{}
	case MemberJoinType:
		return &catalogv1.JoinMemberRequest{}
	case MemberStatusType:
		return &catalogv1.Member{}
	case MemberRemoveType:
		return &catalogv1.LeaveMemberRequest{}
	case CAStateType:
		return &connectv1.CAState{}
	case IntentionUpsertType:
		return &connectv1.Intention{}
	case IntentionDeleteType:
		return &connectv1.DeleteIntentionRequest{}
	case KVPutBatchType:
		return &kvv1.PutBatchRequest{}
	}
	return nil
}

// Encode returns the log entry for command t carrying m. For a known type,
// m must be the message that type carries.
func Encode(t MessageType, m proto.Message) ([]byte, error) {
	if want := newMessage(t); want != nil {
		if m == nil || m.ProtoReflect().Descriptor().FullName() != want.ProtoReflect().Descriptor().FullName() {
			return nil, fmt.Errorf("encode command type %d: got %T, want %T", t, m, want)
		}
	}
	buf := []byte{byte(t)}
	if m == nil {
		return buf, nil
	}
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("encode command type %d: %w", t, err)
	}
	return buf, nil
}

// Result is what Apply returns for a known command.
type Result struct {
	// Index is the Raft index the command was applied at.
	Index uint64
	// OK says whether the write happened: false when Err is set, or when
	// a KV CAS or lock condition did not hold, or a txn failed.
	OK bool
	// PutOK is a put batch's outcome, one per put: whether it was written.
	PutOK []bool
	// Results and Errors are a txn's (Errors non-empty: nothing applied).
	Results []*kvv1.TxnResult
	Errors  []*kvv1.TxnError
	// Err is a semantic failure of the command; nothing was written.
	Err error
}

// DecodeError is the value Apply panics with when a committed entry cannot
// be decoded: it is empty, its type is unknown and not ignorable, or its
// message is malformed.
type DecodeError struct {
	Index uint64
	Type  MessageType
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("fsm: cannot decode command type %d at index %d: %v", e.Type, e.Index, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// FSM is the catalog's raft.FSM.
type FSM struct {
	logger *slog.Logger
	state  atomic.Pointer[state.Store]
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM over an empty state store. A nil logger discards logs.
func New(logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &FSM{logger: logger.With("component", "fsm")}
	f.state.Store(state.New())
	return f
}

// State returns the current state store. It changes when a snapshot is
// restored (the old one is then abandoned), so read it for each query
// rather than keeping it.
func (f *FSM) State() *state.Store {
	return f.state.Load()
}

// Apply applies one committed log entry and returns a *Result, or nil for
// an unknown command type that is ignorable (or an entry that is not a
// command). It panics with a *DecodeError if the entry cannot be decoded.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if len(l.Data) == 0 {
		panic(&DecodeError{Index: l.Index, Err: errors.New("empty entry")})
	}
	t := MessageType(l.Data[0])
	msg := newMessage(t)
	if msg == nil {
		if t&IgnoreUnknownTypeFlag != 0 {
			f.logger.Warn("skipping unknown ignorable command", "type", uint8(t), "index", l.Index)
			return nil
		}
		panic(&DecodeError{Index: l.Index, Type: t, Err: errors.New("unknown command type")})
	}
	if err := proto.Unmarshal(l.Data[1:], msg); err != nil {
		panic(&DecodeError{Index: l.Index, Type: t, Err: err})
	}
	res := f.apply(l.Index, msg)
	if res.Err != nil {
		f.logger.Debug("command failed", "type", uint8(t), "index", l.Index, "err", res.Err)
	}
	return res
}

func (f *FSM) apply(idx uint64, msg proto.Message) *Result {
	st := f.State()
	res := &Result{Index: idx}
	switch m := msg.(type) {
	case *catalogv1.RegisterRequest:
		res.Err = st.Register(idx, m)
		res.OK = res.Err == nil
	case *catalogv1.DeregisterRequest:
		res.Err = st.Deregister(idx, m)
		res.OK = res.Err == nil
	case *kvv1.PutRequest:
		res.OK, res.Err = st.KVPut(idx, m)
	case *kvv1.PutBatchRequest:
		res.PutOK, res.Err = st.KVPutBatch(idx, m.GetPuts())
		res.OK = res.Err == nil
	case *kvv1.DeleteRequest:
		res.OK, res.Err = st.KVDelete(idx, m)
	case *kvv1.Session:
		res.Err = st.SessionCreate(idx, m)
		res.OK = res.Err == nil
	case *kvv1.DestroySessionRequest:
		res.Err = st.SessionDestroy(idx, m.GetId())
		res.OK = res.Err == nil
	case *kvv1.TxnRequest:
		res.Results, res.Errors = st.Txn(idx, m.GetOps())
		res.OK = len(res.Errors) == 0
	case *catalogv1.JoinMemberRequest:
		res.Err = st.MemberJoin(idx, m)
		res.OK = res.Err == nil
	case *catalogv1.Member:
		res.Err = st.MemberSetStatus(idx, m)
		res.OK = res.Err == nil
	case *catalogv1.LeaveMemberRequest:
		res.Err = st.MemberRemove(idx, m.GetName())
		res.OK = res.Err == nil
	case *connectv1.CAState:
		res.Err = st.CASet(idx, m)
		res.OK = res.Err == nil
	case *connectv1.Intention:
		res.Err = st.IntentionUpsert(idx, m)
		res.OK = res.Err == nil
	case *connectv1.DeleteIntentionRequest:
		res.Err = st.IntentionDelete(idx, m.GetSourceName(), m.GetDestinationName())
		res.OK = res.Err == nil
	}
	return res
}

// Snapshot captures the current state for raft; the expensive part runs
// later in Persist, concurrently with Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.State().Snapshot()}, nil
}

// Restore replaces the state with the snapshot read from rc, then abandons
// the old store so that blocking queries on it wake. On error the current
// state is kept.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := state.Restore(rc)
	if err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	old := f.state.Swap(st)
	old.Abandon()
	f.logger.Info("state restored from snapshot", "index", st.MaxIndex())
	return nil
}

// WriteSnapshot writes the current state to w in the snapshot format that
// Restore reads, and returns the index it reflects (for the snapshot save
// API; its output can be fed to raft's Restore).
func (f *FSM) WriteSnapshot(w io.Writer) (uint64, error) {
	snap := f.State().Snapshot()
	if err := snap.Persist(w); err != nil {
		return 0, fmt.Errorf("write snapshot: %w", err)
	}
	return snap.Index(), nil
}

type fsmSnapshot struct {
	snap *state.Snapshot
}

// Persist writes the snapshot to sink, cancelling it on failure.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.snap.Persist(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: close sink: %w", err)
	}
	return nil
}

// Release does nothing: the snapshot is an immutable view that the garbage
// collector reclaims.
func (s *fsmSnapshot) Release() {}
