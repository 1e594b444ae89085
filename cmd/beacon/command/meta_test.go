package command

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
	"github.com/hashicorp/cli"
)

func TestConnectionConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		want  httpclient.Config
		error string
	}{
		{name: "defaults", want: httpclient.Config{}},
		{
			name: "CONSUL_ variables",
			env:  map[string]string{"CONSUL_HTTP_ADDR": "https://c:8501", "CONSUL_HTTP_TOKEN": "ct", "CONSUL_CACERT": "/ca", "CONSUL_TLS_SERVER_NAME": "srv"},
			want: httpclient.Config{Address: "https://c:8501", Token: "ct", TLS: httpclient.TLSConfig{CAFile: "/ca", ServerName: "srv"}},
		},
		{
			name: "BEACON_ beats CONSUL_",
			env:  map[string]string{"CONSUL_HTTP_ADDR": "c:1", "BEACON_HTTP_ADDR": "b:1", "CONSUL_HTTP_TOKEN": "ct", "BEACON_HTTP_TOKEN": "bt"},
			want: httpclient.Config{Address: "b:1", Token: "bt"},
		},
		{
			name: "flags beat the environment",
			args: []string{"-http-addr", "f:1", "-token", "ft", "-ca-file", "/fca"},
			env:  map[string]string{"BEACON_HTTP_ADDR": "b:1", "CONSUL_HTTP_TOKEN": "ct", "CONSUL_CACERT": "/ca"},
			want: httpclient.Config{Address: "f:1", Token: "ft", TLS: httpclient.TLSConfig{CAFile: "/fca"}},
		},
		{
			name: "-token-file beats CONSUL_HTTP_TOKEN",
			args: []string{"-token-file", tokenFile},
			env:  map[string]string{"CONSUL_HTTP_TOKEN": "ct"},
			want: httpclient.Config{Token: "from-file"},
		},
		{
			name: "CONSUL_HTTP_TOKEN beats CONSUL_HTTP_TOKEN_FILE",
			env:  map[string]string{"CONSUL_HTTP_TOKEN": "ct", "CONSUL_HTTP_TOKEN_FILE": tokenFile},
			want: httpclient.Config{Token: "ct"},
		},
		{
			name: "CONSUL_HTTP_TOKEN_FILE",
			env:  map[string]string{"CONSUL_HTTP_TOKEN_FILE": tokenFile},
			want: httpclient.Config{Token: "from-file"},
		},
		{
			name: "SSL switches",
			env:  map[string]string{"CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_SSL_VERIFY": "0", "CONSUL_CLIENT_CERT": "/c", "CONSUL_CLIENT_KEY": "/k"},
			want: httpclient.Config{HTTPS: true, TLS: httpclient.TLSConfig{CertFile: "/c", KeyFile: "/k", InsecureSkipVerify: true}},
		},
		{
			name:  "bad boolean",
			env:   map[string]string{"CONSUL_HTTP_SSL": "yes please"},
			error: `CONSUL_HTTP_SSL="yes please" is not a boolean`,
		},
		{
			name:  "missing token file",
			args:  []string{"-token-file", filepath.Join(dir, "nope")},
			error: "read token file: open " + filepath.Join(dir, "nope") + ": no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f httpFlags
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			f.clientFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.config(func(k string) string { return tt.env[k] })
			if tt.error != "" {
				if err == nil || err.Error() != tt.error {
					t.Fatalf("error %v, want %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("config %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

func TestBadConnectionSettings(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "bad address",
			args:   []string{"kv", "get", "-http-addr", "ftp://x:1", "k"},
			code:   1,
			stderr: "Error connecting to Beacon agent: invalid address \"ftp://x:1\": scheme must be http, https or unix\n",
		},
		{
			name:   "bad SSL variable",
			args:   []string{"catalog", "services"},
			env:    map[string]string{"CONSUL_HTTP_SSL": "maybe"},
			code:   1,
			stderr: "Error connecting to Beacon agent: CONSUL_HTTP_SSL=\"maybe\" is not a boolean\n",
		},
		{
			name:   "address from CONSUL_HTTP_ADDR when BEACON_HTTP_ADDR is unset",
			args:   []string{"catalog", "datacenters"},
			env:    map[string]string{"BEACON_HTTP_ADDR": "", "CONSUL_HTTP_ADDR": "{{addr}}"},
			want:   []exchange{{method: "GET", path: "/v1/catalog/datacenters", reply: `["dc1"]`}},
			stdout: "dc1\n",
		},
	})
}

// TestEveryCommand checks what the CLI needs of every command: a synopsis,
// help that -h prints with exit 0, and that group commands show help.
func TestEveryCommand(t *testing.T) {
	ui := cli.NewMockUi()
	table := commands(&Meta{UI: ui, Getenv: func(string) string { return "" }, Stdin: strings.NewReader("")})
	for name, factory := range table {
		t.Run(name, func(t *testing.T) {
			cmd, err := factory()
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Synopsis() == "" || !strings.HasPrefix(cmd.Help(), "Usage: beacon "+name) {
				t.Errorf("synopsis %q, help %q", cmd.Synopsis(), cmd.Help())
			}
			if _, ok := cmd.(*parentCommand); ok {
				if code := cmd.Run(nil); code != cli.RunResultHelp {
					t.Errorf("group command exit %d, want RunResultHelp", code)
				}
				return
			}
			if _, ok := cmd.(*agentCommand); ok {
				return // runs the agent; covered by its own tests
			}
			ui.OutputWriter.Reset()
			if code := cmd.Run([]string{"-h"}); code != 0 {
				t.Errorf("-h exits %d", code)
			}
			if name != "version" && !strings.Contains(ui.OutputWriter.String(), "Options:") {
				t.Errorf("-h printed %q", ui.OutputWriter.String())
			}
		})
	}
}

// TestCLIDispatch runs the commands through hashicorp/cli as main does,
// to check that nested names resolve.
func TestCLIDispatch(t *testing.T) {
	fake := newFakeAgent(t, []exchange{{method: "GET", path: "/v1/operator/raft/configuration", reply: `{"Servers":[],"Index":1}`}})
	ui := cli.NewMockUi()
	c := cli.NewCLI("beacon", Version)
	c.Args = []string{"operator", "raft", "list-peers", "-http-addr", fake.srv.URL}
	c.Commands = commands(&Meta{UI: ui, Getenv: func(string) string { return "" }, Stdin: strings.NewReader("")})
	c.HelpWriter = io.Discard
	code, err := c.Run()
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v, stderr %q", code, err, ui.ErrorWriter.String())
	}
	if !strings.HasPrefix(ui.OutputWriter.String(), "Node  ID  Address") {
		t.Errorf("output %q", ui.OutputWriter.String())
	}
}
