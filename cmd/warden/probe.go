package main

import (
	"context"
	"errors"
	"io"

	"github.com/warden-ai/warden/internal/cli"
)

// runProbe runs `warden probe run|packs` against a running server and `warden probe import`
// offline. A run with a failed probe exits 1.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "import" {
		return cli.RunProbeImport(args[1:], stdout, stderr)
	}
	err := runAPICommand(ctx, "probe", args, stdout, stderr, cli.RunProbe)
	var pf *cli.ProbesFailed
	if errors.As(err, &pf) {
		return &checkFailed{err}
	}
	return err
}
