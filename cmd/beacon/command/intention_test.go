package command

import "testing"

const webDB = `{"ID":"i-1","SourceNS":"default","SourceName":"web","DestinationNS":"default","DestinationName":"db",
 "SourceType":"consul","Action":"deny","Meta":{"team":"a"},"Precedence":9,"CreateIndex":5,"ModifyIndex":5}`

func TestIntentionCommands(t *testing.T) {
	pair := "destination=db&source=web"
	runCases(t, []cliCase{
		{
			name: "create deny with meta",
			args: []string{"intention", "create", "-deny", "-meta", "team=a", "web", "db"},
			want: []exchange{
				{method: "GET", path: "/v1/connect/intentions/exact", query: pair, status: 404, reply: "Intention not found"},
				{method: "PUT", path: "/v1/connect/intentions/exact", query: pair,
					jsonBody: `{"ID":"","SourceName":"web","DestinationName":"db","SourceType":"consul","Action":"deny","Meta":{"team":"a"},"Precedence":0}`, reply: "true"},
			},
			stdout: "Created: web => db (deny)\n",
		},
		{
			name: "create allows by default and refuses a duplicate",
			args: []string{"intention", "create", "web", "db"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/exact", query: pair, reply: webDB}},
			code: 1, stderr: "Error: an intention with source \"web\" and destination \"db\" already exists (use -replace to replace it)\n",
		},
		{
			name: "create -replace",
			args: []string{"intention", "create", "-replace", "-allow", "web", "db"},
			want: []exchange{{method: "PUT", path: "/v1/connect/intentions/exact", query: pair,
				jsonBody: `{"ID":"","SourceName":"web","DestinationName":"db","SourceType":"consul","Action":"allow","Precedence":0}`, reply: "true"}},
			stdout: "Created: web => db (allow)\n",
		},
		{
			name: "create with both actions",
			args: []string{"intention", "create", "-allow", "-deny", "web", "db"},
			code: 1, stderr: "Error: only one of -allow and -deny may be given\n",
		},
		{
			name: "create with one argument",
			args: []string{"intention", "create", "web"},
			code: 1, stderr: "Error: intention create takes exactly two arguments, SRC and DST, got 1 (see beacon intention create -h)\n",
		},
		{
			name:   "check allowed",
			args:   []string{"intention", "check", "web", "db"},
			want:   []exchange{{method: "GET", path: "/v1/connect/intentions/check", query: pair, reply: `{"Allowed":true}`}},
			stdout: "Allowed\n",
		},
		{
			name:   "check denied exits 2",
			args:   []string{"intention", "check", "web", "db"},
			want:   []exchange{{method: "GET", path: "/v1/connect/intentions/check", query: pair, reply: `{"Allowed":false}`}},
			code:   2,
			stdout: "Denied\n",
		},
		{
			name: "check error exits 1",
			args: []string{"intention", "check", "web", "db"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/check", query: pair, status: 500, reply: "No cluster leader"}},
			code: 1, stderr: "Error checking the intention: Unexpected response code: 500 (No cluster leader)\n",
		},
		{
			name: "get",
			args: []string{"intention", "get", "web", "db"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/exact", query: pair, reply: webDB}},
			stdout: "" +
				"Source:       web\n" +
				"Destination:  db\n" +
				"Action:       deny\n" +
				"ID:           i-1\n" +
				"Meta:         team=a\n" +
				"Precedence:   9\n",
		},
		{
			name: "get a missing intention",
			args: []string{"intention", "get", "web", "db"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/exact", query: pair, status: 404, reply: "Intention not found"}},
			code: 1, stderr: "Error: no intention with source \"web\" and destination \"db\"\n",
		},
		{
			name: "list",
			args: []string{"intention", "list"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions", reply: `[` + webDB +
				`,{"ID":"i-2","SourceName":"*","DestinationName":"db","Action":"allow","Precedence":8}]`}},
			stdout: "" +
				"ID   Source  Action  Destination  Precedence\n" +
				"i-1  web     deny    db           9\n" +
				"i-2  *       allow   db           8\n",
		},
		{
			name: "list none exits 2",
			args: []string{"intention", "list"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions", reply: `[]`}},
			code: 2, stderr: "There are no intentions.\n",
		},
		{
			name:   "delete",
			args:   []string{"intention", "delete", "web", "db"},
			want:   []exchange{{method: "DELETE", path: "/v1/connect/intentions/exact", query: pair, reply: "true"}},
			stdout: "Intention deleted.\n",
		},
		{
			name: "get by ID",
			args: []string{"intention", "get", "i-1"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/i-1", reply: webDB}},
			stdout: "" +
				"Source:       web\n" +
				"Destination:  db\n" +
				"Action:       deny\n" +
				"ID:           i-1\n" +
				"Meta:         team=a\n" +
				"Precedence:   9\n",
		},
		{
			name: "get by an unknown ID",
			args: []string{"intention", "get", "i-9"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/i-9", status: 404, reply: "Intention not found"}},
			code: 1, stderr: "Error: no intention with ID \"i-9\"\n",
		},
		{
			name: "get with three arguments",
			args: []string{"intention", "get", "a", "b", "c"},
			code: 1, stderr: "Error: intention get takes one argument, ID, or two, SRC and DST, got 3 (see beacon intention get -h)\n",
		},
		{
			name:   "delete by ID",
			args:   []string{"intention", "delete", "i-1"},
			want:   []exchange{{method: "DELETE", path: "/v1/connect/intentions/i-1", reply: "true"}},
			stdout: "Intention deleted.\n",
		},
		{
			name: "delete by an unknown ID",
			args: []string{"intention", "delete", "i-9"},
			want: []exchange{{method: "DELETE", path: "/v1/connect/intentions/i-9", status: 404, reply: "Intention not found"}},
			code: 1, stderr: "Error deleting the intention: Unexpected response code: 404 (Intention not found)\n",
		},
		{
			name: "delete with no arguments",
			args: []string{"intention", "delete"},
			code: 1, stderr: "Error: intention delete takes one argument, ID, or two, SRC and DST, got 0 (see beacon intention delete -h)\n",
		},
		{
			name: "match by destination by default",
			args: []string{"intention", "match", "db"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/match", query: "by=destination&name=db", reply: `{"db":[` + webDB +
				`,{"ID":"i-2","SourceName":"*","DestinationName":"db","Action":"allow","Precedence":8}]}`}},
			stdout: "web => db (deny)\n* => db (allow)\n",
		},
		{
			name: "match -source",
			args: []string{"intention", "match", "-source", "web"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/match", query: "by=source&name=web", reply: `{"web":[` + webDB +
				`,{"ID":"i-3","SourceName":"web","DestinationName":"*","Action":"allow","Precedence":6}]}`}},
			stdout: "web => db (deny)\nweb => * (allow)\n",
		},
		{
			name: "match -destination, none",
			args: []string{"intention", "match", "-destination", "cache"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/match", query: "by=destination&name=cache", reply: `{"cache":[]}`}},
		},
		{
			name: "match with both sides",
			args: []string{"intention", "match", "-source", "-destination", "web"},
			code: 1, stderr: "Error: only one of -source and -destination may be given\n",
		},
		{
			name: "match without a name",
			args: []string{"intention", "match"},
			code: 1, stderr: "Error: intention match takes exactly one argument, NAME, got 0 (see beacon intention match -h)\n",
		},
		{
			name: "match error",
			args: []string{"intention", "match", "db"},
			want: []exchange{{method: "GET", path: "/v1/connect/intentions/match", query: "by=destination&name=db", status: 500, reply: "No cluster leader"}},
			code: 1, stderr: "Error matching intentions: Unexpected response code: 500 (No cluster leader)\n",
		},
	})
}

func TestConnectCACommands(t *testing.T) {
	cfg := `{"Provider":"consul","Config":{"LeafCertTTL":"24h"}}`
	runCases(t, []cliCase{
		{
			name: "get-config",
			args: []string{"connect", "ca", "get-config"},
			want: []exchange{{method: "GET", path: "/v1/connect/ca/configuration",
				reply: `{"Provider":"consul","Config":{"LeafCertTTL":"72h"},"CreateIndex":5,"ModifyIndex":5}`}},
			stdout: "{\n    \"Provider\": \"consul\",\n    \"Config\": {\n        \"LeafCertTTL\": \"72h\"\n    },\n" +
				"    \"CreateIndex\": 5,\n    \"ModifyIndex\": 5\n}\n",
		},
		{
			name:   "set-config",
			args:   []string{"connect", "ca", "set-config", "-config-file", "{{dir}}/ca.json"},
			files:  map[string]string{"ca.json": cfg},
			want:   []exchange{{method: "PUT", path: "/v1/connect/ca/configuration", body: cfg}},
			stdout: "Configuration updated!\n",
		},
		{
			name:   "set-config refused",
			args:   []string{"connect", "ca", "set-config", "-config-file", "{{dir}}/ca.json"},
			files:  map[string]string{"ca.json": `{"Provider":"vault"}`},
			want:   []exchange{{method: "PUT", path: "/v1/connect/ca/configuration", body: `{"Provider":"vault"}`, status: 400, reply: "Provider \"vault\" is not supported"}},
			code:   1,
			stderr: "Error setting the CA configuration: Unexpected response code: 400 (Provider \"vault\" is not supported)\n",
		},
		{
			name: "set-config without a file",
			args: []string{"connect", "ca", "set-config"},
			code: 1, stderr: "Error: -config-file is required\n",
		},
		{
			name:  "set-config with bad JSON",
			args:  []string{"connect", "ca", "set-config", "-config-file", "{{dir}}/ca.json"},
			files: map[string]string{"ca.json": `{`},
			code:  1, stderr: "Error parsing the config file {{dir}}/ca.json: not valid JSON\n",
		},
	})
}
