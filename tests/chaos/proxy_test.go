package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// network is the set of fault-injecting links between catalog replicas.
// Each replica advertises (and is retry-joined at) the address of its own
// proxy, so every Raft and replica-to-replica gRPC connection to it goes
// through that proxy. The proxy learns which replica dialled by finding the
// process that owns the other end of the socket (/proc/net/tcp, then
// /proc/PID/fd), so one replica can be cut off in both directions without
// root, iptables or namespaces. A cut link is a blackhole, not a refusal:
// bytes are read and dropped, so Raft runs into its timeouts as it would on
// a real network that loses packets. Healing closes the blackholed
// connections, and Raft dials again.
type network struct {
	// pids returns the pid of each replica's process, 0 when it is down.
	pids func() []int

	mu    sync.Mutex
	cut   map[[2]int]bool // {from, to}
	links map[*link]struct{}

	accepted, holed, unknown atomic.Int64
}

func newNetwork(pids func() []int) *network {
	return &network{pids: pids, cut: map[[2]int]bool{}, links: map[*link]struct{}{}}
}

// link is one proxied connection.
type link struct {
	from, to     int // replica indexes; from is -1 when unknown
	client, peer net.Conn
	hole         atomic.Bool
	once         sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		if l.peer != nil {
			l.peer.Close()
		}
	})
}

// proxy listens on the address replica `to` advertises and forwards to its
// real server port.
type proxy struct {
	to       int
	ln       net.Listener
	upstream string
	net      *network
}

// listen opens replica to's proxy on a free loopback port.
func (n *network) listen(to int, upstream string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{to: to, ln: ln, upstream: upstream, net: n}
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) close() { p.ln.Close() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(c net.Conn) {
	n := p.net
	n.accepted.Add(1)
	from, err := n.dialler(c)
	if err != nil {
		n.unknown.Add(1)
		from = -1
	}
	l := &link{from: from, to: p.to, client: c}
	n.mu.Lock()
	holed := n.isCut(from, p.to)
	l.hole.Store(holed)
	n.links[l] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.links, l)
		n.mu.Unlock()
		l.close()
	}()
	if holed {
		n.holed.Add(1)
		drain(c)
		return
	}
	peer, err := net.DialTimeout("tcp", p.upstream, time.Second)
	if err != nil {
		return // the replica is down: the dialler sees a closed connection
	}
	l.peer = peer
	if l.hole.Load() { // cut while dialling
		drain(c)
		return
	}
	go l.pipe(peer, c)
	l.pipe(c, peer)
}

// pipe copies src to dst until either side fails, dropping the bytes while
// the link is blackholed.
func (l *link) pipe(dst, src net.Conn) {
	defer l.close()
	buf := make([]byte, 64<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 && !l.hole.Load() {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func drain(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// isCut says whether traffic from → to is dropped. A dialler that could not
// be identified is dropped when anything to `to` is cut, so that an
// isolated replica never hears from anyone.
func (n *network) isCut(from, to int) bool {
	if from < 0 {
		for k := range n.cut {
			if k[1] == to || k[0] == to {
				return true
			}
		}
		return false
	}
	return n.cut[[2]int{from, to}]
}

// isolate cuts every link to and from replica i, including the connections
// already open.
func (n *network) isolate(i, replicas int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for j := range replicas {
		if j != i {
			n.cut[[2]int{i, j}], n.cut[[2]int{j, i}] = true, true
		}
	}
	for l := range n.links {
		if n.isCut(l.from, l.to) {
			l.hole.Store(true)
		}
	}
}

// heal removes every cut and closes the blackholed connections.
func (n *network) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	for l := range n.links {
		if l.hole.Load() {
			l.close()
		}
	}
}

// dialler finds the replica whose process owns the other end of c.
func (n *network) dialler(c net.Conn) (int, error) {
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return -1, errors.New("not a TCP connection")
	}
	inode, err := socketInode(remote, local)
	if err != nil {
		return -1, err
	}
	want := "socket:[" + inode + "]"
	for i, pid := range n.pids() {
		if pid == 0 {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && target == want {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no replica owns socket %s (%s → %s)", inode, remote, local)
}

// socketInode finds, in /proc/net/tcp, the inode of the IPv4 socket whose
// local address is local and whose peer is peer.
func socketInode(local, peer *net.TCPAddr) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	l, p := procAddr(local), procAddr(peer)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) >= 10 && fields[1] == l && fields[2] == p {
			return fields[9], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("socket %s → %s not in /proc/net/tcp", local, peer)
}

// procAddr writes an IPv4 address as /proc/net/tcp does: the IPv4 address as
// a host-order (little-endian here) 32-bit hex number, then the port.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}
