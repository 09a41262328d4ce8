// Command scantrain trains Warden's learned content scanners from the public
// data sets in ../shared/datasets and evaluates every scanner, printing the
// Markdown tables of docs/DETECTION.md.
//
//	go run ./cmd/scantrain -data ../shared/datasets -out internal/scan/weights   # train
//	go run ./cmd/scantrain -data ../shared/datasets -eval                        # evaluate
//	go run ./cmd/scantrain -data ../shared/datasets -eval -write -cache DIR      # both: the shipped weights
//	go run ./cmd/scantrain -data ../shared/datasets -stage2-only -cache DIR      # second stage alone (fast loop)
//
// Both modes run the same leave-one-source-out pipeline: one model per
// trainable source (trained without it) plus one on everything; held-out
// scores calibrate the heads (Platt) and choose the per-category thresholds.
// A second stage (a small network over structural features and the first
// stage's scores, see stage2.go) is trained and calibrated the same way on
// the first stage's held-out outputs. Training writes the models trained
// on everything and the calibration;
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
	write := fs.Bool("write", false, "with -eval: also write the weights and calibration to -out")
	cache := fs.String("cache", "", "directory caching trained fold models between runs (keyed by a fingerprint of data and options)")
	rulesOnly := fs.Bool("eval-rules", false, "print only the PII, secret, refusal and self-harm-output tables (no training)")
	stage2Only := fs.Bool("stage2-only", false, "print only the second stage's leave-one-source-out table and feature weights (fast with -cache)")
	harmOnly := fs.Bool("harm2-only", false, "print only the harm second stage's leave-one-source-out estimate and feature weights (fast with -cache)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *bits < 12 || *bits > 22 {
		return usageError{fmt.Sprintf("-bits %d out of range 12..22", *bits)}
	}
	d := &datasets{dir: *data}
	if *rulesOnly {
		e, err := scan.New(scan.DefaultOptions())
		if err != nil {
			return err
		}
		return evalRules(ctx, d, e)
	}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f, a...) }
	p, err := newPipeline(d, *bits, logf)
	if err != nil {
		return err
	}
	p.cache = *cache
	if *stage2Only {
		p.stage2Report = os.Stdout
	}
	if *harmOnly {
		p.harmReport = os.Stdout
	}
	res, err := p.run(ctx)
	if errors.Is(err, errStage2Only) {
		return nil
	}
	if err != nil {
		return err
	}
	if *eval {
		res.report(os.Stdout)
		if *write {
			if err := writeWeights(res, *out); err != nil {
				return err
			}
		}
		e, err := scan.New(scan.DefaultOptions())
		if err != nil {
			return err
		}
		return evalRules(ctx, d, e)
	}
	return writeWeights(res, *out)
}

// writeWeights writes the model trained on every source, with the Platt
// maps folded in, and the calibrated thresholds.
func writeWeights(res *result, dir string) error {
	inj, harm := split(res.final, res.cal)
	cal, err := json.MarshalIndent(res.thresholds(nil), "", "  ")
	if err != nil {
		return err
	}
	st, err := res.st.models[nil].Marshal()
	if err != nil {
		return err
	}
	hs, err := res.hs.models[nil].Marshal()
	if err != nil {
		return err
	}
	for _, name := range []string{"injection.wlm", "harmful.wlm", "calibration.json", "structure.json", "harmreq.json"} {
		b := map[string][]byte{"injection.wlm": inj, "harmful.wlm": harm, "calibration.json": append(cal, '\n'), "structure.json": append(st, '\n'),
			"harmreq.json": append(hs, '\n')}[name]
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil { //nolint:gosec // model weights are public files committed to the repository
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%d bytes)\n", path, len(b))
	}
	return nil
}

// evalRules prints the PII, secret and refusal tables of the rule-based
// scanners (they are not trained, so they need no held-out fold).
func evalRules(ctx context.Context, d *datasets, e *scan.Engine) error {
	if err := evalPII(ctx, d, e, os.Stdout); err != nil {
		return err
	}
	if err := evalSecrets(ctx, d, e, os.Stdout); err != nil {
		return err
	}
	if err := evalRefusal(ctx, d, e, os.Stdout); err != nil {
		return err
	}
	return evalSelfHarm(ctx, d, e, os.Stdout)
}
