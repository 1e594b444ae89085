package compose

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	repoDir string
	// skipReason is why the tests cannot run here (no Docker engine or no
	// Compose); empty when they can.
	skipReason string
	// upErr is why the cluster did not come up, when it did not.
	upErr error
	// cl is the cluster every test shares; each test leaves it healthy.
	cl *cluster
)

// imageNames are the images deploy/images.sh builds.
var imageNames = []string{"beacon-cli", "beacon-catalog", "beacon-health", "beacon-dnsgw", "beacon-httpgw", "beacon-proxy"}

// TestMain builds the static binaries and images, starts the cluster once
// for the package, and always removes it (containers, networks, volumes,
// images) afterwards.
func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	skipReason = dockerMissing()
	if skipReason != "" {
		os.Exit(m.Run())
	}
	tag := "test-" + randomHex(4)
	project := "beacon-compose-" + randomHex(4)
	start := time.Now()
	cl, upErr = setUp(project, tag)
	if upErr == nil {
		took := time.Since(start)
		fmt.Fprintf(os.Stderr, "compose: cluster %s healthy %s after the start of TestMain\n", project, took.Round(time.Second))
		benchFigure("deploy-up", took.Seconds(), 0)
		recordImageSizes(tag)
	}
	code := m.Run()
	if cl != nil {
		if code != 0 || upErr != nil {
			cl.dumpLogs()
		}
		cl.down()
	}
	removeImages(tag)
	os.Exit(code)
}

// dockerMissing says why Docker tests cannot run, or "" when they can.
func dockerMissing() string {
	if _, err := exec.LookPath("docker"); err != nil {
		return "no docker CLI on PATH"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Sprintf("no Docker engine reachable (docker info: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	if composeCommand() == nil {
		return "neither `docker compose` nor `docker-compose` is installed"
	}
	return ""
}

// setUp builds everything and starts the cluster; on error it tears down
// whatever it started.
func setUp(project, tag string) (*cluster, error) {
	if err := run(10*time.Minute, repoDir, nil, "make", "-s", "static"); err != nil {
		return nil, fmt.Errorf("make static: %w", err)
	}
	if err := run(5*time.Minute, repoDir, []string{"BEACON_TAG=" + tag}, "./deploy/images.sh"); err != nil {
		return nil, fmt.Errorf("building images: %w", err)
	}
	c := newCluster(project, tag)
	if err := c.up(); err != nil {
		c.dumpLogs()
		c.down()
		return nil, err
	}
	return c, nil
}

// needCluster skips the test when Docker is absent and fails it when the
// cluster could not start.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	if skipReason != "" {
		t.Skip("SKIPPED: " + skipReason)
	}
	if upErr != nil {
		t.Fatalf("the compose cluster did not start: %v", upErr)
	}
	return cl
}

func removeImages(tag string) {
	args := []string{"rmi", "--force"}
	for _, img := range imageNames {
		args = append(args, img+":"+tag)
	}
	_ = run(time.Minute, repoDir, nil, "docker", args...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run runs a command with its output on stderr.
func run(timeout time.Duration, dir string, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
