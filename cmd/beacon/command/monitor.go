package command

import (
	"bufio"
	"errors"
	"net/url"

	"github.com/beaconmesh/beacon/platform/logging"
)

type monitorCommand struct {
	clientCommand
	level string
	json  bool
}

func newMonitor(m *Meta) *monitorCommand {
	c := &monitorCommand{}
	c.init(m, "monitor", `
Usage: beacon monitor [options]

  Shows the local agent's logs as they are written (GET /v1/agent/monitor),
  at the given level and above whatever level the agent logs at, until
  interrupted.`, false)
	c.fs.StringVar(&c.level, "log-level", "info", "the lowest `level` shown: trace, debug, info, warn or error")
	c.fs.BoolVar(&c.json, "log-json", false, "show each line as a JSON object")
	return c
}

func (c *monitorCommand) Synopsis() string { return "Streams logs from a Beacon agent" }

func (c *monitorCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if n := c.fs.NArg(); n > 0 {
		return c.fail("Too many arguments (expected 0, got %d)", n)
	}
	if _, err := logging.ParseLevel(c.level); err != nil {
		return c.fail("Error: %v", err)
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	ctx, stop := c.untilInterrupted()
	defer stop()
	q := url.Values{"loglevel": {c.level}}
	if c.json {
		q.Set("logjson", "")
	}
	resp, err := cl.Do(ctx, "GET", "/v1/agent/monitor", q, nil)
	if err != nil {
		return c.fail("Error starting monitor: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		c.UI.Output(sc.Text())
	}
	if ctx.Err() != nil {
		return 0 // interrupted
	}
	if err := sc.Err(); err != nil && !errors.Is(err, ctx.Err()) {
		return c.fail("Error reading the logs: %v", err)
	}
	return c.fail("Remote side ended the monitor! This usually means that the remote side has exited or crashed.")
}
