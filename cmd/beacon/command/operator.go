package command

import (
	"fmt"
	"net/url"
	"strconv"
)

// raftConfiguration is /v1/operator/raft/configuration.
type raftConfiguration struct {
	Servers []struct {
		ID              string
		Node            string
		Address         string
		Leader          bool
		ProtocolVersion string
		Voter           bool
	}
	Index uint64
}

type raftListPeersCommand struct{ clientCommand }

func newRaftListPeers(m *Meta) *raftListPeersCommand {
	c := &raftListPeersCommand{}
	c.init(m, "operator raft list-peers", `
Usage: beacon operator raft list-peers [options]

  Displays the servers of the Raft configuration and which one leads.`, true)
	return c
}

func (c *raftListPeersCommand) Synopsis() string {
	return "Display the current Raft peer configuration"
}

func (c *raftListPeersCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	var cfg raftConfiguration
	if _, err := cl.Get(c.ctx(), "/v1/operator/raft/configuration", c.http.query(), &cfg); err != nil {
		return c.fail("Error getting peers: Failed to retrieve raft configuration: %v", err)
	}
	rows := [][]string{{"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}}
	for _, s := range cfg.Servers {
		state := "follower"
		if s.Leader {
			state = "leader"
		}
		proto := s.ProtocolVersion
		if proto == "" {
			proto = "<=1"
		}
		rows = append(rows, []string{s.Node, s.ID, s.Address, state, strconv.FormatBool(s.Voter), proto})
	}
	c.UI.Output(columns(rows))
	return 0
}

type raftRemovePeerCommand struct {
	clientCommand
	address, id string
}

func newRaftRemovePeer(m *Meta) *raftRemovePeerCommand {
	c := &raftRemovePeerCommand{}
	c.init(m, "operator raft remove-peer", `
Usage: beacon operator raft remove-peer [options]

  Removes a server from the Raft configuration, by -id or by -address. Use
  it for a server that is gone for good and was not removed by leaving.`, true)
	c.fs.StringVar(&c.address, "address", "", "Raft `address` (ip:port) of the server to remove")
	c.fs.StringVar(&c.id, "id", "", "Raft `ID` of the server to remove")
	return c
}

func (c *raftRemovePeerCommand) Synopsis() string {
	return "Remove a Beacon server from the Raft configuration"
}

func (c *raftRemovePeerCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	switch {
	case c.address == "" && c.id == "":
		return c.fail("Error removing peer: an address or id is required for the peer to remove")
	case c.address != "" && c.id != "":
		return c.fail("Error removing peer: cannot give both an address and id")
	}
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := url.Values{}
	if c.http.datacenter != "" {
		q.Set("dc", c.http.datacenter)
	}
	what := fmt.Sprintf("id %q", c.id)
	if c.address != "" {
		q.Set("address", c.address)
		what = fmt.Sprintf("address %q", c.address)
	} else {
		q.Set("id", c.id)
	}
	if err := cl.Delete(c.ctx(), "/v1/operator/raft/peer", q, nil); err != nil {
		return c.fail("Error removing peer: %v", err)
	}
	c.UI.Output("Removed peer with " + what)
	return 0
}
