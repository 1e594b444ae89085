package command

import "testing"

func TestValidateCommand(t *testing.T) {
	web := `{"service": {"name": "web", "port": 80, "check": {"http": "http://127.0.0.1/health", "interval": "10s"}}}`
	runCases(t, []cliCase{
		{
			name:   "valid directory with agent settings",
			args:   []string{"validate", "{{dir}}"},
			files:  map[string]string{"web.json": web, "agent.hcl": "datacenter = \"dc1\"\nservice {\n  name = \"db\"\n  port = 5432\n}\n", "notes.txt": "not config"},
			stdout: "Configuration is valid!\n",
		},
		{
			name:  "quiet",
			args:  []string{"validate", "-quiet", "{{dir}}/web.json"},
			files: map[string]string{"web.json": web},
		},
		{
			name:  "every problem of every file",
			args:  []string{"validate", "{{dir}}"},
			files: map[string]string{"db.hcl": "service {\n  name = \"db\"\n  port = \"abc\"\n}\n", "x.json": `{"service": {"name": "x", "bogus": 1}}`},
			code:  1,
			stderr: "Config validation failed: {{dir}}/db.hcl:3: service[0].port: \"abc\" is not an integer; " +
				"{{dir}}/x.json:1: service[0].bogus: unknown key\n",
		},
		{name: "no path", args: []string{"validate"}, code: 1, stderr: "Must specify at least one config file or directory\n"},
	})
}
