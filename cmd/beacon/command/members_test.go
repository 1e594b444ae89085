package command

import (
	"strings"
	"testing"
)

const membersReply = `[
 {"Name":"web-1","Addr":"10.0.0.7","Port":8301,"Status":1,
  "Tags":{"role":"node","dc":"dc1","build":"1.22.0:abcdef","vsn":"2","id":"x"}},
 {"Name":"srv-2","Addr":"10.0.0.3","Port":8301,"Status":4,
  "Tags":{"role":"consul","dc":"dc1","build":"1.22.0","vsn":"2"}},
 {"Name":"srv-1","Addr":"10.0.0.2","Port":8301,"Status":1,
  "Tags":{"role":"consul","dc":"dc1","build":"1.22.0","vsn":"2"}},
 {"Name":"odd","Addr":"10.0.0.9","Port":8301,"Status":3,"Tags":{}}
]`

func TestMembers(t *testing.T) {
	get := exchange{method: "GET", path: "/v1/agent/members", reply: membersReply}
	runCases(t, []cliCase{
		{
			name: "table, servers first",
			args: []string{"members"},
			want: []exchange{get},
			stdout: "" +
				"Node   Address        Status  Type     Build   Protocol  DC   Partition  Segment\n" +
				"srv-1  10.0.0.2:8301  alive   server   1.22.0  2         dc1  default    <all>\n" +
				"srv-2  10.0.0.3:8301  failed  server   1.22.0  2         dc1  default    <all>\n" +
				// Consul's table pads a member of unknown role with
				// empty columns, trailing spaces included.
				"odd    10.0.0.9:8301  left    unknown" + strings.Repeat(" ", 36) + "\n" +
				"web-1  10.0.0.7:8301  alive   client   1.22.0  2         dc1  default    <default>\n",
		},
		{
			name: "detailed",
			args: []string{"members", "-detailed", "-status", "alive"},
			want: []exchange{get},
			stdout: "" +
				"Node   Address        Status  Tags\n" +
				"srv-1  10.0.0.2:8301  alive   ap=default,build=1.22.0,dc=dc1,role=consul,segment=<all>,vsn=2\n" +
				"web-1  10.0.0.7:8301  alive   ap=default,build=1.22.0:abcdef,dc=dc1,id=x,role=node,segment=<default>,vsn=2\n",
		},
		{
			name: "wan and filter are passed on",
			args: []string{"members", "-wan", "-filter", `Name == "srv-1"`, "-status", "^alive$"},
			want: []exchange{{method: "GET", path: "/v1/agent/members", query: "wan=1&filter=Name+%3D%3D+%22srv-1%22", reply: `[]`}},
			code: 2,
		},
		{
			name: "no member matches the status",
			args: []string{"members", "-status", "leaving"},
			want: []exchange{get},
			code: 2,
		},
		{
			name:   "bad status regexp",
			args:   []string{"members", "-status", "("},
			code:   1,
			stderr: "Failed to compile status regexp: error parsing regexp: missing closing ): `(`\n",
		},
		{
			name:   "agent does not serve the route",
			args:   []string{"members"},
			want:   []exchange{{method: "GET", path: "/v1/agent/members", notServed: true}},
			code:   1,
			stderr: "Error retrieving members: Unexpected response code: 404 (404 page not found): the agent at {{addr}} does not serve GET /v1/agent/members\n",
		},
		{
			name:   "token from the environment",
			args:   []string{"members"},
			env:    map[string]string{"CONSUL_HTTP_TOKEN": "s3cret"},
			want:   []exchange{{method: "GET", path: "/v1/agent/members", header: map[string]string{"X-Consul-Token": "s3cret"}, status: 403, reply: "Permission denied"}},
			code:   1,
			stderr: "Error retrieving members: Unexpected response code: 403 (Permission denied)\n",
		},
		{
			name:   "unknown flag",
			args:   []string{"members", "-bogus"},
			code:   1,
			stderr: "Error parsing flags: flag provided but not defined: -bogus (see beacon members -h)\n",
		},
	})
}
