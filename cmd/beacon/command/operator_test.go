package command

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beaconmesh/beacon/services/catalog/state"
)

const raftConfig = `{"Servers":[
 {"ID":"8ca3b8a7-7a9e-4fd0-9a3e-1f6e1a2f3b4c","Node":"srv-1","Address":"10.0.0.1:8300","Leader":true,"ProtocolVersion":"3","Voter":true},
 {"ID":"b7cc45a2-1c59-4f37-9a10-45c3ef0e6a2d","Node":"srv-2-long","Address":"10.0.0.2:8300","Leader":false,"ProtocolVersion":"3","Voter":true},
 {"ID":"c3","Node":"old","Address":"10.0.0.3:8300","Leader":false,"ProtocolVersion":"","Voter":false}],
 "Index":12}`

func TestOperatorRaft(t *testing.T) {
	runCases(t, []cliCase{
		{
			name: "list-peers",
			args: []string{"operator", "raft", "list-peers"},
			want: []exchange{{method: "GET", path: "/v1/operator/raft/configuration", reply: raftConfig}},
			stdout: "" +
				"Node        ID                                    Address        State     Voter  RaftProtocol\n" +
				"srv-1       8ca3b8a7-7a9e-4fd0-9a3e-1f6e1a2f3b4c  10.0.0.1:8300  leader    true   3\n" +
				"srv-2-long  b7cc45a2-1c59-4f37-9a10-45c3ef0e6a2d  10.0.0.2:8300  follower  true   3\n" +
				"old         c3                                    10.0.0.3:8300  follower  false  <=1\n",
		},
		{
			name:   "list-peers stale",
			args:   []string{"operator", "raft", "list-peers", "-stale"},
			want:   []exchange{{method: "GET", path: "/v1/operator/raft/configuration", query: "stale=", reply: `{"Servers":[],"Index":1}`}},
			stdout: "Node  ID  Address  State  Voter  RaftProtocol\n",
		},
		{
			name:   "list-peers without a leader",
			args:   []string{"operator", "raft", "list-peers"},
			want:   []exchange{{method: "GET", path: "/v1/operator/raft/configuration", status: 500, reply: "No cluster leader"}},
			code:   1,
			stderr: "Error getting peers: Failed to retrieve raft configuration: Unexpected response code: 500 (No cluster leader)\n",
		},
		{
			name:   "remove-peer by address",
			args:   []string{"operator", "raft", "remove-peer", "-address", "10.0.0.3:8300"},
			want:   []exchange{{method: "DELETE", path: "/v1/operator/raft/peer", query: "address=10.0.0.3%3A8300"}},
			stdout: "Removed peer with address \"10.0.0.3:8300\"\n",
		},
		{
			name:   "remove-peer by id",
			args:   []string{"operator", "raft", "remove-peer", "-id", "c3"},
			want:   []exchange{{method: "DELETE", path: "/v1/operator/raft/peer", query: "id=c3"}},
			stdout: "Removed peer with id \"c3\"\n",
		},
		{
			name:   "remove-peer of an unknown peer",
			args:   []string{"operator", "raft", "remove-peer", "-id", "zz"},
			want:   []exchange{{method: "DELETE", path: "/v1/operator/raft/peer", query: "id=zz", status: 404, reply: `no raft peer with id "zz" or address ""`}},
			code:   1,
			stderr: "Error removing peer: Unexpected response code: 404 (no raft peer with id \"zz\" or address \"\")\n",
		},
		{
			name:   "remove-peer needs a peer",
			args:   []string{"operator", "raft", "remove-peer"},
			code:   1,
			stderr: "Error removing peer: an address or id is required for the peer to remove\n",
		},
		{
			name:   "remove-peer takes one of -id and -address",
			args:   []string{"operator", "raft", "remove-peer", "-id", "a", "-address", "b"},
			code:   1,
			stderr: "Error removing peer: cannot give both an address and id\n",
		},
	})
}

// archive is a valid, empty snapshot archive.
func archive(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := state.New().Snapshot().Persist(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSnapshotSave(t *testing.T) {
	snap := archive(t)
	runCases(t, []cliCase{
		{
			name:   "saved and verified",
			args:   []string{"snapshot", "save", "{{dir}}/backup.snap"},
			want:   []exchange{{method: "GET", path: "/v1/snapshot", respHeader: map[string]string{"X-Consul-Index": "42"}, reply: string(snap)}},
			stdout: "Saved and verified snapshot to index 42\n",
		},
		{
			name:   "stale",
			args:   []string{"snapshot", "save", "-stale", "{{dir}}/backup.snap"},
			want:   []exchange{{method: "GET", path: "/v1/snapshot", query: "stale=", respHeader: map[string]string{"X-Consul-Index": "7"}, reply: string(snap)}},
			stdout: "Saved and verified snapshot to index 7\n",
		},
		{
			name:   "no leader",
			args:   []string{"snapshot", "save", "{{dir}}/backup.snap"},
			want:   []exchange{{method: "GET", path: "/v1/snapshot", status: 500, reply: "No cluster leader"}},
			code:   1,
			stderr: "Error saving snapshot: Unexpected response code: 500 (No cluster leader)\n",
		},
		{
			name:   "no file",
			args:   []string{"snapshot", "save"},
			code:   1,
			stderr: "Missing FILE argument\n",
		},
	})

	t.Run("a truncated archive fails verification", func(t *testing.T) {
		fake := newFakeAgent(t, []exchange{{method: "GET", path: "/v1/snapshot", reply: string(snap[:len(snap)-6])}})
		file := filepath.Join(t.TempDir(), "backup.snap")
		got := runCommand(t, map[string]string{"BEACON_HTTP_ADDR": fake.srv.URL}, "", "snapshot", "save", file)
		// The cause is the catalog's wording; only the frame is ours.
		if got.code != 1 || !strings.HasPrefix(got.stderr, "Error verifying snapshot file: restore snapshot: ") || strings.Count(got.stderr, "\n") != 1 {
			t.Errorf("code %d, stderr %q", got.code, got.stderr)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("an unverified snapshot was saved: %v", err)
		}
	})

	t.Run("a failed save leaves the old file alone", func(t *testing.T) {
		fake := newFakeAgent(t, []exchange{{method: "GET", path: "/v1/snapshot", reply: "not an archive"}})
		file := filepath.Join(t.TempDir(), "backup.snap")
		if err := os.WriteFile(file, snap, 0o600); err != nil {
			t.Fatal(err)
		}
		got := runCommand(t, map[string]string{"BEACON_HTTP_ADDR": fake.srv.URL}, "", "snapshot", "save", file)
		if got.code != 1 {
			t.Fatalf("exit code %d, want 1", got.code)
		}
		if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, snap) {
			t.Errorf("the old snapshot was changed (err %v)", err)
		}
		if _, err := os.Stat(file + ".unverified"); !os.IsNotExist(err) {
			t.Errorf("the unverified file was left behind: %v", err)
		}
	})

	t.Run("the saved file holds the archive, readable by its owner only", func(t *testing.T) {
		fake := newFakeAgent(t, []exchange{{method: "GET", path: "/v1/snapshot", respHeader: map[string]string{"X-Consul-Index": "1"}, reply: string(snap)}})
		file := filepath.Join(t.TempDir(), "backup.snap")
		if got := runCommand(t, map[string]string{"BEACON_HTTP_ADDR": fake.srv.URL}, "", "snapshot", "save", file); got.code != 0 {
			t.Fatalf("exit code %d: %s", got.code, got.stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil || !bytes.Equal(b, snap) {
			t.Fatalf("saved file differs from the archive (err %v)", err)
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
	})
}

func TestSnapshotRestore(t *testing.T) {
	snap := string(archive(t))
	runCases(t, []cliCase{
		{
			name:   "restored",
			args:   []string{"snapshot", "restore", "{{dir}}/backup.snap"},
			files:  map[string]string{"backup.snap": snap},
			want:   []exchange{{method: "PUT", path: "/v1/snapshot", body: snap}},
			stdout: "Restored snapshot\n",
		},
		{
			name:   "refused",
			args:   []string{"snapshot", "restore", "{{dir}}/backup.snap"},
			files:  map[string]string{"backup.snap": "junk"},
			want:   []exchange{{method: "PUT", path: "/v1/snapshot", body: "junk", status: 400, reply: "snapshot archive is not valid: restore snapshot: snapshot is corrupt: gzip: invalid header"}},
			code:   1,
			stderr: "Error restoring snapshot: Unexpected response code: 400 (snapshot archive is not valid: restore snapshot: snapshot is corrupt: gzip: invalid header)\n",
		},
		{
			name:   "missing file",
			args:   []string{"snapshot", "restore", "{{dir}}/nope.snap"},
			code:   1,
			stderr: "Error opening snapshot file: open {{dir}}/nope.snap: no such file or directory\n",
		},
		{
			name:   "too many arguments",
			args:   []string{"snapshot", "restore", "a", "b"},
			code:   1,
			stderr: "Too many arguments (expected 1, got 2)\n",
		},
	})
}

func TestInfo(t *testing.T) {
	self := `{"Config":{"Datacenter":"dc1","NodeName":"srv-1","NodeID":"8ca3b8a7-7a9e-4fd0-9a3e-1f6e1a2f3b4c","Revision":"abc123","Version":"1.22.0"},
	          "Member":{"Name":"srv-1"},"Meta":{}}`
	runCases(t, []cliCase{
		{
			name: "from the status and operator endpoints",
			args: []string{"info"},
			want: []exchange{
				{method: "GET", path: "/v1/agent/self", reply: self},
				{method: "GET", path: "/v1/status/leader", reply: `"10.0.0.1:8300"`},
				{method: "GET", path: "/v1/status/peers", reply: `["10.0.0.1:8300","10.0.0.2:8300"]`},
				{method: "GET", path: "/v1/catalog/datacenters", reply: `["dc1"]`},
				{method: "GET", path: "/v1/operator/raft/configuration", query: "stale=", reply: raftConfig},
			},
			stdout: "agent:\n" +
				"\tdatacenter = dc1\n" +
				"\tnode_id = 8ca3b8a7-7a9e-4fd0-9a3e-1f6e1a2f3b4c\n" +
				"\tnode_name = srv-1\n" +
				"build:\n" +
				"\tprerelease = \n" +
				"\trevision = abc123\n" +
				"\tversion = 1.22.0\n" +
				"consul:\n" +
				"\tknown_datacenters = 1\n" +
				"\tknown_servers = 2\n" +
				"\tleader = true\n" +
				"\tleader_addr = 10.0.0.1:8300\n" +
				"\tserver = true\n" +
				"raft:\n" +
				"\tlatest_configuration = [{Suffrage:Voter ID:8ca3b8a7-7a9e-4fd0-9a3e-1f6e1a2f3b4c Address:10.0.0.1:8300} {Suffrage:Voter ID:b7cc45a2-1c59-4f37-9a10-45c3ef0e6a2d Address:10.0.0.2:8300} {Suffrage:Nonvoter ID:c3 Address:10.0.0.3:8300}]\n" +
				"\tlatest_configuration_index = 12\n" +
				"\tnum_peers = 2\n" +
				"\tprotocol_version = 3\n" +
				"\tstate = Leader\n",
		},
		{
			name: "an agent that reports Stats, as Consul's do",
			args: []string{"info"},
			want: []exchange{{method: "GET", path: "/v1/agent/self", reply: `{"Config":{},"Stats":{
				"consul":{"leader":"false","server":"false","known_servers":"3"},
				"agent":{"services":"2","checks":"1"}}}`}},
			stdout: "agent:\n\tchecks = 1\n\tservices = 2\nconsul:\n\tknown_servers = 3\n\tleader = false\n\tserver = false\n",
		},
		{
			name:   "agent unreachable",
			args:   []string{"info", "-http-addr", "unix://{{dir}}/none.sock"},
			code:   1,
			stderr: "Error querying agent: Get \"http://unix/v1/agent/self\": dial unix {{dir}}/none.sock: connect: no such file or directory\n",
		},
	})
}

func TestReloadLeave(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "reload",
			args:   []string{"reload"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/reload"}},
			stdout: "Configuration reload triggered\n",
		},
		{
			name:   "reload not served",
			args:   []string{"reload"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/reload", notServed: true}},
			code:   1,
			stderr: "Error reloading: Unexpected response code: 404 (404 page not found): the agent at {{addr}} does not serve PUT /v1/agent/reload\n",
		},
		{
			name:   "reload refused",
			args:   []string{"reload"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/reload", status: 500, reply: "web.json:3: service[0].port: must be 1-65535"}},
			code:   1,
			stderr: "Error reloading: Unexpected response code: 500 (web.json:3: service[0].port: must be 1-65535)\n",
		},
		{
			name:   "leave",
			args:   []string{"leave", "-token", "t0k"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/leave", header: map[string]string{"X-Consul-Token": "t0k"}}},
			stdout: "Graceful leave complete\n",
		},
		{
			name:   "leave takes no arguments",
			args:   []string{"leave", "now"},
			code:   1,
			stderr: "Too many arguments (expected 0, got 1)\n",
		},
	})
}
