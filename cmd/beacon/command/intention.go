package command

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
)

// intention is an intention as /v1/connect/intentions answers it.
type intention struct {
	ID              string
	Description     string `json:",omitempty"`
	SourceName      string
	DestinationName string
	SourceType      string `json:",omitempty"`
	Action          string
	Meta            map[string]string `json:",omitempty"`
	Precedence      int
	CreateIndex     uint64 `json:",omitempty"`
	ModifyIndex     uint64 `json:",omitempty"`
}

// pairQuery is the ?source=&destination= of the exact and check routes.
func pairQuery(src, dst string) url.Values {
	return url.Values{"source": {src}, "destination": {dst}}
}

// pairArgs reads the SRC DST arguments every pair command takes.
func (c *clientCommand) pairArgs() (src, dst string, ok bool) {
	if c.fs.NArg() != 2 {
		c.fail("Error: %s takes exactly two arguments, SRC and DST, got %d (see beacon %s -h)", c.name, c.fs.NArg(), c.name)
		return "", "", false
	}
	return c.fs.Arg(0), c.fs.Arg(1), true
}

// idOrPairArgs reads the arguments of get and delete: SRC DST, or the ID
// of Consul's deprecated one-argument form (then src and dst are empty).
func (c *clientCommand) idOrPairArgs() (id, src, dst string, ok bool) {
	switch c.fs.NArg() {
	case 1:
		if c.fs.Arg(0) == "" {
			c.fail("Error: the intention ID is empty")
			return "", "", "", false
		}
		return c.fs.Arg(0), "", "", true
	case 2:
		return "", c.fs.Arg(0), c.fs.Arg(1), true
	}
	c.fail("Error: %s takes one argument, ID, or two, SRC and DST, got %d (see beacon %s -h)", c.name, c.fs.NArg(), c.name)
	return "", "", "", false
}

// intentionTarget is the route and query naming one intention: by id when
// it is given, else by the pair src, dst.
func intentionTarget(id, src, dst string) (string, url.Values) {
	if id != "" {
		return "/v1/connect/intentions/" + id, nil
	}
	return "/v1/connect/intentions/exact", pairQuery(src, dst)
}

// intentionLine is how Consul's CLI prints one intention on a line.
func intentionLine(src, dst, action string) string {
	return fmt.Sprintf("%s => %s (%s)", src, dst, action)
}

// metaFlag is the repeatable -meta key=value.
type metaFlag map[string]string

func (m metaFlag) String() string { return keyValues(m, ",") }

func (m metaFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", v)
	}
	m[k] = val
	return nil
}

type intentionCreateCommand struct {
	clientCommand
	allow, deny, replace bool
	description          string
	meta                 metaFlag
}

func newIntentionCreate(m *Meta) *intentionCreateCommand {
	c := &intentionCreateCommand{meta: metaFlag{}}
	c.init(m, "intention create", `
Usage: beacon intention create [options] SRC DST

  Creates an intention allowing (the default) or denying connections from
  the service SRC to the service DST. Either may be "*", any service. An
  intention for the same pair is an error unless -replace is given.

      $ beacon intention create -deny web db`, false)
	c.fs.BoolVar(&c.allow, "allow", false, "allow the connections (the default)")
	c.fs.BoolVar(&c.deny, "deny", false, "deny the connections")
	c.fs.BoolVar(&c.replace, "replace", false, "replace an intention for the same pair")
	c.fs.StringVar(&c.description, "description", "", "a description of the intention")
	c.fs.Var(c.meta, "meta", "`key=value` metadata; repeatable")
	return c
}

func (c *intentionCreateCommand) Synopsis() string {
	return "Create intentions for service connections"
}

func (c *intentionCreateCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if c.allow && c.deny {
		return c.fail("Error: only one of -allow and -deny may be given")
	}
	src, dst, ok := c.pairArgs()
	if !ok {
		return 1
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	if !c.replace {
		var existing intention
		_, err := cl.Get(c.ctx(), "/v1/connect/intentions/exact", pairQuery(src, dst), &existing)
		switch {
		case err == nil:
			return c.fail("Error: an intention with source %q and destination %q already exists (use -replace to replace it)", src, dst)
		case !httpclient.IsNotFound(err):
			return c.fail("Error checking for an existing intention: %v", err)
		}
	}
	action := "allow"
	if c.deny {
		action = "deny"
	}
	body := intention{SourceName: src, DestinationName: dst, SourceType: "consul", Action: action, Description: c.description}
	if len(c.meta) > 0 {
		body.Meta = c.meta
	}
	if err := cl.Put(c.ctx(), "/v1/connect/intentions/exact", pairQuery(src, dst), body, nil); err != nil {
		return c.fail("Error creating the intention: %v", err)
	}
	c.UI.Output("Created: " + intentionLine(src, dst, action))
	return 0
}

type intentionCheckCommand struct{ clientCommand }

func newIntentionCheck(m *Meta) *intentionCheckCommand {
	c := &intentionCheckCommand{}
	c.init(m, "intention check", `
Usage: beacon intention check [options] SRC DST

  Checks whether a connection from SRC to DST would be allowed by the
  intentions and the default policy. Prints Allowed (exit code 0) or
  Denied (exit code 2); any error exits with 1.`, false)
	return c
}

func (c *intentionCheckCommand) Synopsis() string {
	return "Check whether a connection between two services is allowed"
}

func (c *intentionCheckCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	src, dst, ok := c.pairArgs()
	if !ok {
		return 1
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var out struct{ Allowed bool }
	if _, err := cl.Get(c.ctx(), "/v1/connect/intentions/check", pairQuery(src, dst), &out); err != nil {
		return c.fail("Error checking the intention: %v", err)
	}
	if !out.Allowed {
		c.UI.Output("Denied")
		return 2
	}
	c.UI.Output("Allowed")
	return 0
}

type intentionGetCommand struct{ clientCommand }

func newIntentionGet(m *Meta) *intentionGetCommand {
	c := &intentionGetCommand{}
	c.init(m, "intention get", `
Usage: beacon intention get [options] SRC DST
Usage: beacon intention get [options] ID

  Shows the intention for the pair SRC DST. The one-argument form, by the
  intention's ID, is kept for scripts written for Consul before 1.9.`, false)
	return c
}

func (c *intentionGetCommand) Synopsis() string { return "Show information about an intention" }

func (c *intentionGetCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	id, src, dst, ok := c.idOrPairArgs()
	if !ok {
		return 1
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var in intention
	path, q := intentionTarget(id, src, dst)
	if _, err := cl.Get(c.ctx(), path, q, &in); err != nil {
		switch {
		case !httpclient.IsNotFound(err):
			return c.fail("Error reading the intention: %v", err)
		case id != "":
			return c.fail("Error: no intention with ID %q", id)
		}
		return c.fail("Error: no intention with source %q and destination %q", src, dst)
	}
	rows := [][]string{
		{"Source:", in.SourceName},
		{"Destination:", in.DestinationName},
		{"Action:", in.Action},
		{"ID:", in.ID},
	}
	if in.Description != "" {
		rows = append(rows, []string{"Description:", in.Description})
	}
	if len(in.Meta) > 0 {
		rows = append(rows, []string{"Meta:", keyValues(in.Meta, ", ")})
	}
	rows = append(rows, []string{"Precedence:", strconv.Itoa(in.Precedence)})
	c.UI.Output(columns(rows))
	return 0
}

type intentionListCommand struct{ clientCommand }

func newIntentionList(m *Meta) *intentionListCommand {
	c := &intentionListCommand{}
	c.init(m, "intention list", `
Usage: beacon intention list [options]

  Lists every intention, the most precedent first. With none, prints
  "There are no intentions." on stderr and exits with 2.`, false)
	return c
}

func (c *intentionListCommand) Synopsis() string { return "List intentions" }

func (c *intentionListCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if c.fs.NArg() != 0 {
		return c.fail("Error: intention list takes no arguments, got %d", c.fs.NArg())
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var ins []intention
	if _, err := cl.Get(c.ctx(), "/v1/connect/intentions", nil, &ins); err != nil {
		return c.fail("Error listing intentions: %v", err)
	}
	if len(ins) == 0 {
		// As Consul: a script can tell "none" from a listing by the code.
		c.UI.Error("There are no intentions.")
		return 2
	}
	rows := [][]string{{"ID", "Source", "Action", "Destination", "Precedence"}}
	for _, in := range ins {
		rows = append(rows, []string{in.ID, in.SourceName, in.Action, in.DestinationName, strconv.Itoa(in.Precedence)})
	}
	c.UI.Output(columns(rows))
	return 0
}

type intentionDeleteCommand struct{ clientCommand }

func newIntentionDelete(m *Meta) *intentionDeleteCommand {
	c := &intentionDeleteCommand{}
	c.init(m, "intention delete", `
Usage: beacon intention delete [options] SRC DST
Usage: beacon intention delete [options] ID

  Deletes the intention for the pair SRC DST. The one-argument form, by the
  intention's ID, is kept for scripts written for Consul before 1.9.`, false)
	return c
}

func (c *intentionDeleteCommand) Synopsis() string { return "Delete an intention" }

func (c *intentionDeleteCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	id, src, dst, ok := c.idOrPairArgs()
	if !ok {
		return 1
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	path, q := intentionTarget(id, src, dst)
	if err := cl.Delete(c.ctx(), path, q, nil); err != nil {
		return c.fail("Error deleting the intention: %v", err)
	}
	c.UI.Output("Intention deleted.")
	return 0
}

type intentionMatchCommand struct {
	clientCommand
	source, destination bool
}

func newIntentionMatch(m *Meta) *intentionMatchCommand {
	c := &intentionMatchCommand{}
	c.init(m, "intention match", `
Usage: beacon intention match [options] NAME

  Lists the intentions that apply to connections to the service NAME (or,
  with -source, from it), in the order they are evaluated: the first one
  that matches a connection decides it.

      $ beacon intention match db
      $ beacon intention match -source web`, false)
	c.fs.BoolVar(&c.source, "source", false, "match the intentions whose source is NAME")
	c.fs.BoolVar(&c.destination, "destination", false, "match the intentions whose destination is NAME (the default)")
	return c
}

func (c *intentionMatchCommand) Synopsis() string {
	return "Show intentions that match a source or destination"
}

func (c *intentionMatchCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if c.fs.NArg() != 1 {
		return c.fail("Error: intention match takes exactly one argument, NAME, got %d (see beacon intention match -h)", c.fs.NArg())
	}
	if c.source && c.destination {
		return c.fail("Error: only one of -source and -destination may be given")
	}
	name := c.fs.Arg(0)
	by := "destination"
	if c.source {
		by = "source"
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var matches map[string][]intention
	if _, err := cl.Get(c.ctx(), "/v1/connect/intentions/match", url.Values{"by": {by}, "name": {name}}, &matches); err != nil {
		return c.fail("Error matching intentions: %v", err)
	}
	for _, in := range matches[name] {
		c.UI.Output(intentionLine(in.SourceName, in.DestinationName, in.Action))
	}
	return 0
}
