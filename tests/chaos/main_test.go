package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

var (
	repoDir string

	buildOnce sync.Once
	binDir    string
	buildErr  error
	tmpBinDir string // removed by TestMain
)

func TestMain(m *testing.M) {
	flag.Parse()
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	code := m.Run()
	if tmpBinDir != "" {
		os.RemoveAll(tmpBinDir)
	}
	os.Exit(code)
}

// needBinaries builds beacon-catalog and beacon-httpgw once for the
// package, with -race when the tests run with it, so a data race in a
// replica fails the run too. BEACON_CHAOS_BIN names a directory of
// binaries built beforehand instead.
func needBinaries(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		if dir := os.Getenv("BEACON_CHAOS_BIN"); dir != "" {
			binDir = dir
			return
		}
		dir, err := os.MkdirTemp("", "beacon-chaos-bin-")
		if err != nil {
			buildErr = err
			return
		}
		tmpBinDir, binDir = dir, dir
		args := []string{"build"}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "-o", dir+string(os.PathSeparator),
			"./services/catalog/cmd/beacon-catalog", "./services/httpgw/cmd/beacon-httpgw")
		cmd := exec.Command("go", args...)
		cmd.Dir = repoDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %v: %w\n%s", args, err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binaries: %v", buildErr)
	}
}

// chaosDuration is how long the fault phase of the cluster tests lasts:
// def, or BEACON_CHAOS_DURATION (a Go duration such as 10m).
func chaosDuration(t *testing.T, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv("BEACON_CHAOS_DURATION")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("BEACON_CHAOS_DURATION=%q: want a positive Go duration such as 10m", v)
	}
	return d
}

// chaosSeed is the seed of a test's fault schedule and traffic:
// BEACON_CHAOS_SEED to replay a run, else the clock. It is logged.
func chaosSeed(t *testing.T) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv("BEACON_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("BEACON_CHAOS_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with BEACON_CHAOS_SEED=%d)", seed, seed)
	return seed
}

// workDir is a test's directory for data dirs, process logs and, on
// failure, porcupine's HTML and the history. Under -artifacts it is
// t.ArtifactDir() and always kept; otherwise it is a temp directory that is
// removed when the test passes and kept (and its path logged) when it fails.
// Call it before starting processes, so that it is cleaned up after them.
func workDir(t *testing.T) string {
	t.Helper()
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir, err := os.MkdirTemp("", "beacon-chaos-"+filepath.Base(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("artifacts (logs, data dirs, history) kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}
