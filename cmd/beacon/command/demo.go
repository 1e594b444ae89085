package command

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/beaconmesh/beacon/platform/probe"
	"github.com/hashicorp/cli"
)

// The demo commands serve the two services of the Docker Compose
// deployment (deploy/): a TCP echo service, and a web service that calls it
// through its sidecar's upstream listener. They live in the beacon binary
// so the deployment needs no image besides Beacon's own.

type demoEchoCommand struct {
	ui     cli.Ui
	listen string
}

const demoEchoUsage = `
Usage: beacon demo echo [-listen :8181]

  Serves TCP echo: every byte a client sends comes back to it. Ctrl+C stops it.`

func (c *demoEchoCommand) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("demo echo", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":8181", "TCP address to serve echo on")
	return fs
}

func (c *demoEchoCommand) Synopsis() string { return "Runs the demo TCP echo service" }
func (c *demoEchoCommand) Help() string     { return usageWithOptions(demoEchoUsage, c.flags()) }

func (c *demoEchoCommand) Run(args []string) int {
	if ok, code := parseFlags(c.ui, "demo echo", c.flags(), args, c.Help); !ok {
		return code
	}
	logger := logging.New(os.Stderr, slog.LevelInfo, false).With("service", "demo-echo")
	return runDemo(c.ui, logger, c.listen, func(ctx context.Context, ln net.Listener) error {
		return serveEcho(ctx, ln, logger)
	})
}

type demoWebCommand struct {
	ui               cli.Ui
	listen, upstream string
}

const demoWebUsage = `
Usage: beacon demo web [-listen :8080] [-upstream-addr 127.0.0.1:9191]

  Serves HTTP. GET / sends a line to the echo service at -upstream-addr (the
  sidecar's upstream listener) and answers with what came back; GET /health
  answers 200 without calling anything. Ctrl+C stops it.`

func (c *demoWebCommand) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("demo web", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", ":8080", "TCP address to serve HTTP on")
	fs.StringVar(&c.upstream, "upstream-addr", "127.0.0.1:9191", "address of the echo upstream")
	return fs
}

func (c *demoWebCommand) Synopsis() string { return "Runs the demo web service, a client of echo" }
func (c *demoWebCommand) Help() string     { return usageWithOptions(demoWebUsage, c.flags()) }

func (c *demoWebCommand) Run(args []string) int {
	if ok, code := parseFlags(c.ui, "demo web", c.flags(), args, c.Help); !ok {
		return code
	}
	logger := logging.New(os.Stderr, slog.LevelInfo, false).With("service", "demo-web")
	return runDemo(c.ui, logger, c.listen, func(ctx context.Context, ln net.Listener) error {
		return serveHTTP(ctx, ln, webHandler(c.upstream, logger))
	})
}

type demoProbeCommand struct{ ui cli.Ui }

const demoProbeUsage = `
Usage: beacon demo probe [-addr 127.0.0.1:8181] [-timeout 2s]
       beacon demo probe -http [-addr 127.0.0.1:8080] [-timeout 2s]

  The demo containers' healthcheck: exits 0 when the address accepts a TCP
  connection (with -http: when GET /health answers 2xx), else 1.`

func (c *demoProbeCommand) Synopsis() string { return "Checks that a demo service answers" }
func (c *demoProbeCommand) Help() string {
	return usageWithOptions(demoProbeUsage, probe.FlagSet("demo probe", "127.0.0.1:8181"))
}

func (c *demoProbeCommand) Run(args []string) int {
	if helpRequested(args) {
		c.ui.Output(c.Help())
		return 0
	}
	if len(args) > 0 && args[0] == "-http" {
		return probe.Command("beacon demo probe", args[1:], "127.0.0.1:8080", probe.HTTPCheck("/health"))
	}
	return probe.Command("beacon demo probe", args, "127.0.0.1:8181", probe.TCPCheck())
}

// runDemo listens on addr and runs serve until SIGINT or SIGTERM.
func runDemo(ui cli.Ui, logger *slog.Logger, addr string, serve func(context.Context, net.Listener) error) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ui.Error(fmt.Sprintf("listen %s: %v", addr, err))
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("demo service listening", "addr", ln.Addr().String())
	if err := serve(ctx, ln); err != nil {
		ui.Error(err.Error())
		return 1
	}
	return 0
}

// serveEcho echoes every connection accepted on ln until ctx ends; then it
// closes ln and the open connections and returns nil.
func serveEcho(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stopped := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stopped()
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("echo accept: %w", err)
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := io.Copy(conn, conn)
			if err != nil && ctx.Err() == nil {
				logger.Debug("echo connection", "remote", conn.RemoteAddr().String(), "bytes", n, "error", err)
			}
			conn.Close()
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
		}()
	}
}

// webHandler is the demo web service: GET / is a round trip to the echo
// service at upstream, GET /health is its own liveness.
func webHandler(upstream string, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		line := fmt.Sprintf("hello from web at %s", time.Now().UTC().Format(time.RFC3339Nano))
		reply, err := echoRoundTrip(ctx, upstream, line)
		if err != nil {
			logger.Warn("echo upstream", "addr", upstream, "error", err)
			http.Error(w, fmt.Sprintf("echo upstream %s: %v", upstream, err), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "web -> echo (upstream %s): %s\n", upstream, reply)
	})
	return mux
}

// echoRoundTrip sends line to the echo service at addr and returns the
// line that came back, which must be the same.
func echoRoundTrip(ctx context.Context, addr, line string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return "", fmt.Errorf("deadline: %w", err)
		}
	}
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read echo: %w", err)
	}
	got = strings.TrimSuffix(got, "\n")
	if got != line {
		return "", fmt.Errorf("echo answered %q to %q", got, line)
	}
	return got, nil
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("web shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web serve: %w", err)
	}
	return nil
}
