package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// wardenEntries are names only Warden creates in its data directory.
var wardenEntries = []string{"credentials", "log", "state", "keys", "users"}

// checkDataDirOwned refuses a data directory that exists, is not empty and holds nothing of
// Warden's: making it private (chmod 0700) would lock other users out of a shared directory
// such as a home or /tmp given to --data by mistake.
func checkDataDirOwned(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(ents) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read data directory: %w", err)
	}
	for _, name := range wardenEntries {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("data directory %s is not empty and holds no Warden data; refusing to make it private (0700): pass a new or empty directory to --data", dir)
}
