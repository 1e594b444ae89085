package command

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/cli"
)

// exchange is one request a command is expected to send, and the answer
// the fake agent gives it.
type exchange struct {
	method, path string
	query        string // url-encoded; compared as parsed values
	body         string // exact request body, unless jsonBody is set
	jsonBody     string // request body compared as JSON
	header       map[string]string

	status     int // default 200
	respHeader map[string]string
	reply      string
	// notServed answers as the gateway does for a route it lacks.
	notServed bool
}

// cliCase is one run of one command against a fake agent.
type cliCase struct {
	name  string
	args  []string          // "{{addr}}" and "{{dir}}" are expanded
	env   map[string]string // BEACON_HTTP_ADDR defaults to the fake
	stdin string
	files map[string]string // written into {{dir}} first
	want  []exchange

	code           int
	stdout, stderr string // "{{addr}}" and "{{dir}}" are expanded
}

// fakeAgent serves want in order and fails the test on any other request.
type fakeAgent struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	want []exchange
	next int
}

func newFakeAgent(t *testing.T, want []exchange) *fakeAgent {
	f := &fakeAgent{t: t, want: want}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if f.next >= len(f.want) {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	x := f.want[f.next]
	f.next++
	if r.Method != x.method || r.URL.Path != x.path {
		f.t.Errorf("request %d: got %s %s, want %s %s", f.next, r.Method, r.URL.Path, x.method, x.path)
	}
	wantQ, err := url.ParseQuery(x.query)
	if err != nil {
		f.t.Fatalf("bad query in test: %v", err)
	}
	if gotQ := r.URL.Query(); !maps.EqualFunc(gotQ, wantQ, func(a, b []string) bool { return reflect.DeepEqual(a, b) }) {
		f.t.Errorf("request %d %s: query %v, want %v", f.next, x.path, gotQ, wantQ)
	}
	if x.jsonBody != "" {
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			f.t.Errorf("request %d: body is not JSON: %v: %s", f.next, err, body)
		}
		if err := json.Unmarshal([]byte(x.jsonBody), &want); err != nil {
			f.t.Fatalf("bad jsonBody in test: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			f.t.Errorf("request %d: body\n%s\nwant\n%s", f.next, body, x.jsonBody)
		}
	} else if string(body) != x.body {
		f.t.Errorf("request %d: body %q, want %q", f.next, body, x.body)
	}
	for k, v := range x.header {
		if got := r.Header.Get(k); got != v {
			f.t.Errorf("request %d: header %s = %q, want %q", f.next, k, got, v)
		}
	}
	if x.notServed {
		http.NotFound(w, r)
		return
	}
	for k, v := range x.respHeader {
		w.Header().Set(k, v)
	}
	w.WriteHeader(cmp.Or(x.status, http.StatusOK))
	io.WriteString(w, x.reply)
}

// result is what one command run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCommand runs the command args name (the longest match, as the CLI
// does) in-process with env as its environment.
func runCommand(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runCommandContext(t, nil, env, stdin, args...)
}

// runCommandContext is runCommand under ctx (Meta.Context): ending it
// stops a long-running command (lock, watch).
func runCommandContext(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ui := cli.NewMockUi()
	m := &Meta{UI: ui, Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(stdin), Context: ctx}
	table := commands(m)
	for n := min(3, len(args)); n > 0; n-- {
		if factory, ok := table[strings.Join(args[:n], " ")]; ok {
			cmd, err := factory()
			if err != nil {
				t.Fatal(err)
			}
			code := cmd.Run(args[n:])
			return result{code: code, stdout: ui.OutputWriter.String(), stderr: ui.ErrorWriter.String()}
		}
	}
	t.Fatalf("no command in %q", args)
	return result{}
}

// runCases runs each case against its own fake agent and checks the exit
// code, both streams, that every expected request came, and that an error
// is exactly one line.
func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeAgent(t, tc.want)
			dir := t.TempDir()
			expand := strings.NewReplacer("{{addr}}", fake.srv.URL, "{{dir}}", dir).Replace
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"BEACON_HTTP_ADDR": fake.srv.URL}
			maps.Copy(env, tc.env)
			for k, v := range env {
				env[k] = expand(v)
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = expand(a)
			}
			got := runCommand(t, env, tc.stdin, args...)
			if got.code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", got.code, tc.code, got.stderr)
			}
			if want := expand(tc.stdout); got.stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got.stdout, want)
			}
			if want := expand(tc.stderr); got.stderr != want {
				t.Errorf("stderr:\n%q\nwant:\n%q", got.stderr, want)
			}
			if tc.code == 1 && strings.Count(got.stderr, "\n") != 1 {
				t.Errorf("an error must print one line, got %q", got.stderr)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.next != len(tc.want) {
				t.Errorf("%d of %d expected requests were sent", fake.next, len(tc.want))
			}
		})
	}
}
