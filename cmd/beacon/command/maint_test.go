package command

import "testing"

func TestMaintCommand(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "enable the node with a reason",
			args:   []string{"maint", "-enable", "-reason", "disk swap"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/maintenance", query: "enable=true&reason=disk+swap"}},
			stdout: "Node entered maintenance mode\n",
		},
		{
			name:   "disable a service",
			args:   []string{"maint", "-disable", "-service", "web 1"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/service/maintenance/web 1", query: "enable=false"}},
			stdout: "Service left maintenance mode\n",
		},
		{
			name: "list",
			args: []string{"maint"},
			want: []exchange{{method: "GET", path: "/v1/agent/checks", reply: `{
				"_service_maintenance:redis": {"Node": "n1", "CheckID": "_service_maintenance:redis", "ServiceID": "redis", "Notes": "upgrade"},
				"_node_maintenance": {"Node": "n1", "CheckID": "_node_maintenance", "Notes": "broken"},
				"service:redis": {"Node": "n1", "CheckID": "service:redis", "ServiceID": "redis"}}`}},
			stdout: "Node:\n  Name:   n1\n  Reason: broken\n\nService:\n  ID:     redis\n  Reason: upgrade\n",
		},
		{
			name: "list with nothing in maintenance prints nothing",
			args: []string{"maint"},
			want: []exchange{{method: "GET", path: "/v1/agent/checks", reply: `{}`}},
		},
		{
			name: "unknown service",
			args: []string{"maint", "-enable", "-service", "nope"},
			want: []exchange{{method: "PUT", path: "/v1/agent/service/maintenance/nope", query: "enable=true",
				status: 404, reply: `Unknown service ID "nope". Ensure that the service ID is passed, not the service name.`}},
			code:   1,
			stderr: "Error enabling maintenance mode: Unexpected response code: 404 (Unknown service ID \"nope\". Ensure that the service ID is passed, not the service name.)\n",
		},
		{name: "both", args: []string{"maint", "-enable", "-disable"}, code: 1, stderr: "Only one of -enable or -disable may be provided\n"},
		{name: "reason without enable", args: []string{"maint", "-reason", "x"}, code: 1, stderr: "Reason may only be provided with -enable\n"},
		{name: "service alone", args: []string{"maint", "-service", "web"}, code: 1, stderr: "Service requires either -enable or -disable\n"},
		{name: "arguments", args: []string{"maint", "web"}, code: 1, stderr: "Too many arguments (expected 0, got 1)\n"},
	})
}
