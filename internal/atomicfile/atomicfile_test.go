package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestWriteReplacesPrivately(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, want := range []string{"first", "second, longer"} {
		if err := Write(path, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	noTemporaries(t, dir, 1)
}

// noTemporaries fails when dir holds anything but its n expected entries.
func noTemporaries(t *testing.T, dir string, n int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want %d entries (temporary file left behind?)", names, n)
	}
}

// Concurrent writers of one path each get a temporary file of their own: every write succeeds
// and the file ends whole, with one writer's contents.
func TestWriteConcurrentSamePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "case.json")
	contents := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		c := strings.Repeat(fmt.Sprint(i%10), 1000+i)
		contents[c] = true
		wg.Go(func() { errs <- Write(path, []byte(c)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || !contents[string(got)] {
		t.Fatalf("contents after concurrent writes: %d bytes (%v), not one writer's whole data", len(got), err)
	}
	noTemporaries(t, dir, 1)
}

func TestWriteFailureKeepsOldContents(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	// A directory where the file must go makes the rename fail after the temporary file was
	// written: what was there stays, and the temporary file is removed.
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "old"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new")); err == nil {
		t.Fatal("write over a directory succeeded")
	}
	if got, _ := os.ReadFile(filepath.Join(path, "old")); string(got) != "old" {
		t.Fatalf("contents %q after a failed write, want old", got)
	}
	noTemporaries(t, dir, 1)
}
