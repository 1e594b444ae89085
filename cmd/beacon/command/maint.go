package command

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
)

// The IDs of the critical checks the agent registers for maintenance mode,
// as Consul names them.
const (
	nodeMaintenanceCheck     = "_node_maintenance"
	serviceMaintenancePrefix = "_service_maintenance:"
)

type maintCommand struct {
	clientCommand
	enable  bool
	disable bool
	reason  string
	service string
}

func newMaint(m *Meta) *maintCommand {
	c := &maintCommand{}
	c.init(m, "maint", `
Usage: beacon maint [options]

  Puts the local agent's node, or one of its services, into maintenance
  mode or takes it out (PUT /v1/agent/maintenance, PUT
  /v1/agent/service/maintenance/:id). A node or service in maintenance has
  a critical check, so it leaves DNS answers and ?passing results. With no
  -enable or -disable, lists what is in maintenance now.`, false)
	c.fs.BoolVar(&c.enable, "enable", false, "enter maintenance mode (the node's, or with -service one service's)")
	c.fs.BoolVar(&c.disable, "disable", false, "leave maintenance mode (the node's, or with -service one service's)")
	c.fs.StringVar(&c.reason, "reason", "", "why, shown in the maintenance check's Notes (with -enable)")
	c.fs.StringVar(&c.service, "service", "", "the `ID` of the service to act on instead of the node")
	return c
}

func (c *maintCommand) Synopsis() string { return "Controls node or service maintenance mode" }

func (c *maintCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if n := c.fs.NArg(); n > 0 {
		return c.fail("Too many arguments (expected 0, got %d)", n)
	}
	switch {
	case c.enable && c.disable:
		return c.fail("Only one of -enable or -disable may be provided")
	case !c.enable && c.reason != "":
		return c.fail("Reason may only be provided with -enable")
	case !c.enable && !c.disable && c.service != "":
		return c.fail("Service requires either -enable or -disable")
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	if !c.enable && !c.disable {
		return c.list(cl)
	}
	q := url.Values{"enable": {fmt.Sprint(c.enable)}}
	if c.reason != "" {
		q.Set("reason", c.reason)
	}
	what, path := "Node", "/v1/agent/maintenance"
	if c.service != "" {
		what, path = "Service", "/v1/agent/service/maintenance/"+c.service
	}
	if err := cl.Put(c.ctx(), path, q, nil, nil); err != nil {
		verb := "disabling"
		if c.enable {
			verb = "enabling"
		}
		return c.fail("Error %s maintenance mode: %v", verb, err)
	}
	if c.enable {
		c.UI.Output(what + " entered maintenance mode")
	} else {
		c.UI.Output(what + " left maintenance mode")
	}
	return 0
}

// list prints the node and the services in maintenance, from the agent's
// maintenance checks.
func (c *maintCommand) list(cl *httpclient.Client) int {
	var checks map[string]struct {
		Node      string
		CheckID   string
		ServiceID string
		Notes     string
	}
	if _, err := cl.Get(c.ctx(), "/v1/agent/checks", nil, &checks); err != nil {
		return c.fail("Error listing maintenance: %v", err)
	}
	ids := make([]string, 0, len(checks))
	for id := range checks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		ch := checks[id]
		switch {
		case ch.CheckID == nodeMaintenanceCheck:
			fmt.Fprintf(&b, "Node:\n  Name:   %s\n  Reason: %s\n\n", ch.Node, ch.Notes)
		case strings.HasPrefix(ch.CheckID, serviceMaintenancePrefix):
			svc := cmp.Or(ch.ServiceID, strings.TrimPrefix(ch.CheckID, serviceMaintenancePrefix))
			fmt.Fprintf(&b, "Service:\n  ID:     %s\n  Reason: %s\n\n", svc, ch.Notes)
		}
	}
	if out := strings.TrimSuffix(b.String(), "\n\n"); out != "" {
		c.UI.Output(out)
	}
	return 0
}
