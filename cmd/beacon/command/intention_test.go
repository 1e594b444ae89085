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
			name:   "list none",
			args:   []string{"intention", "list"},
			want:   []exchange{{method: "GET", path: "/v1/connect/intentions", reply: `[]`}},
			stdout: "There are no intentions.\n",
		},
		{
			name:   "delete",
			args:   []string{"intention", "delete", "web", "db"},
			want:   []exchange{{method: "DELETE", path: "/v1/connect/intentions/exact", query: pair, reply: "true"}},
			stdout: "Intention deleted.\n",
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
