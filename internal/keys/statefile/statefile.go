// Package statefile keeps a small JSON state file that several processes share: writers take an
// exclusive advisory lock (flock on a sibling ".lock" file), read the current contents, write the
// new contents to a temporary file, fsync it and rename it over the old one, so readers never see
// a torn file. Readers detect changes cheaply by comparing a [Stamp] (inode, size, mtime) taken
// with one stat call, which is how a running server notices a change made by the CLI.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Stamp identifies one version of the file. The rename in [Update] always changes the inode, so
// two different versions never share a stamp even within one mtime tick.
type Stamp struct {
	Ino   uint64
	Size  int64
	MTime time.Time
	Exist bool
}

// Stat returns the current stamp of path; a missing file has the zero stamp.
func Stat(path string) (Stamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Stamp{}, nil
	}
	if err != nil {
		return Stamp{}, fmt.Errorf("stat %s: %w", filepath.Base(path), err)
	}
	st := Stamp{Size: fi.Size(), MTime: fi.ModTime(), Exist: true}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Ino = sys.Ino
	}
	return st, nil
}

// Read returns the contents of path and their stamp; a missing file reads as empty.
func Read(path string) ([]byte, Stamp, error) {
	st, err := Stat(path)
	if err != nil {
		return nil, Stamp{}, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Stamp{}, nil
	}
	if err != nil {
		return nil, Stamp{}, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return data, st, nil
}

// Update applies fn to the current contents under an exclusive lock shared by every process
// and atomically replaces the file with fn's result (mode 0600). When fn returns an error the
// file is left untouched and the error is returned as is.
func Update(path string, fn func(old []byte) ([]byte, error)) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open lock: %w", err)
	}
	defer lock.Close()
	if err := flock(lock); err != nil {
		return fmt.Errorf("lock %s: %w", filepath.Base(path), err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	data, err := fn(old)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write temp file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync temp file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", filepath.Base(path), err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// UpdateJSON is Update for a JSON document: the current contents are decoded into a copy of
// empty (which is also the document of a missing or empty file), fn changes it, and the result is
// written indented. A document that does not decode is an error and the file is left untouched.
func UpdateJSON[T any](path string, empty T, fn func(*T) error) error {
	return Update(path, func(old []byte) ([]byte, error) {
		doc := empty
		if len(old) > 0 {
			if err := json.Unmarshal(old, &doc); err != nil {
				return nil, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
			}
		}
		if err := fn(&doc); err != nil {
			return nil, err
		}
		return json.MarshalIndent(doc, "", "  ")
	})
}
