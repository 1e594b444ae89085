package cluster

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestMuxSplitsByFirstByte checks that Raft connections (first byte 0x01)
// and everything else reach different listeners, with no byte lost.
func TestMuxSplitsByFirstByte(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, ln.Addr(), slog.New(slog.DiscardHandler))
	defer m.Close()
	layer := m.StreamLayer()

	rc, err := layer.Dial(raft.ServerAddress("127.0.0.1:"+portOf(ln)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Write([]byte("raft")); err != nil {
		t.Fatal(err)
	}
	gc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if _, err := gc.Write([]byte("PRI * HTTP/2.0")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		l    net.Listener
		want string
	}{{"raft", layer, "raft"}, {"rpc", m.RPCListener(), "PRI * HTTP/2.0"}} {
		c, err := tc.l.Accept()
		if err != nil {
			t.Fatalf("%s accept: %v", tc.name, err)
		}
		buf := make([]byte, len(tc.want))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("%s read: %v", tc.name, err)
		}
		if string(buf) != tc.want {
			t.Errorf("%s got %q, want %q", tc.name, buf, tc.want)
		}
		c.Close()
	}
}

func portOf(l net.Listener) string {
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}
