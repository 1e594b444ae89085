package command

import (
	"bytes"
	"encoding/json"
	"os"
)

type caGetConfigCommand struct{ clientCommand }

func newCAGetConfig(m *Meta) *caGetConfigCommand {
	c := &caGetConfigCommand{}
	c.init(m, "connect ca get-config", `
Usage: beacon connect ca get-config [options]

  Prints the Connect CA's configuration as JSON. The private key is never
  shown.`, false)
	return c
}

func (c *caGetConfigCommand) Synopsis() string { return "Display the current Connect CA configuration" }

func (c *caGetConfigCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var cfg json.RawMessage
	if _, err := cl.Get(c.ctx(), "/v1/connect/ca/configuration", nil, &cfg); err != nil {
		return c.fail("Error querying the CA configuration: %v", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, cfg, "", "    "); err != nil {
		return c.fail("Error formatting the CA configuration: %v", err)
	}
	c.UI.Output(out.String())
	return 0
}

type caSetConfigCommand struct {
	clientCommand
	file string
}

func newCASetConfig(m *Meta) *caSetConfigCommand {
	c := &caSetConfigCommand{}
	c.init(m, "connect ca set-config", `
Usage: beacon connect ca set-config [options] -config-file FILE

  Changes the Connect CA's configuration from a JSON file in the shape
  get-config prints: {"Provider":"consul","Config":{"LeafCertTTL":"72h"}}.
  A new Config.PrivateKey with its Config.RootCert rotates the root; the
  old root stays trusted, so no live certificate breaks.`, false)
	c.fs.StringVar(&c.file, "config-file", "", "the JSON `file` with the new configuration (required)")
	return c
}

func (c *caSetConfigCommand) Synopsis() string { return "Modify the current Connect CA configuration" }

func (c *caSetConfigCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	if c.file == "" {
		return c.fail("Error: -config-file is required")
	}
	b, err := os.ReadFile(c.file)
	if err != nil {
		return c.fail("Error reading the config file: %v", err)
	}
	if !json.Valid(b) {
		return c.fail("Error parsing the config file %s: not valid JSON", c.file)
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	if err := cl.Put(c.ctx(), "/v1/connect/ca/configuration", nil, bytes.NewReader(b), nil); err != nil {
		return c.fail("Error setting the CA configuration: %v", err)
	}
	c.UI.Output("Configuration updated!")
	return 0
}
