package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
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
	if err != nil && cfg.Store.Driver == "sqlite" {
		// A file SQLite cannot open (corrupt, truncated, not a database) is moved aside, never
		// deleted, and a new index is built from the audit log.
		aside, merr := moveIndexAside(app.SQLiteIndexPath(*data), time.Now())
		if merr != nil {
			return fmt.Errorf("%w (and moving it aside failed: %w)", err, merr)
		}
		fmt.Fprintf(stderr, "the index store could not be opened (%v): moved it aside to %s; building a new one from the audit log\n", err, aside)
		st, err = app.OpenStore(ctx, cfg, *data)
	}
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

// moveIndexAside renames an SQLite index file and its -wal and -shm companions to
// <name>.corrupt-<unix seconds> and returns the new name of the main file.
func moveIndexAside(path string, now time.Time) (string, error) {
	suffix := ".corrupt-" + strconv.FormatInt(now.Unix(), 10)
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+ext, path+suffix+ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	if err := os.Rename(path, path+suffix); err != nil {
		return "", err
	}
	return path + suffix, nil
}
