package command

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
)

type infoCommand struct{ clientCommand }

func newInfo(m *Meta) *infoCommand {
	c := &infoCommand{}
	c.init(m, "info", `
Usage: beacon info [options]

  Prints what the agent knows about itself and the cluster, in sections
  (agent, build, consul, raft) as "consul info" does.`, false)
	return c
}

func (c *infoCommand) Synopsis() string { return "Provides debugging information for operators." }

// agentSelf is the part of /v1/agent/self info reads. Consul's agents fill
// Stats; Beacon's HTTP gateway does not, and info then asks the status and
// operator endpoints instead.
type agentSelf struct {
	Config struct {
		Datacenter string
		NodeName   string
		NodeID     string
		Revision   string
		Version    string
	}
	Stats map[string]map[string]any
}

func (c *infoCommand) Run(args []string) int {
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
	var self agentSelf
	if _, err := cl.Get(c.ctx(), "/v1/agent/self", nil, &self); err != nil {
		return c.fail("Error querying agent: %v", err)
	}
	stats := self.Stats
	if len(stats) == 0 {
		var err error
		if stats, err = c.gather(cl, self); err != nil {
			return c.fail("Error querying agent: %v", err)
		}
	}
	var b strings.Builder
	for _, section := range slices.Sorted(maps.Keys(stats)) {
		b.WriteString(section + ":\n")
		for _, k := range slices.Sorted(maps.Keys(stats[section])) {
			fmt.Fprintf(&b, "\t%s = %s\n", k, statValue(stats[section][k]))
		}
	}
	c.UI.Output(strings.TrimSuffix(b.String(), "\n"))
	return 0
}

func statValue(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// gather builds the sections from the status and operator endpoints.
func (c *infoCommand) gather(cl *httpclient.Client, self agentSelf) (map[string]map[string]any, error) {
	var leader string
	if _, err := cl.Get(c.ctx(), "/v1/status/leader", nil, &leader); err != nil {
		return nil, fmt.Errorf("leader: %w", err)
	}
	var peers []string
	if _, err := cl.Get(c.ctx(), "/v1/status/peers", nil, &peers); err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	var dcs []string
	if _, err := cl.Get(c.ctx(), "/v1/catalog/datacenters", nil, &dcs); err != nil {
		return nil, fmt.Errorf("datacenters: %w", err)
	}
	var raft raftConfiguration
	q := c.http.query()
	q.Set("stale", "")
	if _, err := cl.Get(c.ctx(), "/v1/operator/raft/configuration", q, &raft); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}

	server, isLeader := false, false
	raftState, protocol := "", ""
	var latest []string
	for _, s := range raft.Servers {
		suffrage := "Nonvoter"
		if s.Voter {
			suffrage = "Voter"
		}
		latest = append(latest, fmt.Sprintf("{Suffrage:%s ID:%s Address:%s}", suffrage, s.ID, s.Address))
		if s.Node != self.Config.NodeName {
			continue
		}
		server, isLeader, protocol = true, s.Leader, s.ProtocolVersion
		raftState = "Follower"
		if s.Leader {
			raftState = "Leader"
		}
	}
	stats := map[string]map[string]any{
		"agent": {
			"datacenter": self.Config.Datacenter,
			"node_id":    self.Config.NodeID,
			"node_name":  self.Config.NodeName,
		},
		"build": {
			"prerelease": "",
			"revision":   self.Config.Revision,
			"version":    self.Config.Version,
		},
		"consul": {
			"known_datacenters": strconv.Itoa(len(dcs)),
			"known_servers":     strconv.Itoa(len(peers)),
			"leader":            strconv.FormatBool(isLeader),
			"leader_addr":       leader,
			"server":            strconv.FormatBool(server),
		},
	}
	if server {
		stats["raft"] = map[string]any{
			"latest_configuration":       "[" + strings.Join(latest, " ") + "]",
			"latest_configuration_index": strconv.FormatUint(raft.Index, 10),
			"num_peers":                  strconv.Itoa(len(raft.Servers) - 1),
			"protocol_version":           protocol,
			"state":                      raftState,
		}
	}
	return stats, nil
}
