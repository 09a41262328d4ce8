package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/warden-ai/warden/internal/app"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/index"
)

func runIndex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "index", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"rebuild": runIndexRebuild,
	})
}

func runIndexRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("index rebuild", flag.ContinueOnError)
	data := fs.String("data", "./warden-data", "data directory (the server must be stopped)")
	cfgPath := fs.String("config", "", "configuration file (for each model's store_text policy)")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := requireDataDir(*data); err != nil {
		return err
	}
	cfg, err := config.LoadFile(*cfgPath)
	if err != nil {
		return usagef("%v", err)
	}
	log, err := audit.Open(audit.DefaultOptions(logDir(*data)))
	if err != nil {
		return fmt.Errorf("open audit log (is the server still running?): %w", err)
	}
	defer log.Close()
	st, err := app.OpenStore(ctx, cfg, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Reset(ctx); err != nil {
		return err
	}
	redact, err := app.NewRedactor()
	if err != nil {
		return err
	}
	w, err := index.New(ctx, index.Options{Log: log, Store: st, Redact: redact, Policy: app.PolicyFunc(cfg)})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := w.CatchUp(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "index rebuilt: %d entries in %s\n", w.Position(), time.Since(start).Round(time.Millisecond))
	return nil
}
