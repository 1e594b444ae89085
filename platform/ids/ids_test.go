package ids

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadNodeID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, err := LoadNodeID(dir)
	if err != nil || !Valid(a) {
		t.Fatalf("first LoadNodeID = %q, %v", a, err)
	}
	if b, err := LoadNodeID(dir); err != nil || b != a {
		t.Fatalf("second LoadNodeID = %q, %v; want %q", b, err, a)
	}
	if x, y := New(), New(); x == y || !Valid(x) {
		t.Errorf("New gave %q and %q", x, y)
	}
	if err := os.WriteFile(filepath.Join(dir, NodeIDFile), []byte("not-a-uuid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNodeID(dir); err == nil {
		t.Error("LoadNodeID accepted a node-id file that is not a UUID")
	}
}
