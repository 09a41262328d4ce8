// Package atomicfile replaces small files so that a reader or a crash sees either the old
// contents or the new ones, never a torn mix.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data (mode 0600): it writes a temporary file beside it, fsyncs it,
// renames it over path and fsyncs the directory so the rename itself survives a crash.
func Write(path string, data []byte) error {
	// A temporary file of its own (CreateTemp: mode 0600): two writers of the same path at once
	// (a case file refreshed by an erasure and by the incident manager) must not rename each
	// other's file away; the last rename wins and either content is whole.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
