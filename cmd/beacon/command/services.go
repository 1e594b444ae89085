package command

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/hashicorp/consul/api"
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
  from service definition files or from flags. The files (JSON or HCL, with
  a "service" or "services" key; a directory stands for its *.json and *.hcl
  files) are read and checked as the agent reads its -config-dir: if any has
  a problem, every problem is printed and nothing is registered. With files,
  the flags fill in what the files leave out.

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
func (c *servicesRegisterCommand) fromFlags() (*api.AgentServiceRegistration, error) {
	s := &api.AgentServiceRegistration{
		ID:         c.id,
		Name:       c.name,
		Address:    c.address,
		Port:       c.port,
		SocketPath: c.socket,
		Kind:       api.ServiceKind(c.kind),
		Tags:       c.tags,
	}
	if len(c.meta) > 0 {
		s.Meta = c.meta
	}
	for tag, hp := range c.taggedAddresses {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %v", tag, hp, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: port %q is not a number", tag, hp, port)
		}
		if s.TaggedAddresses == nil {
			s.TaggedAddresses = map[string]api.ServiceAddress{}
		}
		s.TaggedAddresses[tag] = api.ServiceAddress{Address: host, Port: p}
	}
	return s, nil
}

// combine fills in what a file's service leaves out from the flags:
// scalars only where the file has none, metadata and tagged addresses
// merged (flags win), tags appended. (Consul ignores the flags when given
// files.)
func combine(file, flags *api.AgentServiceRegistration) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&file.ID, flags.ID)
	fill(&file.Name, flags.Name)
	fill(&file.Address, flags.Address)
	fill(&file.SocketPath, flags.SocketPath)
	if file.Kind == "" {
		file.Kind = flags.Kind
	}
	if file.Port == 0 {
		file.Port = flags.Port
	}
	if len(flags.Meta) > 0 {
		merged := maps.Clone(file.Meta)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, flags.Meta)
		file.Meta = merged
	}
	if len(flags.TaggedAddresses) > 0 {
		merged := maps.Clone(file.TaggedAddresses)
		if merged == nil {
			merged = map[string]api.ServiceAddress{}
		}
		maps.Copy(merged, flags.TaggedAddresses)
		file.TaggedAddresses = merged
	}
	if len(flags.Tags) > 0 {
		file.Tags = append(slices.Clone(file.Tags), flags.Tags...)
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
	svcs := []*api.AgentServiceRegistration{flagSvc}
	if len(files) > 0 {
		defs, err := loadServices(c.UI, files)
		if err != nil {
			return c.fail("Error: %v", err)
		}
		svcs = svcs[:0]
		for i := range defs {
			s := registration(&defs[i])
			combine(s, flagSvc)
			svcs = append(svcs, s)
		}
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	for _, s := range svcs {
		if err := cl.Put(c.ctx(), "/v1/agent/service/register", nil, s, nil); err != nil {
			return c.fail("Error registering service %q: %v", s.Name, err)
		}
		c.UI.Output("Registered service: " + s.Name)
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
		svcs, err := loadServices(c.UI, files)
		if err != nil {
			return c.fail("Error: %v", err)
		}
		ids = ids[:0]
		for _, s := range svcs {
			ids = append(ids, s.ID) // the name when the file gives no ID
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
