package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/warden-ai/warden/internal/cli"
)

// parseFlags parses args with fs (see cli.Parse): flag errors are usage errors, -h prints every
// flag to stderr and returns cli.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	return cli.Parse(fs, args, "", stderr)
}

// listFlag is a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	if len(*l) == 0 {
		return fmt.Errorf("empty list")
	}
	return nil
}
