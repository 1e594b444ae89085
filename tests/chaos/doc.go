// Package chaos runs Beacon's real binaries on loopback under injected
// faults and checks what clients observed: a linearizability harness for the
// KV API (porcupine, with kill -9, SIGSTOP and network partitions between
// replicas), a crash-durability loop on a single durable replica, and a
// mutual-exclusion check of api.Lock across leader failures.
//
// Every test is a normal `go test`; BEACON_CHAOS_DURATION lengthens the
// fault phase (`make chaos DURATION=10m`) and BEACON_CHAOS_SEED replays a
// fault schedule. See docs/reliability.md.
package chaos
