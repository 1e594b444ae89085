package command

import (
	"net/url"
)

type forceLeaveCommand struct {
	clientCommand
	prune bool
}

func newForceLeave(m *Meta) *forceLeaveCommand {
	c := &forceLeaveCommand{}
	c.init(m, "force-leave", `
Usage: beacon force-leave [options] NODE

  Forces the member NODE to leave the cluster (PUT
  /v1/agent/force-leave/:node): it is marked left and its node, services
  and checks leave the catalog. Use it on a member that failed and will not
  come back; an agent that is in fact alive joins again.`, false)
	c.fs.BoolVar(&c.prune, "prune", false, "also remove the member from the member list, instead of keeping it as left")
	return c
}

func (c *forceLeaveCommand) Synopsis() string {
	return "Forces a member of the cluster to enter the \"left\" state"
}

func (c *forceLeaveCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if c.fs.NArg() != 1 {
		return c.fail("A single node name must be specified to force leave.")
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var q url.Values
	if c.prune {
		q = url.Values{"prune": {"1"}}
	}
	if err := cl.Put(c.ctx(), "/v1/agent/force-leave/"+url.PathEscape(c.fs.Arg(0)), q, nil, nil); err != nil {
		return c.fail("Error force leaving: %v", err)
	}
	return 0
}
