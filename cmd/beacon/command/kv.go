package command

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
)

// kvPair is one entry of /v1/kv (Consul's KVPair).
type kvPair struct {
	Key         string
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
	Flags       uint64
	Value       []byte
	Session     string
}

// kvPath is the API path of a key. Keys never start with a slash, and
// users often type one, so one is dropped, as Consul does.
func kvPath(key string) string { return "/v1/kv/" + key }

func trimKey(key string) string { return strings.TrimPrefix(key, "/") }

type kvGetCommand struct {
	clientCommand
	base64    bool
	detailed  bool
	keys      bool
	recurse   bool
	separator string
}

func newKVGet(m *Meta) *kvGetCommand {
	c := &kvGetCommand{}
	c.init(m, "kv get", `
Usage: beacon kv get [options] [KEY_OR_PREFIX]

  Prints the value stored at KEY; it is an error if there is none. With
  -recurse, prints key:value for every key under the prefix; with -keys,
  only the keys, folded at -separator.

      $ beacon kv get redis/config/minconns
      $ beacon kv get -detailed redis/config/minconns
      $ beacon kv get -recurse redis`, true)
	c.fs.BoolVar(&c.base64, "base64", false, "print values base64-encoded")
	c.fs.BoolVar(&c.detailed, "detailed", false, "print the key's metadata (indexes, flags, session) as well")
	c.fs.BoolVar(&c.keys, "keys", false, "list the keys under the prefix, not their values")
	c.fs.BoolVar(&c.recurse, "recurse", false, "print every key under the prefix")
	c.fs.StringVar(&c.separator, "separator", "/", "with -keys, list keys only up to the next `separator`")
	return c
}

func (c *kvGetCommand) Synopsis() string { return "Retrieves or lists data from the KV store" }

func (c *kvGetCommand) value(v []byte) string {
	if c.base64 {
		return base64.StdEncoding.EncodeToString(v)
	}
	return string(v)
}

func (c *kvGetCommand) detail(p kvPair) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 2, 6, ' ', 0)
	session := p.Session
	if session == "" {
		session = "-"
	}
	fmt.Fprintf(tw, "CreateIndex\t%d\n", p.CreateIndex)
	fmt.Fprintf(tw, "Flags\t%d\n", p.Flags)
	fmt.Fprintf(tw, "Key\t%s\n", p.Key)
	fmt.Fprintf(tw, "LockIndex\t%d\n", p.LockIndex)
	fmt.Fprintf(tw, "ModifyIndex\t%d\n", p.ModifyIndex)
	fmt.Fprintf(tw, "Session\t%s\n", session)
	fmt.Fprintf(tw, "Value\t%s", c.value(p.Value))
	_ = tw.Flush()
	return b.String()
}

func (c *kvGetCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	var key string
	switch n := c.fs.NArg(); n {
	case 0:
	case 1:
		key = trimKey(c.fs.Arg(0))
	default:
		return c.fail("Too many arguments (expected 1, got %d)", n)
	}
	if key == "" && !c.recurse && !c.keys {
		return c.fail("Error! Missing KEY argument")
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := c.http.query()
	switch {
	case c.keys:
		q.Set("keys", "")
		if c.separator != "" {
			q.Set("separator", c.separator)
		}
		var keys []string
		if _, err := cl.Get(c.ctx(), kvPath(key), q, &keys); err != nil && !httpclient.IsNotFound(err) {
			return c.fail("Error querying Beacon agent: %v", err)
		}
		for _, k := range keys {
			c.UI.Output(k)
		}
	case c.recurse:
		q.Set("recurse", "")
		var pairs []kvPair
		if _, err := cl.Get(c.ctx(), kvPath(key), q, &pairs); err != nil && !httpclient.IsNotFound(err) {
			return c.fail("Error querying Beacon agent: %v", err)
		}
		for i, p := range pairs {
			if !c.detailed {
				c.UI.Output(p.Key + ":" + c.value(p.Value))
				continue
			}
			c.UI.Output(c.detail(p))
			if i < len(pairs)-1 {
				c.UI.Output("")
			}
		}
	default:
		var pairs []kvPair
		_, err := cl.Get(c.ctx(), kvPath(key), q, &pairs)
		if httpclient.IsNotFound(err) || (err == nil && len(pairs) == 0) {
			return c.fail("Error! No key exists at: %s", key)
		}
		if err != nil {
			return c.fail("Error querying Beacon agent: %v", err)
		}
		if c.detailed {
			c.UI.Output(c.detail(pairs[0]))
		} else {
			c.UI.Output(c.value(pairs[0].Value))
		}
	}
	return 0
}

type kvPutCommand struct {
	clientCommand
	cas         bool
	flags       uint64
	base64      bool
	modifyIndex uint64
	session     string
	acquire     bool
	release     bool
}

func newKVPut(m *Meta) *kvPutCommand {
	c := &kvPutCommand{}
	c.init(m, "kv put", `
Usage: beacon kv put [options] KEY [DATA]

  Writes DATA at KEY. DATA may be @FILE to read a file, or - to read stdin;
  without DATA the key is written empty.

      $ beacon kv put redis/config/minconns 1
      $ beacon kv put config/license @license.lic
      $ beacon kv put -cas -modify-index=844 redis/config/minconns 5`, true)
	c.fs.BoolVar(&c.cas, "cas", false, "write only if the key's ModifyIndex is still -modify-index (0: only if it does not exist)")
	c.fs.Uint64Var(&c.flags, "flags", 0, "opaque unsigned `integer` stored with the key")
	c.fs.BoolVar(&c.base64, "base64", false, "DATA is base64-encoded")
	c.fs.Uint64Var(&c.modifyIndex, "modify-index", 0, "the `index` -cas compares with")
	c.fs.StringVar(&c.session, "session", "", "session `ID` for -acquire and -release")
	c.fs.BoolVar(&c.acquire, "acquire", false, "take the key's lock for -session (creating the key if needed)")
	c.fs.BoolVar(&c.release, "release", false, "release the key's lock held by -session")
	return c
}

func (c *kvPutCommand) Synopsis() string { return "Sets or updates data in the KV store" }

func (c *kvPutCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	var key string
	var data []byte
	switch n := c.fs.NArg(); n {
	case 0:
		return c.fail("Error! Missing KEY argument")
	case 1, 2:
		key = c.fs.Arg(0)
		if n == 2 && c.fs.Arg(1) != "" {
			var err error
			if data, err = c.readData(c.fs.Arg(1)); err != nil {
				return c.fail("Error! %v", err)
			}
		}
	default:
		return c.fail("Error! Too many arguments (expected 1 or 2, got %d)", n)
	}
	if strings.HasPrefix(key, "/") {
		return c.fail("Error! Failed writing data: Invalid key. Key must not begin with a '/': %s", key)
	}
	if c.base64 {
		dec, err := base64.StdEncoding.DecodeString(string(data))
		if err != nil {
			return c.fail("Error! Cannot base 64 decode data: %v", err)
		}
		data = dec
	}
	if (c.acquire || c.release) && c.session == "" {
		return c.fail("Error! Missing -session (required with -acquire and -release)")
	}
	if c.acquire && c.release {
		return c.fail("Error! Cannot specify both -acquire and -release")
	}
	modifyIndexSet := false
	c.fs.Visit(func(f *flag.Flag) { modifyIndexSet = modifyIndexSet || f.Name == "modify-index" })
	if c.cas && !modifyIndexSet {
		return c.fail("Must specify -modify-index with -cas!")
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := url.Values{}
	if c.http.datacenter != "" {
		q.Set("dc", c.http.datacenter)
	}
	if c.flags != 0 {
		q.Set("flags", strconv.FormatUint(c.flags, 10))
	}
	switch {
	case c.cas:
		q.Set("cas", strconv.FormatUint(c.modifyIndex, 10))
	case c.acquire:
		q.Set("acquire", c.session)
	case c.release:
		q.Set("release", c.session)
	}
	var written bool
	err := cl.Put(c.ctx(), kvPath(key), q, bytes.NewReader(data), &written)
	switch {
	case c.cas && err != nil:
		return c.fail("Error! Did not write to %s: %v", key, err)
	case c.cas && !written:
		return c.fail("Error! Did not write to %s: CAS failed", key)
	case err != nil:
		return c.fail("Error! Failed writing data: %v", err)
	case c.acquire && !written:
		return c.fail("Error! Did not acquire lock")
	case c.release && !written:
		return c.fail("Error! Did not release lock")
	case c.acquire:
		c.UI.Output("Success! Lock acquired on: " + key)
	case c.release:
		c.UI.Output("Success! Lock released on: " + key)
	default:
		c.UI.Output("Success! Data written to: " + key)
	}
	return 0
}

type kvDeleteCommand struct {
	clientCommand
	cas         bool
	modifyIndex uint64
	recurse     bool
}

func newKVDelete(m *Meta) *kvDeleteCommand {
	c := &kvDeleteCommand{}
	c.init(m, "kv delete", `
Usage: beacon kv delete [options] KEY_OR_PREFIX

  Deletes KEY; nothing happens if it does not exist. With -recurse, deletes
  every key that starts with the prefix.

      $ beacon kv delete redis/config/minconns
      $ beacon kv delete -recurse redis`, true)
	c.fs.BoolVar(&c.cas, "cas", false, "delete only if the key's ModifyIndex is still -modify-index")
	c.fs.Uint64Var(&c.modifyIndex, "modify-index", 0, "the `index` -cas compares with")
	c.fs.BoolVar(&c.recurse, "recurse", false, "delete every key under the prefix")
	return c
}

func (c *kvDeleteCommand) Synopsis() string { return "Removes data from the KV store" }

func (c *kvDeleteCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	var key string
	switch n := c.fs.NArg(); n {
	case 0:
	case 1:
		key = trimKey(c.fs.Arg(0))
	default:
		return c.fail("Too many arguments (expected 1, got %d)", n)
	}
	switch {
	case key == "" && !c.recurse:
		return c.fail("Error! Missing KEY argument")
	case c.recurse && c.cas:
		return c.fail("Cannot specify both -cas and -recurse!")
	case c.cas && c.modifyIndex == 0:
		return c.fail("Cannot delete a key that does not exist. Provide a -modify-index greater than 0.")
	case c.modifyIndex != 0 && !c.cas:
		return c.fail("Cannot specify -modify-index without -cas!")
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := url.Values{}
	if c.http.datacenter != "" {
		q.Set("dc", c.http.datacenter)
	}
	switch {
	case c.recurse:
		q.Set("recurse", "")
		if err := cl.Delete(c.ctx(), kvPath(key), q, nil); err != nil {
			return c.fail("Error! Did not delete prefix %s: %v", key, err)
		}
		c.UI.Output("Success! Deleted keys with prefix: " + key)
	case c.cas:
		q.Set("cas", strconv.FormatUint(c.modifyIndex, 10))
		var deleted bool
		if err := cl.Delete(c.ctx(), kvPath(key), q, &deleted); err != nil {
			return c.fail("Error! Did not delete key %s: %v", key, err)
		}
		if !deleted {
			return c.fail("Error! Did not delete key %s: CAS failed", key)
		}
		c.UI.Output("Success! Deleted key: " + key)
	default:
		if err := cl.Delete(c.ctx(), kvPath(key), q, nil); err != nil {
			return c.fail("Error deleting key %s: %v", key, err)
		}
		c.UI.Output("Success! Deleted key: " + key)
	}
	return 0
}
