package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
	"github.com/hashicorp/cli"
)

// Meta is what every command shares: where it writes, and the process
// environment it reads, so that tests can run commands in-process.
type Meta struct {
	UI     cli.Ui
	Getenv func(string) string
	Stdin  io.Reader
	// Context is what long-running commands (lock, watch) run under on
	// top of SIGINT/SIGTERM; nil is the process' lifetime. Tests end it to
	// stop a command they run in-process.
	Context context.Context
}

// clientCommand is the part every HTTP client command shares: its flag set
// with the connection flags, and the one-line error convention.
type clientCommand struct {
	*Meta
	name  string // "kv get"
	fs    *flag.FlagSet
	http  httpFlags
	usage string
}

// init creates the flag set with the connection flags and, when server is
// set, -datacenter and -stale.
func (c *clientCommand) init(m *Meta, name, usage string, server bool) {
	c.Meta, c.name, c.usage = m, name, strings.TrimSpace(usage)
	c.fs = flag.NewFlagSet(name, flag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	c.http.clientFlags(c.fs)
	if server {
		c.http.serverFlags(c.fs)
	}
}

// Help is the usage text followed by every flag.
func (c *clientCommand) Help() string { return usageWithOptions(c.usage, c.fs) }

// helpRequested reports whether args ask for help, for commands that hand
// their arguments to a parser of their own (which would print to stderr).
func helpRequested(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// usageWithOptions is usage followed by an Options section listing every
// flag of fs.
func usageWithOptions(usage string, fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return strings.TrimSpace(usage) + "\n\nOptions:\n\n" + b.String()
}

// parse parses args. When it returns false the command should exit with
// code: 0 after -h, 1 after a bad flag.
func (c *clientCommand) parse(args []string) (ok bool, code int) {
	return parseFlags(c.UI, c.name, c.fs, args, c.Help)
}

// parseFlags parses args into the flag set of command name (quiet: errors
// are printed here). When it returns false the command should exit with
// code: 0 after -h, having printed help, or 1 after a bad flag, having
// printed one line.
func parseFlags(ui cli.Ui, name string, fs *flag.FlagSet, args []string, help func() string) (ok bool, code int) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case err == nil:
		return true, 0
	case errors.Is(err, flag.ErrHelp):
		ui.Output(help())
		return false, 0
	}
	ui.Error(oneLine(fmt.Sprintf("Error parsing flags: %v (see beacon %s -h)", err, name)))
	return false, 1
}

// fail prints one line on stderr and returns exit code 1.
func (c *clientCommand) fail(format string, args ...any) int {
	c.UI.Error(oneLine(fmt.Sprintf(format, args...)))
	return 1
}

// client builds the HTTP client, or prints why it cannot.
func (c *clientCommand) client() (*httpclient.Client, bool) {
	cl, err := c.http.client(c.Getenv)
	if err != nil {
		c.fail("Error connecting to Beacon agent: %v", err)
		return nil, false
	}
	return cl, true
}

// ctx is the context requests run under: Meta.Context, else the process'
// lifetime (Ctrl+C ends the process anyway).
func (c *clientCommand) ctx() context.Context {
	if c.Context != nil {
		return c.Context
	}
	return context.Background()
}

// untilInterrupted is ctx, ended also by SIGINT or SIGTERM: what a
// long-running command (lock, watch, monitor) stops on.
func (c *clientCommand) untilInterrupted() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(c.ctx(), os.Interrupt, syscall.SIGTERM)
}

// oneLine folds a message onto one line, so that every error is one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// httpFlags are the connection flags of every client command, as Consul's,
// each falling back to a BEACON_* then a CONSUL_* environment variable.
type httpFlags struct {
	addr, token, tokenFile                    string
	caFile, clientCert, clientKey, serverName string
	datacenter                                string
	stale                                     bool
}

func (f *httpFlags) clientFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "http-addr", "", "`address` of the agent's HTTP API: host:port, http://…, https://… or unix://…; else BEACON_HTTP_ADDR, CONSUL_HTTP_ADDR, "+httpclient.DefaultAddress)
	fs.StringVar(&f.token, "token", "", "ACL token sent as X-Consul-Token; else CONSUL_HTTP_TOKEN")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the ACL token; else CONSUL_HTTP_TOKEN_FILE")
	fs.StringVar(&f.caFile, "ca-file", "", "CA certificate for https; else CONSUL_CACERT")
	fs.StringVar(&f.clientCert, "client-cert", "", "client certificate for https; else CONSUL_CLIENT_CERT")
	fs.StringVar(&f.clientKey, "client-key", "", "client key for https; else CONSUL_CLIENT_KEY")
	fs.StringVar(&f.serverName, "tls-server-name", "", "server name to verify over https; else CONSUL_TLS_SERVER_NAME")
}

func (f *httpFlags) serverFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.datacenter, "datacenter", "", "datacenter to query (default: the agent's)")
	fs.BoolVar(&f.stale, "stale", false, "let any server answer, not only the leader")
}

// query is the ?dc and ?stale every read carries.
func (f *httpFlags) query() url.Values {
	q := url.Values{}
	if f.datacenter != "" {
		q.Set("dc", f.datacenter)
	}
	if f.stale {
		q.Set("stale", "")
	}
	return q
}

// envFirst returns the first non-empty variable among names.
func envFirst(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func envBool(getenv func(string) string, name string, def bool) (bool, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean", name, v)
	}
	return b, nil
}

func (f *httpFlags) config(getenv func(string) string) (httpclient.Config, error) {
	or := func(flagValue string, names ...string) string {
		if flagValue != "" {
			return flagValue
		}
		return envFirst(getenv, names...)
	}
	cfg := httpclient.Config{
		Address: or(f.addr, "BEACON_HTTP_ADDR", "CONSUL_HTTP_ADDR"),
		TLS: httpclient.TLSConfig{
			CAFile:     or(f.caFile, "BEACON_CACERT", "CONSUL_CACERT"),
			CertFile:   or(f.clientCert, "BEACON_CLIENT_CERT", "CONSUL_CLIENT_CERT"),
			KeyFile:    or(f.clientKey, "BEACON_CLIENT_KEY", "CONSUL_CLIENT_KEY"),
			ServerName: or(f.serverName, "BEACON_TLS_SERVER_NAME", "CONSUL_TLS_SERVER_NAME"),
		},
	}
	var err error
	if cfg.HTTPS, err = envBool(getenv, "CONSUL_HTTP_SSL", false); err != nil {
		return cfg, err
	}
	verify, err := envBool(getenv, "CONSUL_HTTP_SSL_VERIFY", true)
	if err != nil {
		return cfg, err
	}
	cfg.TLS.InsecureSkipVerify = !verify

	// A flag beats the environment; within each, the token beats the file.
	switch {
	case f.token != "":
		cfg.Token = f.token
	case f.tokenFile != "":
		cfg.Token, err = readToken(f.tokenFile)
	case envFirst(getenv, "BEACON_HTTP_TOKEN", "CONSUL_HTTP_TOKEN") != "":
		cfg.Token = envFirst(getenv, "BEACON_HTTP_TOKEN", "CONSUL_HTTP_TOKEN")
	case envFirst(getenv, "BEACON_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE") != "":
		cfg.Token, err = readToken(envFirst(getenv, "BEACON_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE"))
	}
	return cfg, err
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (f *httpFlags) client(getenv func(string) string) (*httpclient.Client, error) {
	cfg, err := f.config(getenv)
	if err != nil {
		return nil, err
	}
	return httpclient.New(cfg)
}

// mapFlag is a repeatable key=value flag (-meta, -node-meta).
type mapFlag map[string]string

func (m *mapFlag) String() string {
	if m == nil || *m == nil {
		return ""
	}
	pairs := make([]string, 0, len(*m))
	for k, v := range *m {
		pairs = append(pairs, k+"="+v)
	}
	return strings.Join(pairs, ",")
}

func (m *mapFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("missing \"=\" in %q (want key=value)", v)
	}
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = val
	return nil
}

// listFlag is a repeatable string flag (-tag).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// readData reads a value argument as Consul does: @file reads the file,
// a lone - reads stdin, anything else is the value itself.
func (m *Meta) readData(arg string) ([]byte, error) {
	switch {
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("failed to read file: %w", err)
		}
		return b, nil
	case arg == "-":
		b, err := io.ReadAll(m.Stdin)
		if err != nil {
			return nil, fmt.Errorf("failed to read stdin: %w", err)
		}
		return b, nil
	}
	return []byte(arg), nil
}
