// Package platform is the root of the plumbing every Beacon process shares:
// the gRPC server setup (rpcserver), client connections (rpcclient), request
// tokens (token) and logging (logging). It holds no domain logic.
package platform
