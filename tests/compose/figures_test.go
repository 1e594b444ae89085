package compose

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
)

// benchFigure appends one measurement to the file BEACON_BENCH_OUT names,
// as a JSON line in bench/internal/result's shape (kind "deploy"), when
// `make bench` runs these tests for its deployment figures; otherwise it
// does nothing.
func benchFigure(name string, seconds float64, bytes int64) {
	path := os.Getenv("BEACON_BENCH_OUT")
	if path == "" {
		return
	}
	run, _ := strconv.Atoi(os.Getenv("BEACON_BENCH_RUN"))
	line, err := json.Marshal(map[string]any{
		"name": name, "kind": "deploy", "run": run, "target": "compose",
		"seconds": seconds, "bytes": bytes, "errors": 0, "rate": 0, "p50_ms": 0, "p99_ms": 0,
	})
	if err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

// recordImageSizes records the size of each image of this run.
func recordImageSizes(tag string) {
	if os.Getenv("BEACON_BENCH_OUT") == "" {
		return
	}
	for _, img := range imageNames {
		out, err := docker("image", "inspect", "--format", "{{.Size}}", img+":"+tag)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64); err == nil {
			benchFigure("deploy-image/"+img, 0, n)
		}
	}
}
