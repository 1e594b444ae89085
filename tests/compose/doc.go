// Package compose holds end-to-end tests of the Docker Compose deployment
// (deploy/docker-compose.yml): they build the static binaries and images,
// start the whole cluster under a unique project name, and check it the
// way a user would (the tutorial's steps) and the way a machine fails it
// (stopping the leader, cutting a replica off the network, killing a node
// agent, restarting every replica at once and one by one under writes).
//
// Without a Docker engine and Compose the tests are skipped, saying why.
package compose
