package command

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
	"github.com/beaconmesh/beacon/services/catalog/state"
)

type snapshotSaveCommand struct{ clientCommand }

func newSnapshotSave(m *Meta) *snapshotSaveCommand {
	c := &snapshotSaveCommand{}
	c.init(m, "snapshot save", `
Usage: beacon snapshot save [options] FILE

  Saves a point-in-time snapshot of the servers' state (catalog, KV,
  sessions) to FILE, after checking that it reads back whole.

      $ beacon snapshot save backup.snap`, true)
	return c
}

func (c *snapshotSaveCommand) Synopsis() string { return "Saves snapshot of Beacon server state" }

func (c *snapshotSaveCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	switch n := c.fs.NArg(); {
	case n == 0:
		return c.fail("Missing FILE argument")
	case n > 1:
		return c.fail("Too many arguments (expected 1, got %d)", n)
	}
	file := c.fs.Arg(0)
	cl, ok := c.client()
	if !ok {
		return 1
	}
	resp, err := cl.Do(c.ctx(), http.MethodGet, "/v1/snapshot", c.http.query(), nil)
	if err != nil {
		return c.fail("Error saving snapshot: %v", err)
	}
	defer resp.Body.Close()
	index := httpclient.ParseMeta(resp.Header).LastIndex

	// Write aside first, so that a failed or corrupt transfer never
	// replaces a good file of the same name.
	unverified := file + ".unverified"
	if err := writeFile(unverified, resp.Body); err != nil {
		os.Remove(unverified)
		return c.fail("Error writing unverified snapshot file: %v", err)
	}
	defer os.Remove(unverified)
	if err := verifySnapshot(unverified); err != nil {
		return c.fail("Error verifying snapshot file: %v", err)
	}
	if err := os.Rename(unverified, file); err != nil {
		return c.fail("Error renaming %q to %q: %v", unverified, file, err)
	}
	c.UI.Output(fmt.Sprintf("Saved and verified snapshot to index %d", index))
	return 0
}

// writeFile copies r to a new file at path (mode 0600: a snapshot holds
// every KV value) and syncs it.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// verifySnapshot decodes the whole archive as a server restoring it would.
func verifySnapshot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = state.Restore(f)
	return err
}

type snapshotRestoreCommand struct{ clientCommand }

func newSnapshotRestore(m *Meta) *snapshotRestoreCommand {
	c := &snapshotRestoreCommand{}
	c.init(m, "snapshot restore", `
Usage: beacon snapshot restore [options] FILE

  Replaces the servers' state with a snapshot made by "beacon snapshot
  save". Everything written since the snapshot is lost.

      $ beacon snapshot restore backup.snap`, true)
	return c
}

func (c *snapshotRestoreCommand) Synopsis() string { return "Restores snapshot of Beacon server state" }

func (c *snapshotRestoreCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	switch n := c.fs.NArg(); {
	case n == 0:
		return c.fail("Missing FILE argument")
	case n > 1:
		return c.fail("Too many arguments (expected 1, got %d)", n)
	}
	f, err := os.Open(c.fs.Arg(0))
	if err != nil {
		return c.fail("Error opening snapshot file: %v", err)
	}
	defer f.Close()
	cl, ok := c.client()
	if !ok {
		return 1
	}
	q := c.http.query()
	q.Del("stale")
	if err := cl.Put(c.ctx(), "/v1/snapshot", q, f, nil); err != nil {
		return c.fail("Error restoring snapshot: %v", err)
	}
	c.UI.Output("Restored snapshot")
	return 0
}
