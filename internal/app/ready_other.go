//go:build !linux

package app

import "errors"

// freeBytes is not implemented here; the disk check is skipped.
func freeBytes(string) (uint64, error) { return 0, errors.New("free space unknown on this platform") }
