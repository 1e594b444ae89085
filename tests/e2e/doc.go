// Package e2e drives Beacon's real binaries over real sockets: the dev agent,
// grpcurl against its reflection, the Consul Go client against its HTTP API,
// and dig-style DNS queries.
package e2e
