package state

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// fullStore has a row in every table, including a tombstone and a
// lock-delay.
func fullStore(t *testing.T) *Store {
	t.Helper()
	s := fixture(t)
	mustRegister(t, s, 5, &catalogv1.RegisterRequest{
		Node: node("n3", "10.0.0.3", map[string]string{"rack": "a"}),
		Service: &catalogv1.Service{Id: "p1", Service: "web-proxy", Kind: catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
			Proxy:           &catalogv1.ConnectProxyConfig{DestinationServiceName: "web"},
			TaggedAddresses: map[string]*catalogv1.ServiceAddress{"lan": {Address: "10.0.0.3", Port: 21000}},
			Weights:         &catalogv1.Weights{Passing: 3, Warning: 1}},
	})
	mustSession(t, s, 6, &kvv1.Session{Id: "s1", Node: "n1", Ttl: dur(30 * time.Second), NodeChecks: []string{"serfHealth"}})
	mustSession(t, s, 7, &kvv1.Session{Id: "s2", Node: "n2", LockDelay: dur(time.Minute)})
	mustPut(t, s, 8, &kvv1.PutRequest{Key: "cfg/a", Value: []byte("1"), Flags: 3})
	mustPut(t, s, 9, &kvv1.PutRequest{Key: "cfg/b", Value: []byte("2"), Acquire: "s1"})
	mustPut(t, s, 10, &kvv1.PutRequest{Key: "cfg/c", Acquire: "s2"})
	mustPut(t, s, 11, &kvv1.PutRequest{Key: "gone"})
	if _, err := s.KVDelete(12, &kvv1.DeleteRequest{Key: "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SessionDestroy(13, "s2"); err != nil {
		t.Fatal(err)
	}
	if err := s.MemberJoin(14, &catalogv1.JoinMemberRequest{
		Member: &catalogv1.Member{Name: "n4", Address: "10.0.0.4", Port: 8301, Tags: map[string]string{"role": "node"}},
		Node:   node("n4", "10.0.0.4", nil),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.CASet(15, &connectv1.CAState{
		Config: &connectv1.CAConfig{ClusterId: "c1", PrivateKey: "key"},
		Roots:  []*connectv1.CARoot{{Id: "r1", RootCert: "pem", Active: true}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.IntentionUpsert(16, &connectv1.Intention{Id: "i1", SourceName: "web", DestinationName: "db", Action: connectv1.IntentionAction_INTENTION_ACTION_DENY}); err != nil {
		t.Fatal(err)
	}
	return s
}

func persist(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot().Persist(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := fullStore(t)
	snap := s.Snapshot()
	data := persist(t, s)

	if s.MaxIndex() != 16 || s.MaxIndex() != newestIndex(s.db) {
		t.Errorf("MaxIndex = %d, want 16 = the index table's newest %d", s.MaxIndex(), newestIndex(s.db))
	}
	// Writes after the snapshot are not in it.
	mustPut(t, s, 20, &kvv1.PutRequest{Key: "later"})
	if s.MaxIndex() != 20 {
		t.Errorf("MaxIndex after a write at 20 = %d", s.MaxIndex())
	}
	if snap.Index() != 16 {
		t.Errorf("snapshot index = %d, want 16", snap.Index())
	}
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Error("the snapshot view changed with a later write")
	}

	r, err := Restore(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// Encoding is deterministic, so equal streams mean equal tables.
	if !bytes.Equal(persist(t, r), data) {
		t.Error("restored store persists differently from the original")
	}
	if d := diff(fullStore(t).TableSizes(), r.TableSizes()); d != "" {
		t.Errorf("table sizes (-want +got):\n%s", d)
	}
	for _, table := range allTables {
		if r.TableSizes()[table] == 0 {
			t.Errorf("table %s is empty; the round trip does not cover it", table)
		}
	}
	if r.MaxIndex() != 16 {
		t.Errorf("restored MaxIndex = %d, want 16", r.MaxIndex())
	}

	// Reads agree, indexes included.
	type read func(s *Store) (uint64, any)
	reads := map[string]read{
		"health": func(s *Store) (uint64, any) {
			i, n, c, in, _ := s.AllServiceHealth(nil)
			return i, []any{n, c, in}
		},
		"web": func(s *Store) (uint64, any) {
			i, v, _ := s.ServiceHealth(nil, "web", nil, nil, false, false)
			return i, v
		},
		"connect":  func(s *Store) (uint64, any) { i, v, _ := s.ServiceNodes(nil, "web", nil, nil, true); return i, v },
		"kv":       func(s *Store) (uint64, any) { i, v, _ := s.KVList(nil, ""); return i, v },
		"kv gone":  func(s *Store) (uint64, any) { i, v, _ := s.KVList(nil, "gone"); return i, v },
		"sessions": func(s *Store) (uint64, any) { i, v, _ := s.SessionList(nil); return i, v },
	}
	want := fullStore(t)
	for name, rd := range reads {
		wi, wv := rd(want)
		gi, gv := rd(r)
		if wi != gi {
			t.Errorf("%s: index %d, want %d", name, gi, wi)
		}
		if d := diff(wv, gv); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}

	// Lock-delays are local to a replica and not restored.
	if want.KVLockDelay("cfg/c").IsZero() {
		t.Error("the original store has no lock-delay on cfg/c")
	}
	if !r.KVLockDelay("cfg/c").IsZero() {
		t.Error("lock-delay restored from a snapshot")
	}
}

// plaintext returns the uncompressed stream of a snapshot.
func plaintext(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// recordBoundaries returns the offsets in plain at which records start.
func recordBoundaries(t *testing.T, plain []byte) []int {
	t.Helper()
	off := len(snapshotMagic) + 1
	var out []int
	for off < len(plain) {
		out = append(out, off)
		n, k := binary.Uvarint(plain[off+1:])
		if k <= 0 {
			t.Fatalf("bad record at %d", off)
		}
		off += 1 + k + int(n)
	}
	return out
}

func TestRestoreRejectsCorruptInput(t *testing.T) {
	data := persist(t, fullStore(t))
	plain := plaintext(t, data)
	end := len(plain) - 3 // the end record: type, length 1, count

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0xff
		return c
	}
	withRecord := func(typ byte, payload []byte) []byte {
		c := bytes.Clone(plain[:end])
		c = append(c, typ)
		c = binary.AppendUvarint(c, uint64(len(payload)))
		c = append(c, payload...)
		return append(c, plain[end:]...)
	}
	tests := map[string][]byte{
		"empty":               nil,
		"not gzip":            []byte("BCNSTATE\x01"),
		"wrong magic":         gz(append([]byte("NOTSNAPS"), plain[8:]...)),
		"bad version":         gz(append([]byte("BCNSTATE\x02"), plain[9:]...)),
		"no end record":       gz(plain[:end]),
		"trailing data":       gz(append(bytes.Clone(plain), 0)),
		"wrong record count":  gz(append(bytes.Clone(plain[:end]), 0, 1, 99)),
		"unknown record type": gz(withRecord(0x42, nil)),
		"bad proto":           gz(withRecord(byte(recordNode), []byte{0xff, 0xff})),
		"node without name":   gz(withRecord(byte(recordNode), nil)),
		"service without id":  gz(withRecord(byte(recordService), nil)),
		"index without name":  gz(withRecord(byte(recordIndex), nil)),
		"huge length":         gz(append(bytes.Clone(plain[:end]), 2, 0xff, 0xff, 0xff, 0xff, 0x7f)),
		"bad gzip checksum":   flip(data, len(data)-6),
	}
	for i, off := range recordBoundaries(t, plain) {
		tests[fmt.Sprintf("cut before record %d", i)] = gz(plain[:off])
		tests[fmt.Sprintf("cut inside record %d", i)] = gz(plain[:off+2])
	}
	for cut := 0; cut < len(data); cut += max(1, len(data)/40) {
		tests[fmt.Sprintf("gzip cut at %d", cut)] = data[:cut]
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Restore(bytes.NewReader(in))
			if err == nil {
				t.Fatal("Restore succeeded")
			}
			if s != nil {
				t.Error("Restore returned a store with its error")
			}
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Errorf("error %v does not wrap ErrCorruptSnapshot", err)
			}
		})
	}
}

func TestRestoreSkipsIgnorableRecords(t *testing.T) {
	data := persist(t, fullStore(t))
	plain := plaintext(t, data)
	end := len(plain) - 3
	c := bytes.Clone(plain[:end])
	c = append(c, byte(recordIgnorable|0x10), 2, 'h', 'i')
	// The end record counts every record, the skipped one too.
	count, _ := binary.Uvarint(plain[end+2:])
	c = append(c, byte(recordEnd))
	cnt := binary.AppendUvarint(nil, count+1)
	c = binary.AppendUvarint(c, uint64(len(cnt)))
	c = append(c, cnt...)
	s, err := Restore(bytes.NewReader(gz(c)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(persist(t, s), data) {
		t.Error("store differs after skipping an ignorable record")
	}
}

func TestAbandon(t *testing.T) {
	s := New()
	ws := memdb.NewWatchSet()
	ws.Add(s.AbandonCh())
	if fired(ws) {
		t.Fatal("abandon channel closed on a fresh store")
	}
	s.Abandon()
	s.Abandon() // idempotent
	if !fired(ws) {
		t.Error("abandon channel still open after Abandon")
	}
}

func TestTableSizes(t *testing.T) {
	got := fullStore(t).TableSizes()
	want := map[string]int{
		tableNodes: 4, tableServices: 4, tableChecks: 6, tableSessions: 1, tableKVs: 3, tableTombstones: 1, tableMembers: 1,
		tableCARoots: 1, tableCAConfig: 1, tableIntentions: 1,
		// nodes, services, checks, sessions, kvs, tombstones, members,
		// ca_roots, ca_config, intentions, and service.{web,db,web-proxy},
		// connect.web
		tableIndex: 14,
	}
	if d := diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func FuzzRestore(f *testing.F) {
	var buf bytes.Buffer
	s := New()
	s.Register(1, &catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n1"}, Service: &catalogv1.Service{Service: "web"}})
	s.KVPut(2, &kvv1.PutRequest{Key: "k", Value: []byte("v")})
	if err := s.Snapshot().Persist(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(gz([]byte("BCNSTATE\x01\x00\x01\x00")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Restore(bytes.NewReader(data))
		if err != nil {
			if s != nil {
				t.Fatal("store returned with an error")
			}
			return
		}
		// Whatever restored must persist and restore again.
		var out bytes.Buffer
		if err := s.Snapshot().Persist(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(&out); err != nil {
			t.Fatalf("re-restore: %v", err)
		}
	})
}
