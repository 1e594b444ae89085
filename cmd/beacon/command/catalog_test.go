package command

import (
	"strings"
	"testing"
)

func TestCatalogDatacenters(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "lists one per line",
			args:   []string{"catalog", "datacenters"},
			want:   []exchange{{method: "GET", path: "/v1/catalog/datacenters", reply: `["dc1","dc2"]`}},
			stdout: "dc1\ndc2\n",
		},
		{
			name:   "no arguments allowed",
			args:   []string{"catalog", "datacenters", "extra"},
			code:   1,
			stderr: "Too many arguments (expected 0, got 1)\n",
		},
		{
			name:   "connection refused",
			args:   []string{"catalog", "datacenters", "-http-addr", "127.0.0.1:1"},
			code:   1,
			stderr: "Error listing datacenters: Get \"http://127.0.0.1:1/v1/catalog/datacenters\": dial tcp 127.0.0.1:1: connect: connection refused\n",
		},
	})
}

func TestCatalogServices(t *testing.T) {
	services := `{"consul":[],"redis":["v1","primary"],"web":["rails"]}`
	runCases(t, []cliCase{
		{
			name:   "names",
			args:   []string{"catalog", "services"},
			want:   []exchange{{method: "GET", path: "/v1/catalog/services", reply: services}},
			stdout: "consul\nredis\nweb\n",
		},
		{
			name: "tags in a second column",
			args: []string{"catalog", "services", "-tags"},
			want: []exchange{{method: "GET", path: "/v1/catalog/services", reply: services}},
			// tabwriter pads the tagless consul line, as Consul's does.
			stdout: "consul      \nredis       primary,v1\nweb         rails\n",
		},
		{
			name:   "datacenter, stale and node-meta",
			args:   []string{"catalog", "services", "-datacenter", "dc2", "-stale", "-node-meta", "rack=r1"},
			want:   []exchange{{method: "GET", path: "/v1/catalog/services", query: "dc=dc2&stale=&node-meta=rack%3Ar1", reply: `{"web":[]}`}},
			stdout: "web\n",
		},
		{
			name: "one node's services",
			args: []string{"catalog", "services", "-node", "n1", "-tags"},
			want: []exchange{{method: "GET", path: "/v1/catalog/node/n1", reply: `{
				"Node":{"Node":"n1"},
				"Services":{"web-1":{"ID":"web-1","Service":"web","Tags":["b"]},"web-2":{"ID":"web-2","Service":"web","Tags":["a"]}}}`}},
			stdout: "web      a,b\n",
		},
		{
			name:   "unknown node",
			args:   []string{"catalog", "services", "-node", "nope"},
			want:   []exchange{{method: "GET", path: "/v1/catalog/node/nope", reply: `null`}},
			stderr: "No services match the given query - try expanding your search.\n",
		},
		{
			name:   "no leader",
			args:   []string{"catalog", "services"},
			want:   []exchange{{method: "GET", path: "/v1/catalog/services", status: 500, reply: "No cluster leader\n"}},
			code:   1,
			stderr: "Error listing services: Unexpected response code: 500 (No cluster leader)\n",
		},
	})
}

func TestCatalogNodes(t *testing.T) {
	nodes := `[
	 {"ID":"be6f6b8d-9668-f7ff-8709-ed57c72ffdec","Node":"alpha","Address":"10.0.0.1","Datacenter":"dc1",
	  "TaggedAddresses":{"wan":"1.2.3.4","lan":"10.0.0.1"},"Meta":{"rack":"r1","os":"linux"}},
	 {"ID":"","Node":"beta-long-name","Address":"10.0.0.22","Datacenter":"dc1","TaggedAddresses":null,"Meta":null}]`
	runCases(t, []cliCase{
		{
			name: "table with short IDs",
			args: []string{"catalog", "nodes"},
			want: []exchange{{method: "GET", path: "/v1/catalog/nodes", reply: nodes}},
			stdout: "" +
				"Node            ID        Address    DC\n" +
				"alpha           be6f6b8d  10.0.0.1   dc1\n" +
				"beta-long-name            10.0.0.22  dc1\n",
		},
		{
			name: "detailed",
			args: []string{"catalog", "nodes", "-detailed"},
			want: []exchange{{method: "GET", path: "/v1/catalog/nodes", reply: nodes}},
			stdout: "" +
				"Node            ID                                    Address    DC   TaggedAddresses            Meta\n" +
				"alpha           be6f6b8d-9668-f7ff-8709-ed57c72ffdec  10.0.0.1   dc1  lan=10.0.0.1, wan=1.2.3.4  os=linux, rack=r1\n" +
				// Empty trailing columns keep their padding, as in Consul.
				"beta-long-name                                        10.0.0.22  dc1" + strings.Repeat(" ", 29) + "\n",
		},
		{
			name: "nodes of a service, with their node meta",
			args: []string{"catalog", "nodes", "-service", "web", "-detailed", "-near", "_agent", "-filter", `Meta.rack == "r1"`},
			want: []exchange{{method: "GET", path: "/v1/catalog/service/web", query: "near=_agent&filter=Meta.rack+%3D%3D+%22r1%22", reply: `[
				{"ID":"be6f6b8d-9668-f7ff-8709-ed57c72ffdec","Node":"alpha","Address":"10.0.0.1","Datacenter":"dc1",
				 "TaggedAddresses":{"lan":"10.0.0.1"},"NodeMeta":{"rack":"r1"},"ServiceName":"web"}]`}},
			stdout: "" +
				"Node   ID                                    Address   DC   TaggedAddresses  Meta\n" +
				"alpha  be6f6b8d-9668-f7ff-8709-ed57c72ffdec  10.0.0.1  dc1  lan=10.0.0.1     rack=r1\n",
		},
		{
			name:   "filter from a file",
			args:   []string{"catalog", "nodes", "-filter", "@{{dir}}/f.txt"},
			files:  map[string]string{"f.txt": `Node == "alpha"`},
			want:   []exchange{{method: "GET", path: "/v1/catalog/nodes", query: "filter=Node+%3D%3D+%22alpha%22", reply: `[]`}},
			stderr: "No nodes match the given query - try expanding your search.\n",
		},
		{
			name:   "bad filter",
			args:   []string{"catalog", "nodes", "-filter", "Node =="},
			want:   []exchange{{method: "GET", path: "/v1/catalog/nodes", query: "filter=Node+%3D%3D", status: 400, reply: "Failed to create boolean expression evaluator: 1:8 (7): no match found, expected: [ \\t\\r\\n] or [A-Za-z0-9_]\n"}},
			code:   1,
			stderr: "Error listing nodes: Unexpected response code: 400 (Failed to create boolean expression evaluator: 1:8 (7): no match found, expected: [ \\t\\r\\n] or [A-Za-z0-9_])\n",
		},
	})
}
