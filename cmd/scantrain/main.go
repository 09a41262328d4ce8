// Command scantrain trains Warden's learned content scanners from the public
// data sets in ../shared/datasets and evaluates every scanner, printing the
// Markdown tables of docs/DETECTION.md.
//
//	go run ./cmd/scantrain -data ../shared/datasets -out internal/scan/weights   # train
//	go run ./cmd/scantrain -data ../shared/datasets -eval                        # evaluate
//
// Both modes run the same leave-one-source-out pipeline: one model per
// trainable source (trained without it) plus one on everything; held-out
// scores calibrate the heads (Platt) and choose the per-category thresholds.
// Training writes the model trained on everything and the calibration;
// -eval prints the per-source tables instead. Training is deterministic
// (fixed seeds, hash-based subsampling). Dataset text is read in memory only
// and never written.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/warden-ai/warden/internal/scan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scantrain:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scantrain", flag.ContinueOnError)
	data := fs.String("data", "../shared/datasets", "dataset directory")
	out := fs.String("out", "internal/scan/weights", "directory for weight files")
	eval := fs.Bool("eval", false, "print the leave-one-source-out evaluation instead of writing weights")
	bits := fs.Int("bits", 18, "hash bits of the models")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *bits < 12 || *bits > 22 {
		return usageError{fmt.Sprintf("-bits %d out of range 12..22", *bits)}
	}
	d := &datasets{dir: *data}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f, a...) }
	p, err := newPipeline(d, *bits, logf)
	if err != nil {
		return err
	}
	res, err := p.run(ctx)
	if err != nil {
		return err
	}
	if *eval {
		res.report(os.Stdout)
		e, err := scan.New(scan.DefaultOptions())
		if err != nil {
			return err
		}
		if err := evalPII(ctx, d, e, os.Stdout); err != nil {
			return err
		}
		if err := evalSecrets(ctx, d, e, os.Stdout); err != nil {
			return err
		}
		return evalRefusal(ctx, d, e, os.Stdout)
	}
	inj, harm := split(res.final, res.cal)
	cal, err := json.MarshalIndent(res.thresholds(nil), "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"injection.wlm": inj, "harmful.wlm": harm, "calibration.json": append(cal, '\n')} {
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Printf("wrote %s (%d bytes)\n", path, len(b))
	}
	return nil
}
