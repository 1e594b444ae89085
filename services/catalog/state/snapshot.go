package state

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// The snapshot format, inside gzip: snapshotMagic, the format version as a
// uvarint, then records, each a type byte, a uvarint length and that many
// bytes of protobuf, closed by a recordEnd whose payload is the uvarint
// count of the records before it (so a stream cut at a record boundary is
// still caught). New record types may be added; a reader skips unknown
// types that have recordIgnorable set and rejects any other.
const (
	snapshotMagic   = "BCNSTATE"
	snapshotVersion = 1
	// maxRecordSize bounds one record, well above any legal row (a KV
	// value is at most 512 KiB), so corrupt lengths fail fast.
	maxRecordSize = 64 << 20
)

type recordType byte

const (
	recordEnd       recordType = 0
	recordIndex     recordType = 1  // {1: table or key name, 2: index}
	recordNode      recordType = 2  // catalogv1.Node
	recordService   recordType = 3  // catalogv1.ServiceInstance with only node.node set
	recordCheck     recordType = 4  // catalogv1.HealthCheck
	recordSession   recordType = 5  // kvv1.Session
	recordKV        recordType = 6  // kvv1.KVPair
	recordTombstone recordType = 7  // kvv1.KVPair with key and modify_index
	recordMember    recordType = 8  // catalogv1.Member
	recordCARoot    recordType = 9  // connectv1.CARoot
	recordCAConfig  recordType = 10 // connectv1.CAConfig
	recordIntention recordType = 11 // connectv1.Intention
	recordIgnorable recordType = 0x80
)

var tableRecords = map[string]recordType{
	tableIndex:      recordIndex,
	tableNodes:      recordNode,
	tableServices:   recordService,
	tableChecks:     recordCheck,
	tableSessions:   recordSession,
	tableKVs:        recordKV,
	tableTombstones: recordTombstone,
	tableMembers:    recordMember,
	tableCARoots:    recordCARoot,
	tableCAConfig:   recordCAConfig,
	tableIntentions: recordIntention,
}

// Snapshot is a point-in-time view of a Store, cheap to take, that can be
// written out while the store keeps changing.
type Snapshot struct {
	db *memdb.MemDB
}

// Snapshot returns a point-in-time view of the store.
func (s *Store) Snapshot() *Snapshot {
	return &Snapshot{db: s.db.Snapshot()}
}

// Index returns the newest Raft index the snapshot reflects (at least 1).
func (sn *Snapshot) Index() uint64 {
	return newestIndex(sn.db)
}

// MaxIndex returns the newest Raft index that changed the store (at least
// 1), e.g. to tell Raft the index of a restored snapshot. It is cheap: every
// read reports it.
func (s *Store) MaxIndex() uint64 {
	return max(s.maxIndex.Load(), 1)
}

func newestIndex(db *memdb.MemDB) uint64 {
	tx := db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableIndex, "id")
	if err != nil {
		return 1
	}
	var m uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		m = max(m, raw.(*indexRow).value)
	}
	return max(m, 1)
}

// Persist writes every table of the snapshot to w in the snapshot format.
// Lock-delays are not included: they are local to each replica.
func (sn *Snapshot) Persist(w io.Writer) error {
	tx := sn.db.Txn(false)
	defer tx.Abort()
	gz := gzip.NewWriter(w)
	var hdr []byte
	hdr = append(hdr, snapshotMagic...)
	hdr = binary.AppendUvarint(hdr, snapshotVersion)
	if _, err := gz.Write(hdr); err != nil {
		return fmt.Errorf("persist snapshot: write header: %w", err)
	}
	var count uint64
	for _, table := range allTables {
		it, err := tx.Get(table, "id")
		if err != nil {
			return fmt.Errorf("persist snapshot: list %s: %w", table, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			payload, err := encodeRow(raw)
			if err != nil {
				return fmt.Errorf("persist snapshot: encode %s row: %w", table, err)
			}
			if err := writeRecord(gz, tableRecords[table], payload); err != nil {
				return fmt.Errorf("persist snapshot: %w", err)
			}
			count++
		}
	}
	if err := writeRecord(gz, recordEnd, binary.AppendUvarint(nil, count)); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("persist snapshot: close gzip: %w", err)
	}
	return nil
}

func writeRecord(w io.Writer, t recordType, payload []byte) error {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload))
	buf = append(buf, byte(t))
	buf = binary.AppendUvarint(buf, uint64(len(payload)))
	buf = append(buf, payload...)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write record type %d: %w", t, err)
	}
	return nil
}

var marshal = proto.MarshalOptions{Deterministic: true}

func encodeRow(raw any) ([]byte, error) {
	switch row := raw.(type) {
	case *indexRow:
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		b = protowire.AppendString(b, row.name)
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		return protowire.AppendVarint(b, row.value), nil
	case *serviceRow:
		return marshal.Marshal(&catalogv1.ServiceInstance{Node: &catalogv1.Node{Node: row.node}, Service: row.svc})
	case proto.Message:
		return marshal.Marshal(row)
	}
	return nil, fmt.Errorf("unexpected row type %T", raw)
}

// Restore builds a new Store from a stream Persist wrote. It fails, leaving
// nothing behind, on a wrong magic or version, a truncated stream, or any
// malformed record; such errors wrap ErrCorruptSnapshot.
func Restore(r io.Reader) (*Store, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: %w", ErrCorruptSnapshot, err)
	}
	br := bufio.NewReader(gz)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: read magic: %w", ErrCorruptSnapshot, err)
	}
	if string(magic) != snapshotMagic {
		return nil, fmt.Errorf("restore snapshot: %w: bad magic %q", ErrCorruptSnapshot, magic)
	}
	version, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w: read version: %w", ErrCorruptSnapshot, noEOF(err))
	}
	if version != snapshotVersion {
		return nil, fmt.Errorf("restore snapshot: %w: unsupported version %d", ErrCorruptSnapshot, version)
	}

	s := New()
	tx := s.db.Txn(true)
	defer tx.Abort()
	for count := uint64(0); ; count++ {
		t, payload, err := readRecord(br)
		if err != nil {
			return nil, fmt.Errorf("restore snapshot: %w: record %d: %w", ErrCorruptSnapshot, count, err)
		}
		if t == recordEnd {
			if err := checkEnd(br, payload, count); err != nil {
				return nil, fmt.Errorf("restore snapshot: %w: %w", ErrCorruptSnapshot, err)
			}
			break
		}
		if err := restoreRecord(tx, t, payload); err != nil {
			return nil, fmt.Errorf("restore snapshot: %w: record %d (type %d): %w", ErrCorruptSnapshot, count, t, err)
		}
	}
	tx.Commit()
	s.maxIndex.Store(newestIndex(s.db))
	return s, nil
}

// noEOF turns a clean EOF into ErrUnexpectedEOF: inside a snapshot, the
// stream ending is always a truncation.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func readRecord(br *bufio.Reader) (recordType, []byte, error) {
	b, err := br.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("read type: %w", noEOF(err))
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, nil, fmt.Errorf("read length: %w", noEOF(err))
	}
	if n > maxRecordSize {
		return 0, nil, fmt.Errorf("length %d exceeds %d", n, maxRecordSize)
	}
	// ReadAll grows with the data actually there, so a corrupt length
	// cannot make Restore allocate it up front.
	payload, err := io.ReadAll(io.LimitReader(br, int64(n)))
	if err != nil {
		return 0, nil, fmt.Errorf("read payload: %w", err)
	}
	if uint64(len(payload)) != n {
		return 0, nil, fmt.Errorf("read payload: %w", io.ErrUnexpectedEOF)
	}
	return recordType(b), payload, nil
}

// checkEnd validates the end record and that the stream ends after it,
// which also makes gzip verify its checksum.
func checkEnd(br *bufio.Reader, payload []byte, count uint64) error {
	want, n := binary.Uvarint(payload)
	if n <= 0 || n != len(payload) {
		return errors.New("malformed end record")
	}
	if want != count {
		return fmt.Errorf("end record counts %d records, read %d", want, count)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		if err == nil {
			return errors.New("data after the end record")
		}
		return fmt.Errorf("after the end record: %w", err)
	}
	return nil
}

func restoreRecord(tx *memdb.Txn, t recordType, payload []byte) error {
	var (
		table string
		row   any
		err   error
	)
	switch t {
	case recordIndex:
		table = tableIndex
		row, err = decodeIndexRow(payload)
	case recordNode:
		table = tableNodes
		row, err = decodeMessage(payload, &catalogv1.Node{})
	case recordService:
		table = tableServices
		row, err = decodeServiceRow(payload)
	case recordCheck:
		table = tableChecks
		var c *catalogv1.HealthCheck
		if c, err = decodeMessage(payload, &catalogv1.HealthCheck{}); err == nil && (c.GetNode() == "" || c.GetCheckId() == "") {
			err = errors.New("check without node or id")
		}
		row = c
	case recordSession:
		table = tableSessions
		row, err = decodeMessage(payload, &kvv1.Session{})
	case recordKV:
		table = tableKVs
		row, err = decodeMessage(payload, &kvv1.KVPair{})
	case recordTombstone:
		table = tableTombstones
		row, err = decodeMessage(payload, &kvv1.KVPair{})
	case recordCARoot:
		table = tableCARoots
		row, err = decodeMessage(payload, &connectv1.CARoot{})
	case recordCAConfig:
		table = tableCAConfig
		row, err = decodeMessage(payload, &connectv1.CAConfig{})
	case recordIntention:
		table = tableIntentions
		row, err = decodeMessage(payload, &connectv1.Intention{})
	case recordMember:
		table = tableMembers
		var m *catalogv1.Member
		if m, err = decodeMessage(payload, &catalogv1.Member{}); err == nil && m.GetName() == "" {
			err = errors.New("member without name")
		}
		row = m
	default:
		if t&recordIgnorable != 0 {
			return nil
		}
		return errors.New("unknown record type")
	}
	if err != nil {
		return err
	}
	if err := tx.Insert(table, row); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

func decodeMessage[M proto.Message](payload []byte, m M) (M, error) {
	if err := proto.Unmarshal(payload, m); err != nil {
		return m, fmt.Errorf("decode %T: %w", m, err)
	}
	return m, nil
}

func decodeServiceRow(payload []byte) (*serviceRow, error) {
	inst, err := decodeMessage(payload, &catalogv1.ServiceInstance{})
	if err != nil {
		return nil, err
	}
	if inst.GetNode().GetNode() == "" || inst.GetService().GetId() == "" || inst.GetService().GetService() == "" {
		return nil, errors.New("service without node, id or name")
	}
	return &serviceRow{node: inst.GetNode().GetNode(), svc: inst.GetService()}, nil
}

func decodeIndexRow(b []byte) (*indexRow, error) {
	row := &indexRow{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("decode index row: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			row.name = string(v)
		case num == 2 && typ == protowire.VarintType:
			row.value, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, fmt.Errorf("decode index row: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	if row.name == "" {
		return nil, errors.New("index row without name")
	}
	return row, nil
}
