// Command scantrain trains Warden's learned content scanners from the public
// data sets in ../shared/datasets and evaluates every scanner, printing the
// Markdown tables of docs/DETECTION.md.
//
//	go run ./cmd/scantrain -data ../shared/datasets -out internal/scan/weights   # train
//	go run ./cmd/scantrain -data ../shared/datasets -eval                        # evaluate
//
// Training is deterministic (fixed seeds, fixed splits). Dataset text is read
// in memory only and never written.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/warden-ai/warden/internal/scan/linear"
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
	eval := fs.Bool("eval", false, "evaluate the embedded weights instead of training")
	bits := fs.Int("bits", 18, "hash bits of both models (equal sizes let the scanners share one lookup)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	d := &datasets{dir: *data}
	if *eval {
		return evaluate(ctx, d, os.Stdout, *bits)
	}
	inj, err := trainInjection(d, *bits, false)
	if err != nil {
		return err
	}
	harm, err := trainHarmful(d, *bits)
	if err != nil {
		return err
	}
	for name, m := range map[string]*linear.Model{"injection.wlm": inj, "harmful.wlm": harm} {
		p := filepath.Join(*out, name)
		if err := os.WriteFile(p, m.Marshal(), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		fmt.Printf("wrote %s (%d bytes)\n", p, len(m.Marshal()))
	}
	return nil
}
