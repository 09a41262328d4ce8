package main

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/scan"
)

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	in := fs.String("in", "", "input file (JSON Lines or plain lines); default stdin")
	out := fs.String("out", "", "output file (JSON Lines); default stdout")
	tier := fs.String("tier", "high", "risk tier whose default policy decides the verdict (critical|high|medium|low)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "parallel scanners")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *workers < 1 {
		return usagef("-workers must be ≥ 1")
	}
	if !config.RiskTier(*tier).Valid() {
		return usagef("-tier: %q is not one of critical, high, medium, low", *tier)
	}
	var r io.Reader = os.Stdin
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			return usagef("-in: %v", err)
		}
		defer f.Close()
		r = f
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return usagef("-out: %v", err)
		}
		defer f.Close()
		w = f
	}
	eng, err := scan.New(scan.DefaultOptions())
	if err != nil {
		return err
	}
	if err := scan.Batch(ctx, r, w, eng, scan.DefaultPolicy(*tier), *workers); err != nil {
		return usagef("%v", err)
	}
	return nil
}
