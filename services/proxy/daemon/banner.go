package daemon

import (
	"fmt"
	"io"
	"net"
)

// ReadyLine is printed on the banner once every listener accepts
// connections. Scripts written for Consul's built-in proxy wait for these
// exact words, so they must not change.
const ReadyLine = "Proxy loaded config and ready to serve"

// banner writes the human-readable startup lines, laid out as Consul's
// proxy lays them out (labels right-aligned on the colon) so that tools
// reading Consul's output read Beacon's. A nil banner writes nothing.
type banner struct{ w io.Writer }

func (b banner) starting() {
	if b.w != nil {
		fmt.Fprintln(b.w, "==> Beacon Connect proxy starting...")
	}
}

// describe says what the proxy is about to serve, then hands over to the
// logs.
func (b banner) describe(cfg Config, p plan) {
	if b.w == nil {
		return
	}
	if cfg.SidecarFor != "" {
		b.field("Configuration mode", "Agent API")
		b.field("Sidecar for ID", cfg.SidecarFor)
		b.field("Proxy ID", p.proxyID)
	} else {
		b.field("Configuration mode", "Flags")
	}
	b.field("Service", p.service)
	for _, u := range p.upstreams {
		b.field("Upstream", u.Service+" => "+shortBind(u.BindAddr))
	}
	if p.public == nil {
		b.field("Public listener", "Disabled")
	} else {
		b.field("Public listener", p.public.bind+" => "+p.public.local)
	}
	fmt.Fprint(b.w, "\n==> Log data will now stream in as it occurs:\n\n")
}

func (b banner) ready() {
	if b.w != nil {
		fmt.Fprintln(b.w, "==> "+ReadyLine)
	}
}

func (b banner) field(label, value string) {
	fmt.Fprintf(b.w, "%22s: %s\n", label, value)
}

// shortBind leaves out the default loopback host, as Consul prints an
// upstream given by -upstream: "db => :9191".
func shortBind(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return addr
	}
	return ":" + port
}
