// Package daemon runs one catalog replica: Raft, the state store, the public
// gRPC API and the server port. beacon-catalog and `beacon agent -dev` both
// call Run with a Config, so there is one implementation.
package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/beaconmesh/beacon/services/catalog/cluster"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a catalog replica.
type Config struct {
	// Node is this replica's node name (default: the host name).
	Node string
	// NodeID is the node's ID, which is also its Raft server ID. Empty:
	// DataDir's node-id file, made on first start (see ids.LoadNodeID).
	NodeID     string
	Datacenter string
	// DataDir holds the Raft log, snapshots and node ID. Empty is allowed
	// only in dev mode and keeps everything in memory.
	DataDir string
	// ServerAddr is the server port (Raft and replica-to-replica gRPC),
	// Consul's 8300. ServerListener, when set, is used instead.
	ServerAddr     string
	ServerListener net.Listener
	// Advertise is the server address peers dial (host:port); defaults to
	// the bound address, which must then be a specific IP.
	Advertise string
	// GRPCAddr is the public gRPC API (Consul's 8502). GRPCListener, when
	// set, is used instead.
	GRPCAddr     string
	GRPCListener net.Listener
	// MetricsAddr, when set, serves Prometheus /metrics over HTTP.
	MetricsAddr     string
	BootstrapExpect int
	RetryJoin       []string
	RetryInterval   time.Duration
	// Dev runs a single in-memory replica that is leader at once.
	Dev               bool
	Timing            cluster.Timing
	SnapshotThreshold uint64
	// DefaultIntentionPolicy is "allow" (Consul's default without ACLs) or
	// "deny": what applies to a connection no intention matches.
	DefaultIntentionPolicy string
	// SyncInterval is how often a replica re-registers itself in the catalog
	// (a no-op write when nothing changed). Default 60 s.
	SyncInterval time.Duration
	Logger       *slog.Logger
	// Registerer and Gatherer are the process's metrics registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Node:          host,
		Datacenter:    "dc1",
		ServerAddr:    "0.0.0.0:8300",
		GRPCAddr:      "127.0.0.1:8502",
		RetryInterval: time.Second,
		SyncInterval:  time.Minute,

		DefaultIntentionPolicy: "allow",
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("node name is required (-node)"))
	}
	if c.Datacenter == "" {
		errs = append(errs, errors.New("datacenter is required (-datacenter)"))
	}
	if !c.Dev {
		if c.DataDir == "" {
			errs = append(errs, errors.New("-data-dir is required outside -dev"))
		}
		if c.BootstrapExpect < 0 {
			errs = append(errs, fmt.Errorf("-bootstrap-expect %d is negative", c.BootstrapExpect))
		}
		if c.BootstrapExpect == 0 && len(c.RetryJoin) == 0 {
			errs = append(errs, errors.New("set -bootstrap-expect (1 for a single replica) or -retry-join to reach an existing cluster"))
		}
		if c.BootstrapExpect > 1 && len(c.RetryJoin) == 0 {
			errs = append(errs, fmt.Errorf("-bootstrap-expect %d needs -retry-join addresses of the other replicas", c.BootstrapExpect))
		}
	}
	if c.ServerListener == nil && c.ServerAddr == "" && !c.Dev {
		errs = append(errs, errors.New("server address is required (-server-addr)"))
	}
	if p := c.DefaultIntentionPolicy; p != "" && p != "allow" && p != "deny" {
		errs = append(errs, fmt.Errorf("-default-intention-policy %q: want allow or deny", p))
	}
	if c.GRPCListener == nil && c.GRPCAddr == "" {
		errs = append(errs, errors.New("gRPC address is required (-grpc-addr)"))
	}
	for _, a := range append([]string{c.Advertise}, c.RetryJoin...) {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("address %q: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

// Version is reported in the replica's member tags.
const Version = "0.1.0"
