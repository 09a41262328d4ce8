package main

import (
	"context"
	"io"

	"github.com/warden-ai/warden/internal/scan"
)

func evaluate(ctx context.Context, d *datasets, w io.Writer, bits int) error {
	_ = scan.DefaultOptions()
	return nil
}
