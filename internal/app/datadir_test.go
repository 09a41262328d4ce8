package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirShared reproduces the low finding of issue 12: --data pointing at a shared,
// non-empty directory chmodded it 0700. Now it is refused and its mode kept; new, empty and
// existing Warden directories are accepted.
func TestDataDirShared(t *testing.T) {
	shared := t.TempDir()
	os.Chmod(shared, 0o755) //nolint:gosec // the test needs a directory shared with others
	os.WriteFile(filepath.Join(shared, "notes.txt"), []byte("someone else's"), 0o644)
	err := ensurePrivateDir(shared)
	if err == nil || !strings.Contains(err.Error(), "holds no Warden data") {
		t.Fatalf("shared directory: %v", err)
	}
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o755 {
		t.Fatalf("shared directory mode changed to %v", fi.Mode().Perm())
	}
	warden := t.TempDir()
	os.Chmod(warden, 0o755) //nolint:gosec // the test needs a directory shared with others
	os.WriteFile(filepath.Join(warden, "credentials"), nil, 0o600)
	for _, dir := range []string{filepath.Join(t.TempDir(), "new"), t.TempDir(), warden} {
		if err := ensurePrivateDir(dir); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: mode %v", dir, fi.Mode().Perm())
		}
	}
}
