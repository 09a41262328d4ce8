package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// version and commit are set at link time (-ldflags "-X main.version=...").
var version, commit = "dev", ""

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(stdout, "warden %s (commit %s)\n", version, c)
	return nil
}
