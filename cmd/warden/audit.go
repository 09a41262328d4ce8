package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "audit", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"verify": runAuditVerify,
	})
}

func logDir(data string) string { return filepath.Join(data, "log") }

func requireDataDir(data string) error {
	if data == "" {
		return usagef("-data is required")
	}
	if _, err := os.Stat(logDir(data)); err != nil {
		return usagef("no audit log in %s (is -data the server's data directory?)", data)
	}
	return nil
}

func runAuditVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	data := fs.String("data", "./warden-data", "data directory")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := requireDataDir(*data); err != nil {
		return err
	}
	start := time.Now()
	sum, err := audit.Verify(logDir(*data))
	if err != nil {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			return &checkFailed{fmt.Errorf("first bad entry: %d (%s): %s", ve.Index, ve.File, ve.Reason)}
		}
		return &checkFailed{err}
	}
	fmt.Fprintf(stdout, "audit log intact\n  entries:     %d\n  tree size:   %d\n  root hash:   %s\n  checkpoints: %d\n  blobs:       %d checked, %d segments pruned\n  public key:  %s\n  took:        %s\n",
		sum.Entries, sum.TreeSize, hex.EncodeToString(sum.RootHash), sum.Checkpoints, sum.Blobs, sum.PrunedBlobSegments, sum.PublicKey, time.Since(start).Round(time.Millisecond))
	return nil
}

func runEvidence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "evidence", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"export": runEvidenceExport,
		"verify": runEvidenceVerify,
	})
}

func runEvidenceExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evidence export", flag.ContinueOnError)
	data := fs.String("data", "./warden-data", "data directory")
	out := fs.String("out", "", "package file to write (required)")
	from := fs.String("from", "", "first event time (RFC 3339), inclusive")
	to := fs.String("to", "", "last event time (RFC 3339), exclusive")
	model := fs.String("model", "", "only events of this model")
	var ids listFlag
	fs.Var(&ids, "ids", "only these event ids (comma-separated)")
	noText := fs.Bool("no-text", false, "leave the stored text blobs out of the package")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" {
		return usagef("-out is required")
	}
	if err := requireDataDir(*data); err != nil {
		return err
	}
	var fromT, toT time.Time
	var err error
	if *from != "" {
		if fromT, err = time.Parse(time.RFC3339Nano, *from); err != nil {
			return usagef("-from: not RFC 3339: %q", *from)
		}
	}
	if *to != "" {
		if toT, err = time.Parse(time.RFC3339Nano, *to); err != nil {
			return usagef("-to: not RFC 3339: %q", *to)
		}
	}
	opts := audit.ExportOptions{IDs: ids, Blobs: !*noText}
	if *from != "" || *to != "" || *model != "" || len(ids) == 0 {
		opts.Select = func(_ uint64, leaf []byte) bool {
			if len(ids) > 0 && *from == "" && *to == "" && *model == "" {
				return false
			}
			ev, err := event.ParseLeaf(leaf)
			if err != nil {
				return false
			}
			if !fromT.IsZero() && ev.Time.Before(fromT) {
				return false
			}
			if !toT.IsZero() && !ev.Time.Before(toT) {
				return false
			}
			return *model == "" || ev.Model.Name == *model
		}
	}
	tmp := *out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return usagef("-out: %v", err)
	}
	sum, err := audit.ExportEvidence(logDir(*data), f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export evidence: %w", err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d events, %d text blobs, proofs against tree size %d (first checkpoint %d), %d bytes\n",
		*out, sum.Entries, sum.Blobs, sum.TreeSize, sum.FirstCheckpoint, sum.Bytes)
	return nil
}

func runEvidenceVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evidence verify", flag.ContinueOnError)
	key := fs.String("key", "", "pinned public key: the verifier key string, or a file holding it")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: warden evidence verify FILE [--key KEY]")
	}
	pinned := *key
	if pinned != "" && !strings.Contains(pinned, "+") {
		b, err := os.ReadFile(pinned)
		if err != nil {
			return usagef("-key: neither a verifier key nor a readable file: %v", err)
		}
		pinned = strings.TrimSpace(string(b))
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	sum, err := audit.VerifyEvidence(f, st.Size(), pinned)
	if err != nil {
		return &checkFailed{err}
	}
	fmt.Fprintf(stdout, "evidence package intact\n  origin:    %s\n  key:       %s\n  tree size: %d\n  root hash: %s\n  events:    %d (each with a verified inclusion proof)\n",
		sum.Origin, sum.PublicKey, sum.TreeSize, hex.EncodeToString(sum.RootHash), len(sum.Entries))
	return nil
}
