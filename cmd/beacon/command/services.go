package command

import (
	"fmt"
	"maps"
	"net"
	"strconv"
)

type servicesRegisterCommand struct {
	clientCommand
	id, name, address, kind, socket string
	port                            int
	tags                            listFlag
	meta                            mapFlag
	taggedAddresses                 mapFlag
}

func newServicesRegister(m *Meta) *servicesRegisterCommand {
	c := &servicesRegisterCommand{}
	c.init(m, "services register", `
Usage: beacon services register [options] [FILE...]

  Registers services with the local agent (PUT /v1/agent/service/register),
  from service definition files (JSON or HCL, with a "service" or "services"
  key, as in the agent's -config-dir) or from flags. With files, the flags
  fill in what the files leave out.

      $ beacon services register web.json
      $ beacon services register -name=web -port=80 -tag=rails`, false)
	c.fs.StringVar(&c.id, "id", "", "service `ID` (default: the name)")
	c.fs.StringVar(&c.name, "name", "", "service `name`")
	c.fs.StringVar(&c.address, "address", "", "service `address` (default: the node's)")
	c.fs.IntVar(&c.port, "port", 0, "service `port`")
	c.fs.StringVar(&c.socket, "socket", "", "Unix socket `path` of the service, instead of -address and -port")
	c.fs.StringVar(&c.kind, "kind", "", "service `kind` (e.g. connect-proxy)")
	c.fs.Var(&c.tags, "tag", "service `tag`; repeatable")
	c.fs.Var(&c.meta, "meta", "service metadata as `key=value`; repeatable")
	c.fs.Var(&c.taggedAddresses, "tagged-address", "tagged address as `tag=host:port`; repeatable")
	return c
}

func (c *servicesRegisterCommand) Synopsis() string { return "Register services with the local agent" }

// fromFlags is the service the flags describe, with only the set fields.
func (c *servicesRegisterCommand) fromFlags() (serviceDef, error) {
	s := serviceDef{}
	set := func(k string, v any, ok bool) {
		if ok {
			s[k] = v
		}
	}
	set("ID", c.id, c.id != "")
	set("Name", c.name, c.name != "")
	set("Address", c.address, c.address != "")
	set("Port", c.port, c.port != 0)
	set("SocketPath", c.socket, c.socket != "")
	set("Kind", c.kind, c.kind != "")
	set("Tags", []string(c.tags), len(c.tags) > 0)
	set("Meta", map[string]string(c.meta), len(c.meta) > 0)
	if len(c.taggedAddresses) > 0 {
		tagged := map[string]any{}
		for tag, hp := range c.taggedAddresses {
			host, port, err := net.SplitHostPort(hp)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: %v", tag, hp, err)
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: port %q is not a number", tag, hp, port)
			}
			tagged[tag] = map[string]any{"Address": host, "Port": p}
		}
		s["TaggedAddresses"] = tagged
	}
	return s, nil
}

// combine fills in what a file's service leaves out from the flags, as
// Consul does: scalars only where the file has none, metadata and tagged
// addresses merged (flags win), tags appended.
func combine(file, flags serviceDef) {
	for _, k := range []string{"ID", "Name", "Address", "Port", "Kind", "SocketPath"} {
		if _, has := file[k]; !has {
			if v, ok := flags[k]; ok {
				file[k] = v
			}
		}
	}
	for _, k := range []string{"Meta", "TaggedAddresses"} {
		fv, ok := flags[k]
		if !ok {
			continue
		}
		merged := map[string]any{}
		if m, ok := file[k].(map[string]any); ok {
			maps.Copy(merged, m)
		}
		switch t := fv.(type) {
		case map[string]string:
			for mk, mv := range t {
				merged[mk] = mv
			}
		case map[string]any:
			maps.Copy(merged, t)
		}
		file[k] = merged
	}
	if tags, ok := flags["Tags"].([]string); ok {
		var all []any
		if l, ok := file["Tags"].([]any); ok {
			all = append(all, l...)
		}
		for _, t := range tags {
			all = append(all, t)
		}
		file["Tags"] = all
	}
}

func (c *servicesRegisterCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	files := c.fs.Args()
	if len(files) == 0 && c.name == "" {
		return c.fail("Service registration requires at least one argument or flags.")
	}
	if len(files) > 0 && c.name != "" {
		return c.fail("Service registration requires arguments or -name, not both.")
	}
	flagSvc, err := c.fromFlags()
	if err != nil {
		return c.fail("Invalid Tagged Address: %v", err)
	}
	svcs := []serviceDef{flagSvc}
	if len(files) > 0 {
		if svcs, err = parseServiceFiles(files); err != nil {
			return c.fail("Error: %v", err)
		}
		for _, s := range svcs {
			combine(s, flagSvc)
		}
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	for _, s := range svcs {
		if err := cl.Put(c.ctx(), "/v1/agent/service/register", nil, map[string]any(s), nil); err != nil {
			return c.fail("Error registering service %q: %v", s.str("Name"), err)
		}
		c.UI.Output("Registered service: " + s.str("Name"))
	}
	return 0
}

type servicesDeregisterCommand struct {
	clientCommand
	id string
}

func newServicesDeregister(m *Meta) *servicesDeregisterCommand {
	c := &servicesDeregisterCommand{}
	c.init(m, "services deregister", `
Usage: beacon services deregister [options] [FILE...]

  Deregisters services from the local agent: the one with -id, or those the
  definition files name (by ID, else by name).

      $ beacon services deregister web.json
      $ beacon services deregister -id=web`, false)
	c.fs.StringVar(&c.id, "id", "", "`ID` of the service to deregister")
	return c
}

func (c *servicesDeregisterCommand) Synopsis() string {
	return "Deregister services with the local agent"
}

func (c *servicesDeregisterCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	files := c.fs.Args()
	if len(files) == 0 && c.id == "" {
		return c.fail("Service deregistration requires at least one argument or -id.")
	}
	if len(files) > 0 && c.id != "" {
		return c.fail("Service deregistration requires arguments or -id, not both.")
	}
	ids := []string{c.id}
	if len(files) > 0 {
		svcs, err := parseServiceFiles(files)
		if err != nil {
			return c.fail("Error: %v", err)
		}
		ids = ids[:0]
		for _, s := range svcs {
			id := s.str("ID")
			if id == "" {
				id = s.str("Name")
			}
			if id != "" {
				ids = append(ids, id)
			}
		}
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	for _, id := range ids {
		if err := cl.Put(c.ctx(), "/v1/agent/service/deregister/"+id, nil, nil, nil); err != nil {
			return c.fail("Error deregistering service %q: %v", id, err)
		}
		c.UI.Output("Deregistered service: " + id)
	}
	return 0
}
