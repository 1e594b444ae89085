// Package command holds the beacon CLI's commands. Each parses its own flags
// with the standard flag package (single-dash, as Consul's: `-dev`), and
// client commands reach the agent over the HTTP API.
package command

import (
	"os"
	"strings"

	"github.com/hashicorp/cli"
)

// Version is Beacon's version, printed by `beacon version` and the banner.
const Version = "0.1.0"

// Commands returns the command table.
func Commands(ui cli.Ui) map[string]cli.CommandFactory {
	return commands(&Meta{UI: ui, Getenv: os.Getenv, Stdin: os.Stdin})
}

func commands(m *Meta) map[string]cli.CommandFactory {
	ui := m.UI
	of := func(c cli.Command) cli.CommandFactory {
		return func() (cli.Command, error) { return c, nil }
	}
	// Each factory builds a fresh command: a command keeps flag state.
	return map[string]cli.CommandFactory{
		"agent":   func() (cli.Command, error) { return &agentCommand{ui: ui}, nil },
		"version": func() (cli.Command, error) { return &versionCommand{ui: ui}, nil },

		"members":     func() (cli.Command, error) { return newMembers(m), nil },
		"info":        func() (cli.Command, error) { return newInfo(m), nil },
		"reload":      func() (cli.Command, error) { return newReload(m), nil },
		"leave":       func() (cli.Command, error) { return newLeave(m), nil },
		"force-leave": func() (cli.Command, error) { return newForceLeave(m), nil },
		"maint":       func() (cli.Command, error) { return newMaint(m), nil },
		"monitor":     func() (cli.Command, error) { return newMonitor(m), nil },
		"lock":        func() (cli.Command, error) { return newLock(m), nil },
		"validate":    func() (cli.Command, error) { return newValidate(ui), nil },
		"watch":       func() (cli.Command, error) { return newWatch(m), nil },

		"catalog":             of(parent("catalog", "Interact with the catalog", "datacenters, nodes and services")),
		"catalog datacenters": func() (cli.Command, error) { return newCatalogDatacenters(m), nil },
		"catalog services":    func() (cli.Command, error) { return newCatalogServices(m), nil },
		"catalog nodes":       func() (cli.Command, error) { return newCatalogNodes(m), nil },

		"kv":        of(parent("kv", "Interact with the key-value store", "reading, writing and deleting keys")),
		"kv get":    func() (cli.Command, error) { return newKVGet(m), nil },
		"kv put":    func() (cli.Command, error) { return newKVPut(m), nil },
		"kv delete": func() (cli.Command, error) { return newKVDelete(m), nil },
		"kv export": func() (cli.Command, error) { return newKVExport(m), nil },
		"kv import": func() (cli.Command, error) { return newKVImport(m), nil },

		"services":            of(parent("services", "Interact with services", "registering and deregistering services with the local agent")),
		"services register":   func() (cli.Command, error) { return newServicesRegister(m), nil },
		"services deregister": func() (cli.Command, error) { return newServicesDeregister(m), nil },

		"operator":                  of(parent("operator", "Provides cluster-level tools for Beacon operators", "operating the Raft cluster")),
		"operator raft":             of(parent("operator raft", "Provides cluster-level tools for Beacon operators", "the Raft configuration")),
		"operator raft list-peers":  func() (cli.Command, error) { return newRaftListPeers(m), nil },
		"operator raft remove-peer": func() (cli.Command, error) { return newRaftRemovePeer(m), nil },

		"connect":       of(parent("connect", "Interact with Connect, the service mesh", "the service mesh: the mTLS proxy, the CA")),
		"connect proxy": func() (cli.Command, error) { return newConnectProxy(m), nil },

		"connect ca":            of(parent("connect ca", "Interact with the Connect Certificate Authority (CA)", "the Connect CA's configuration")),
		"connect ca get-config": func() (cli.Command, error) { return newCAGetConfig(m), nil },
		"connect ca set-config": func() (cli.Command, error) { return newCASetConfig(m), nil },

		"intention":        of(parent("intention", "Interact with Connect service intentions", "which services may connect to which")),
		"intention create": func() (cli.Command, error) { return newIntentionCreate(m), nil },
		"intention check":  func() (cli.Command, error) { return newIntentionCheck(m), nil },
		"intention get":    func() (cli.Command, error) { return newIntentionGet(m), nil },
		"intention list":   func() (cli.Command, error) { return newIntentionList(m), nil },
		"intention delete": func() (cli.Command, error) { return newIntentionDelete(m), nil },
		"intention match":  func() (cli.Command, error) { return newIntentionMatch(m), nil },

		"snapshot":         of(parent("snapshot", "Saves, restores and inspects snapshots of Beacon server state", "snapshots of the servers' state")),
		"snapshot save":    func() (cli.Command, error) { return newSnapshotSave(m), nil },
		"snapshot restore": func() (cli.Command, error) { return newSnapshotRestore(m), nil },

		"demo":       of(parent("demo", "Runs the demo services of the Docker Compose deployment", "the demo services")),
		"demo echo":  func() (cli.Command, error) { return &demoEchoCommand{ui: ui}, nil },
		"demo web":   func() (cli.Command, error) { return &demoWebCommand{ui: ui}, nil },
		"demo probe": func() (cli.Command, error) { return &demoProbeCommand{ui: ui}, nil },
	}
}

// parentCommand is a command that only groups subcommands; running it
// prints its help and the subcommand list.
type parentCommand struct{ name, synopsis, about string }

func parent(name, synopsis, about string) *parentCommand {
	return &parentCommand{name: name, synopsis: synopsis, about: about}
}

func (c *parentCommand) Synopsis() string { return c.synopsis }
func (c *parentCommand) Run([]string) int { return cli.RunResultHelp }
func (c *parentCommand) Help() string {
	return strings.TrimSpace("Usage: beacon " + c.name + " <subcommand> [options] [args]\n\n  Subcommands for " + c.about + ".")
}

type versionCommand struct{ ui cli.Ui }

func (c *versionCommand) Help() string     { return "Usage: beacon version\n\n  Prints the version." }
func (c *versionCommand) Synopsis() string { return "Prints the Beacon version" }
func (c *versionCommand) Run(args []string) int {
	c.ui.Output("Beacon v" + Version)
	c.ui.Output("Protocol 2 spoken by default, understands 2 to 3 (Consul-compatible HTTP API v1)")
	return 0
}
