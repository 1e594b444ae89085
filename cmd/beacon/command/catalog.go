package command

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
)

type catalogDatacentersCommand struct{ clientCommand }

func newCatalogDatacenters(m *Meta) *catalogDatacentersCommand {
	c := &catalogDatacentersCommand{}
	c.init(m, "catalog datacenters", `
Usage: beacon catalog datacenters [options]

  Lists every known datacenter, nearest first.`, false)
	return c
}

func (c *catalogDatacentersCommand) Synopsis() string { return "Lists all known datacenters" }

func (c *catalogDatacentersCommand) Run(args []string) int {
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
	var dcs []string
	if _, err := cl.Get(c.ctx(), "/v1/catalog/datacenters", nil, &dcs); err != nil {
		return c.fail("Error listing datacenters: %v", err)
	}
	for _, dc := range dcs {
		c.UI.Output(dc)
	}
	return 0
}

type catalogServicesCommand struct {
	clientCommand
	node     string
	nodeMeta mapFlag
	tags     bool
}

func newCatalogServices(m *Meta) *catalogServicesCommand {
	c := &catalogServicesCommand{}
	c.init(m, "catalog services", `
Usage: beacon catalog services [options]

  Lists the services registered in the datacenter, one per line.

      $ beacon catalog services -tags
      $ beacon catalog services -node=web-1`, true)
	c.fs.StringVar(&c.node, "node", "", "only the services of this node (`name`)")
	c.fs.Var(&c.nodeMeta, "node-meta", "only services on nodes with this `key=value` metadata; repeatable")
	c.fs.BoolVar(&c.tags, "tags", false, "show each service's tags, comma-separated")
	return c
}

func (c *catalogServicesCommand) Synopsis() string {
	return "Lists all registered services in a datacenter"
}

func nodeMetaQuery(q url.Values, meta mapFlag) {
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		q.Add("node-meta", k+":"+meta[k])
	}
}

func (c *catalogServicesCommand) Run(args []string) int {
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
	q := c.http.query()
	nodeMetaQuery(q, c.nodeMeta)
	services := map[string][]string{}
	if c.node != "" {
		var node *struct {
			Services map[string]struct {
				Service string
				Tags    []string
			}
		}
		if _, err := cl.Get(c.ctx(), "/v1/catalog/node/"+c.node, q, &node); err != nil {
			return c.fail("Error listing services for node: %v", err)
		}
		if node != nil {
			for _, s := range node.Services {
				services[s.Service] = append(services[s.Service], s.Tags...)
			}
		}
	} else if _, err := cl.Get(c.ctx(), "/v1/catalog/services", q, &services); err != nil {
		return c.fail("Error listing services: %v", err)
	}
	if len(services) == 0 {
		c.UI.Error("No services match the given query - try expanding your search.")
		return 0
	}
	names := slices.Sorted(maps.Keys(services))
	if !c.tags {
		for _, s := range names {
			c.UI.Output(s)
		}
		return 0
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 2, 6, ' ', 0)
	for _, s := range names {
		tags := slices.Clone(services[s])
		slices.Sort(tags)
		fmt.Fprintf(tw, "%s\t%s\n", s, strings.Join(tags, ","))
	}
	_ = tw.Flush()
	c.UI.Output(strings.TrimSpace(b.String()))
	return 0
}

type catalogNodesCommand struct {
	clientCommand
	service  string
	detailed bool
	near     string
	nodeMeta mapFlag
	filter   string
}

func newCatalogNodes(m *Meta) *catalogNodesCommand {
	c := &catalogNodesCommand{}
	c.init(m, "catalog nodes", `
Usage: beacon catalog nodes [options]

  Lists the nodes registered in the datacenter.

      $ beacon catalog nodes -detailed
      $ beacon catalog nodes -service=web`, true)
	c.fs.StringVar(&c.service, "service", "", "only nodes that provide this service (`name`)")
	c.fs.BoolVar(&c.detailed, "detailed", false, "show full node IDs, tagged addresses and metadata")
	c.fs.StringVar(&c.near, "near", "", "sort by round-trip time from this `node` (_agent: the agent's)")
	c.fs.Var(&c.nodeMeta, "node-meta", "only nodes with this `key=value` metadata; repeatable")
	c.fs.StringVar(&c.filter, "filter", "", "`expression` the server filters nodes with")
	return c
}

func (c *catalogNodesCommand) Synopsis() string { return "Lists all nodes in the given datacenter" }

// catalogNode holds the fields of /v1/catalog/nodes, and of
// /v1/catalog/service/:name under the names that list uses.
type catalogNode struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	NodeMeta        map[string]string
}

func (c *catalogNodesCommand) Run(args []string) int {
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
	q := c.http.query()
	nodeMetaQuery(q, c.nodeMeta)
	if c.near != "" {
		q.Set("near", c.near)
	}
	if c.filter != "" {
		data, err := c.readData(c.filter)
		if err != nil {
			return c.fail("Could not process filter argument: %v", err)
		}
		q.Set("filter", string(data))
	}
	var nodes []catalogNode
	if c.service != "" {
		if _, err := cl.Get(c.ctx(), "/v1/catalog/service/"+c.service, q, &nodes); err != nil {
			return c.fail("Error listing nodes for service: %v", err)
		}
		for i := range nodes {
			nodes[i].Meta = nodes[i].NodeMeta
		}
	} else if _, err := cl.Get(c.ctx(), "/v1/catalog/nodes", q, &nodes); err != nil {
		return c.fail("Error listing nodes: %v", err)
	}
	if len(nodes) == 0 {
		c.UI.Error("No nodes match the given query - try expanding your search.")
		return 0
	}
	var rows [][]string
	if c.detailed {
		rows = append(rows, []string{"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"})
	} else {
		rows = append(rows, []string{"Node", "ID", "Address", "DC"})
	}
	for _, n := range nodes {
		if c.detailed {
			rows = append(rows, []string{n.Node, n.ID, n.Address, n.Datacenter, keyValues(n.TaggedAddresses, ", "), keyValues(n.Meta, ", ")})
			continue
		}
		id := n.ID
		if i := strings.IndexByte(id, '-'); i > 0 {
			id = id[:i]
		}
		rows = append(rows, []string{n.Node, id, n.Address, n.Datacenter})
	}
	c.UI.Output(columns(rows))
	return 0
}
