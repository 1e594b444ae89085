package command

import (
	"cmp"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type membersCommand struct {
	clientCommand
	detailed bool
	status   string
	wan      bool
	filter   string
}

func newMembers(m *Meta) *membersCommand {
	c := &membersCommand{}
	c.init(m, "members", `
Usage: beacon members [options]

  Lists the members of the cluster the agent is part of, as the agent sees
  them (GET /v1/agent/members). Exits 2 when no member matches.`, false)
	c.fs.BoolVar(&c.detailed, "detailed", false, "show every member tag instead of the summary columns")
	c.fs.StringVar(&c.status, "status", ".*", "only members whose status matches this `regexp`")
	c.fs.BoolVar(&c.wan, "wan", false, "list the WAN pool instead of the LAN pool")
	c.fs.StringVar(&c.filter, "filter", "", "`expression` the agent filters members with")
	return c
}

func (c *membersCommand) Synopsis() string { return "Lists the members of the cluster" }

// agentMember is one entry of /v1/agent/members. Status is serf's.
type agentMember struct {
	Name   string
	Addr   string
	Port   int
	Tags   map[string]string
	Status int
}

func memberStatus(s int) string {
	switch s {
	case 0:
		return "none"
	case 1:
		return "alive"
	case 2:
		return "leaving"
	case 3:
		return "left"
	case 4:
		return "failed"
	}
	return "unknown"
}

func (m agentMember) addr() string {
	if ip := net.ParseIP(m.Addr); ip != nil {
		return (&net.TCPAddr{IP: ip, Port: m.Port}).String()
	}
	return net.JoinHostPort(m.Addr, strconv.Itoa(m.Port))
}

func (c *membersCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	statusRE, err := regexp.Compile(c.status)
	if err != nil {
		return c.fail("Failed to compile status regexp: %v", err)
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := url.Values{}
	if c.wan {
		q.Set("wan", "1")
	}
	if c.filter != "" {
		q.Set("filter", c.filter)
	}
	var members []agentMember
	if _, err := cl.Get(c.ctx(), "/v1/agent/members", q, &members); err != nil {
		return c.fail("Error retrieving members: %v", err)
	}

	shown := members[:0]
	for _, m := range members {
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		if m.Tags["ap"] == "" {
			m.Tags["ap"] = "default"
		}
		if m.Tags["role"] == "consul" {
			m.Tags["segment"] = "<all>"
		} else if m.Tags["segment"] == "" {
			m.Tags["segment"] = "<default>"
		}
		if statusRE.MatchString(memberStatus(m.Status)) {
			shown = append(shown, m)
		}
	}
	if len(shown) == 0 {
		return 2
	}
	// Servers first, then the default partition, then by segment,
	// partition and name, as Consul sorts.
	first := func(a, b bool) int {
		switch {
		case a == b:
			return 0
		case a:
			return -1
		}
		return 1
	}
	slices.SortStableFunc(shown, func(a, b agentMember) int {
		return cmp.Or(
			first(a.Tags["role"] == "consul", b.Tags["role"] == "consul"),
			first(a.Tags["ap"] == "default", b.Tags["ap"] == "default"),
			cmp.Compare(a.Tags["segment"], b.Tags["segment"]),
			cmp.Compare(a.Tags["ap"], b.Tags["ap"]),
			cmp.Compare(a.Name, b.Name),
		)
	})

	var rows [][]string
	if c.detailed {
		rows = append(rows, []string{"Node", "Address", "Status", "Tags"})
		for _, m := range shown {
			rows = append(rows, []string{m.Name, m.addr(), memberStatus(m.Status), keyValues(m.Tags, ",")})
		}
	} else {
		rows = append(rows, []string{"Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"})
		for _, m := range shown {
			build := m.Tags["build"]
			if build == "" {
				build = "< 0.3"
			} else if i := strings.IndexByte(build, ':'); i >= 0 {
				build = build[:i]
			}
			var kind string
			switch m.Tags["role"] {
			case "consul":
				kind = "server"
			case "node":
				kind = "client"
			default:
				rows = append(rows, []string{m.Name, m.addr(), memberStatus(m.Status), "unknown", "", "", "", "", ""})
				continue
			}
			rows = append(rows, []string{m.Name, m.addr(), memberStatus(m.Status), kind, build, m.Tags["vsn"], m.Tags["dc"], m.Tags["ap"], m.Tags["segment"]})
		}
	}
	c.UI.Output(columns(rows))
	return 0
}
