package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// catalogs are the compose services of the three replicas; gw-N is the
// test-only HTTP gateway that reaches only catalog-N.
var catalogs = []string{"catalog-1", "catalog-2", "catalog-3"}

// cluster is one running compose project.
type cluster struct {
	project string
	tag     string
	compose []string // the compose command and its project/file flags
	ids     map[string]string
	mesh    string // the docker network the replicas share

	http     string            // main HTTP gateway, host:port
	dns      string            // dnsgw-1, UDP
	dnsTCP   string            // dnsgw-1, TCP (another port when published on a free one)
	grpc     string            // catalog-1's gRPC port
	web      string            // the demo web service
	upstream string            // web's upstream listener for echo
	gw       map[string]string // replica service → its own gateway
}

// composeCommand returns the installed Compose command, v2 first.
func composeCommand() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return nil
}

func newCluster(project, tag string) *cluster {
	args := append(composeCommand(),
		"--project-name", project,
		"--file", filepath.Join(repoDir, "deploy", "docker-compose.yml"),
		"--file", filepath.Join(repoDir, "tests", "compose", "testdata", "replica-gateways.yml"))
	return &cluster{project: project, tag: tag, compose: args, ids: map[string]string{}, gw: map[string]string{}}
}

// env is the compose environment: this run's images, and every published
// port on a free port of 127.0.0.1.
func (c *cluster) env() []string {
	return append(os.Environ(), "BEACON_TAG="+c.tag,
		"BEACON_HTTP_PORT=0", "BEACON_GRPC_PORT=0", "BEACON_DNS_PORT=0", "BEACON_WEB_PORT=0", "BEACON_UPSTREAM_PORT=0")
}

// run runs a compose command and returns its standard output.
func (c *cluster) run(timeout time.Duration, args ...string) (string, error) {
	return command(timeout, c.env(), append(c.compose, args...)...)
}

// command runs argv and returns its standard output; the error carries
// standard error.
func command(timeout time.Duration, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// docker runs a docker command.
func docker(args ...string) (string, error) {
	return command(2*time.Minute, os.Environ(), append([]string{"docker"}, args...)...)
}

// up starts the project, waits until every container is healthy and
// learns the containers' IDs and published ports.
func (c *cluster) up() error {
	if _, err := c.run(5*time.Minute, "up", "-d"); err != nil {
		return fmt.Errorf("compose up: %w", err)
	}
	out, err := c.run(time.Minute, "config", "--services")
	if err != nil {
		return fmt.Errorf("compose config: %w", err)
	}
	for _, svc := range strings.Fields(out) {
		id, err := c.run(time.Minute, "ps", "-q", svc)
		if err != nil || strings.TrimSpace(id) == "" {
			return fmt.Errorf("container of %s: %v", svc, err)
		}
		c.ids[svc] = strings.TrimSpace(id)
	}
	net, err := docker("network", "ls", "--format", "{{.Name}}",
		"--filter", "label=com.docker.compose.project="+c.project, "--filter", "label=com.docker.compose.network=mesh")
	if err != nil || strings.TrimSpace(net) == "" {
		return fmt.Errorf("the mesh network: %v", err)
	}
	c.mesh = strings.TrimSpace(net)
	ports := []struct {
		dst       *string
		svc, port string
	}{
		{&c.http, "httpgw", "8500/tcp"}, {&c.dns, "dnsgw-1", "8600/udp"}, {&c.grpc, "catalog-1", "8502/tcp"},
		{&c.web, "web", "8080/tcp"}, {&c.upstream, "web", "9191/tcp"},
	}
	for _, p := range ports {
		if *p.dst, err = c.hostPort(p.svc, p.port); err != nil {
			return err
		}
	}
	if c.dnsTCP, err = c.hostPort("dnsgw-1", "8600/tcp"); err != nil {
		return err
	}
	for _, r := range catalogs {
		if c.gw[r], err = c.hostPort("gw-"+r[len("catalog-"):], "8500/tcp"); err != nil {
			return err
		}
	}
	return c.waitHealthy(4 * time.Minute)
}

// hostPort returns the 127.0.0.1 address a container port is published on.
func (c *cluster) hostPort(svc, port string) (string, error) {
	out, err := docker("port", c.ids[svc], port)
	if err != nil {
		return "", fmt.Errorf("published port %s of %s: %w", port, svc, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "127.0.0.1:") {
			return line, nil
		}
	}
	return "", fmt.Errorf("%s of %s is not published on 127.0.0.1: %q", port, svc, out)
}

// health returns each service's container health ("healthy", "starting",
// "unhealthy", or the state when the container is not running).
func (c *cluster) health() (map[string]string, error) {
	args := []string{"inspect", "-f", `{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}`}
	var svcs []string
	for svc, id := range c.ids {
		svcs = append(svcs, svc)
		args = append(args, id)
	}
	out, err := docker(args...)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(svcs) {
		return nil, fmt.Errorf("docker inspect: %d lines for %d containers", len(lines), len(svcs))
	}
	h := make(map[string]string, len(svcs))
	for i, svc := range svcs {
		state, health, _ := strings.Cut(lines[i], " ")
		if state != "running" {
			health = state
		}
		h[svc] = health
	}
	return h, nil
}

// waitHealthy waits until every container of the project is healthy.
func (c *cluster) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		h, err := c.health()
		var bad []string
		if err == nil {
			for svc, st := range h {
				if st != "healthy" {
					bad = append(bad, svc+"="+st)
				}
			}
			if len(bad) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %s: %v %v", timeout, bad, err)
		}
		time.Sleep(time.Second)
	}
}

// restoreHealthy is a test's cleanup: the next test starts from a cluster
// where every container is running and healthy.
func (c *cluster) restoreHealthy(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.waitHealthy(3 * time.Minute); err != nil {
			t.Errorf("cluster not healthy after the test: %v", err)
		}
	})
}

// leader returns the compose service of the current Raft leader as the
// main gateway reports it, or "" when none is known.
func (c *cluster) leader(ctx context.Context, gateway string) (string, error) {
	var addr string
	if _, err := getJSON(ctx, gateway, "/v1/status/leader", &addr); err != nil {
		return "", err
	}
	host, _, _ := strings.Cut(addr, ":")
	return host, nil
}

// waitLeader waits until gateway names a leader other than not.
func (c *cluster) waitLeader(ctx context.Context, gateway, not string) (string, error) {
	var last error
	for ctx.Err() == nil {
		l, err := c.leader(ctx, gateway)
		if err == nil && l != "" && l != not {
			return l, nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return "", errors.Join(fmt.Errorf("no leader other than %q: %w", not, ctx.Err()), last)
}

// down removes everything the project created.
func (c *cluster) down() {
	if _, err := c.run(5*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		fmt.Fprintln(os.Stderr, "compose down:", err)
	}
}

// dumpLogs prints the end of every container's log, for failures.
func (c *cluster) dumpLogs() {
	out, _ := c.run(time.Minute, "logs", "--no-color", "--tail", "60")
	fmt.Fprintln(os.Stderr, "--- compose logs ---\n"+out)
}
