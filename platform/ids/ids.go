// Package ids makes Beacon's IDs: random UUIDs (sessions, intentions, a
// cluster's ID) and the node ID, a UUID saved in the data dir on first
// start and read back after, as Consul keeps its node-id file. The catalog
// replica (whose Raft server ID it is) and the node agent keep it the same
// way, so the dev agent can give both one.
package ids

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// NodeIDFile is the node ID's file name in a data dir.
const NodeIDFile = "node-id"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// New returns a random RFC 4122 version 4 UUID.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Valid reports whether id is a UUID (in either case).
func Valid(id string) bool { return uuidRE.MatchString(strings.ToLower(id)) }

// LoadNodeID returns the node ID kept in dataDir, making one up and saving it there
// on first use; without a data dir it is new each call. An ID in the file
// that is not a UUID is an error.
func LoadNodeID(dataDir string) (string, error) {
	if dataDir == "" {
		return New(), nil
	}
	path := filepath.Join(dataDir, NodeIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.ToLower(strings.TrimSpace(string(b)))
		if !Valid(id) {
			return "", fmt.Errorf("node id in %s: %q is not a UUID", path, id)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("read node id: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	id := New()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save node id: %w", err)
	}
	return id, nil
}
