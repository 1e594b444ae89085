package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api/watch"
	"github.com/hashicorp/go-hclog"
)

// watchCommand runs one of consul/api's watch plans (the blocking-query
// loops consul watch, traefik and the agent's own watches use): with a
// handler it runs the handler with each new result as JSON on stdin; with
// none it prints the first result and exits.
type watchCommand struct {
	clientCommand
	typ, key, prefix, service, state, name string
	tags                                   listFlag
	passingOnly                            bool
	shell                                  bool
}

func newWatch(m *Meta) *watchCommand {
	c := &watchCommand{}
	c.init(m, "watch", `
Usage: beacon watch [options] [HANDLER...]

  Watches a view of the catalog or the KV store with blocking queries and
  runs HANDLER each time it changes, with the view as JSON on stdin and
  CONSUL_INDEX set to its index. Without HANDLER, prints the view as JSON
  and exits. Types: key (-key), keyprefix (-prefix), services, nodes,
  service (-service, -tag, -passingonly), checks (-service or -state).`, true)
	c.fs.StringVar(&c.typ, "type", "", "what to watch: key, keyprefix, services, nodes, service or checks")
	c.fs.StringVar(&c.key, "key", "", "the key (type key)")
	c.fs.StringVar(&c.prefix, "prefix", "", "the key prefix (type keyprefix)")
	c.fs.StringVar(&c.service, "service", "", "the service (types service and checks)")
	c.fs.Var(&c.tags, "tag", "only instances with this tag (type service; repeatable)")
	c.fs.BoolVar(&c.passingOnly, "passingonly", false, "only instances whose checks all pass (type service)")
	c.fs.StringVar(&c.state, "state", "", "only checks in this state (type checks)")
	c.fs.StringVar(&c.name, "name", "", "the event name (type event)")
	c.fs.BoolVar(&c.shell, "shell", true, "run HANDLER through sh -c (false: exec its first word with the rest as arguments)")
	return c
}

func (c *watchCommand) Synopsis() string { return "Watch for changes in the catalog or the KV store" }

func (c *watchCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if c.typ == "" {
		return c.fail("-type is required (see beacon watch -h)")
	}
	params := map[string]any{"type": c.typ}
	for k, v := range map[string]string{"key": c.key, "prefix": c.prefix, "service": c.service, "state": c.state,
		"name": c.name, "datacenter": c.http.datacenter} {
		if v != "" {
			params[k] = v
		}
	}
	if len(c.tags) > 0 {
		params["tag"] = []string(c.tags)
	}
	if c.passingOnly {
		params["passingonly"] = true
	}
	if c.http.stale {
		params["stale"] = true
	}
	plan, err := watch.Parse(params)
	if err != nil {
		return c.fail("Error parsing the watch: %v", err)
	}
	consul, ok := c.consulClient()
	if !ok {
		return 1
	}
	// Fail fast when there is no agent, rather than retrying for ever.
	if _, err := consul.Agent().NodeName(); err != nil {
		return c.fail("Error querying Beacon agent: %v", err)
	}

	ctx, stop := c.untilInterrupted()
	defer stop()
	handler := c.fs.Args()
	code := 0
	plan.HybridHandler = func(v watch.BlockingParamVal, data any) {
		out, err := json.MarshalIndent(data, "", "    ")
		if err != nil {
			c.UI.Error(oneLine("Error encoding the result: " + err.Error()))
			code = 1
			plan.Stop()
			return
		}
		if len(handler) == 0 {
			c.UI.Output(string(out))
			plan.Stop()
			return
		}
		c.runHandler(ctx, handler, out, v)
	}
	go func() {
		<-ctx.Done()
		plan.Stop()
	}()
	logger := hclog.New(&hclog.LoggerOptions{Name: "watch", Output: uiWriter{c.UI}, Level: hclog.Warn})
	if err := plan.RunWithClientAndHclog(consul, logger); err != nil {
		return c.fail("Error running the watch: %v", err)
	}
	return code
}

// runHandler runs the handler once with the result on stdin. Its failure
// is reported and the watch goes on, as Consul's does.
func (c *watchCommand) runHandler(ctx context.Context, handler []string, result []byte, v watch.BlockingParamVal) {
	cmd := childCommand(ctx, handler, c.shell)
	cmd.Env = os.Environ()
	if idx, ok := v.(watch.WaitIndexVal); ok {
		cmd.Env = append(cmd.Env, "CONSUL_INDEX="+strconv.FormatUint(uint64(idx), 10))
	}
	cmd.Stdin = bytes.NewReader(append(result, '\n'))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		c.UI.Error(oneLine(fmt.Sprintf("Error running the handler: %v", err)))
	}
}

// uiWriter sends the watch library's log lines to the UI's error stream.
type uiWriter struct{ ui interface{ Error(string) } }

func (w uiWriter) Write(p []byte) (int, error) {
	w.ui.Error(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
