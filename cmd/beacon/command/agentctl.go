package command

// agentActionCommand is a command that sends one PUT to the local agent and
// prints a fixed line: reload and leave.
type agentActionCommand struct {
	clientCommand
	synopsis string
	path     string
	success  string
	failure  string // prefix of the error line
}

func newReload(m *Meta) *agentActionCommand {
	c := &agentActionCommand{
		synopsis: "Triggers the agent to reload configuration files",
		path:     "/v1/agent/reload",
		success:  "Configuration reload triggered",
		failure:  "Error reloading",
	}
	c.init(m, "reload", `
Usage: beacon reload [options]

  Makes the agent reload its configuration files and service definitions
  (PUT /v1/agent/reload), as SIGHUP does.`, false)
	return c
}

func newLeave(m *Meta) *agentActionCommand {
	c := &agentActionCommand{
		synopsis: "Gracefully leaves the cluster and shuts down",
		path:     "/v1/agent/leave",
		success:  "Graceful leave complete",
		failure:  "Error leaving",
	}
	c.init(m, "leave", `
Usage: beacon leave [options]

  Makes the agent leave the cluster gracefully and shut down
  (PUT /v1/agent/leave).`, false)
	return c
}

func (c *agentActionCommand) Synopsis() string { return c.synopsis }

func (c *agentActionCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if n := c.fs.NArg(); n > 0 {
		return c.fail("Too many arguments (expected 0, got %d)", n)
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	if err := cl.Put(c.ctx(), c.path, nil, nil, nil); err != nil {
		return c.fail("%s: %v", c.failure, err)
	}
	c.UI.Output(c.success)
	return 0
}
