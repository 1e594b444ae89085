package command

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
)

// kvEntry is one key in the `kv export` format, which Consul's
// `kv import` reads too.
type kvEntry struct {
	Key   string `json:"key"`
	Flags uint64 `json:"flags"`
	Value string `json:"value"` // base64
}

type kvExportCommand struct{ clientCommand }

func newKVExport(m *Meta) *kvExportCommand {
	c := &kvExportCommand{}
	c.init(m, "kv export", `
Usage: beacon kv export [options] [PREFIX]

  Prints every key under PREFIX as JSON that "beacon kv import" (and
  "consul kv import") reads back.

      $ beacon kv export redis > redis.json`, true)
	return c
}

func (c *kvExportCommand) Synopsis() string { return "Exports a tree from the KV store as JSON" }

func (c *kvExportCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	var prefix string
	switch n := c.fs.NArg(); n {
	case 0:
	case 1:
		prefix = trimKey(c.fs.Arg(0))
	default:
		return c.fail("Too many arguments (expected 1, got %d)", n)
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := c.http.query()
	q.Set("recurse", "")
	var pairs []kvPair
	if _, err := cl.Get(c.ctx(), kvPath(prefix), q, &pairs); err != nil && !httpclient.IsNotFound(err) {
		return c.fail("Error querying Beacon agent: %v", err)
	}
	entries := make([]kvEntry, 0, len(pairs))
	for _, p := range pairs {
		entries = append(entries, kvEntry{Key: p.Key, Flags: p.Flags, Value: base64.StdEncoding.EncodeToString(p.Value)})
	}
	out, err := json.MarshalIndent(entries, "", "\t")
	if err != nil {
		return c.fail("Error exporting KV data: %v", err)
	}
	c.UI.Output(string(out))
	return 0
}

type kvImportCommand struct {
	clientCommand
	prefix string
}

func newKVImport(m *Meta) *kvImportCommand {
	c := &kvImportCommand{}
	c.init(m, "kv import", `
Usage: beacon kv import [options] DATA

  Writes the keys of a "kv export" JSON document. DATA may be @FILE to read
  a file, or - to read stdin.

      $ beacon kv import @redis.json`, true)
	c.fs.StringVar(&c.prefix, "prefix", "", "`prefix` prepended to every imported key")
	return c
}

func (c *kvImportCommand) Synopsis() string { return "Imports a tree stored as JSON to the KV store" }

func (c *kvImportCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	switch n := c.fs.NArg(); {
	case n == 0:
		return c.fail("Error! Missing DATA argument")
	case n > 1:
		return c.fail("Error! Too many arguments (expected 1, got %d)", n)
	case c.fs.Arg(0) == "":
		return c.fail("Error! Empty DATA argument")
	}
	data, err := c.readData(c.fs.Arg(0))
	if err != nil {
		return c.fail("Error! %v", err)
	}
	var entries []kvEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return c.fail("Cannot unmarshal data: %v", err)
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	for _, e := range entries {
		value, err := base64.StdEncoding.DecodeString(e.Value)
		if err != nil {
			return c.fail("Error base 64 decoding value for key %s: %v", e.Key, err)
		}
		key := c.prefix + e.Key
		q := url.Values{}
		if c.http.datacenter != "" {
			q.Set("dc", c.http.datacenter)
		}
		if e.Flags != 0 {
			q.Set("flags", strconv.FormatUint(e.Flags, 10))
		}
		if err := cl.Put(c.ctx(), kvPath(key), q, bytes.NewReader(value), nil); err != nil {
			return c.fail("Error! Failed writing data for key %s: %v", key, err)
		}
		c.UI.Output("Imported: " + key)
	}
	return 0
}
