package report

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrUsage marks command-line mistakes (exit code 2).
var ErrUsage = errors.New("usage")

// RunCLI runs `warden report --kind daily|weekly|monthly|quarterly [--from T --to T]
// [--format json|html] [--out FILE]`. Without --from/--to it reports the last complete period
// (UTC); the format defaults to the --out extension (.html → HTML), else JSON.
func RunCLI(ctx context.Context, args []string, src Source, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kind := fs.String("kind", "", "daily, weekly, monthly or quarterly")
	fromS := fs.String("from", "", "period start (RFC 3339)")
	toS := fs.String("to", "", "period end (RFC 3339)")
	format := fs.String("format", "", "json or html")
	out := fs.String("out", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: report: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: report: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	k, err := ParseKind(*kind)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	from, to := Period(k, time.Now(), time.UTC)
	if (*fromS == "") != (*toS == "") {
		return fmt.Errorf("%w: report: give both --from and --to, or neither", ErrUsage)
	}
	if *fromS != "" {
		if from, err = time.Parse(time.RFC3339, *fromS); err != nil {
			return fmt.Errorf("%w: report: --from: want RFC 3339", ErrUsage)
		}
		if to, err = time.Parse(time.RFC3339, *toS); err != nil {
			return fmt.Errorf("%w: report: --to: want RFC 3339", ErrUsage)
		}
	}
	f := *format
	if f == "" {
		f = "json"
		if ext := strings.ToLower(filepath.Ext(*out)); ext == ".html" || ext == ".htm" {
			f = "html"
		}
	}
	if f != "json" && f != "html" {
		return fmt.Errorf("%w: report: --format must be json or html", ErrUsage)
	}
	r, err := Generate(ctx, k, from, to, src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if f == "html" {
		err = r.WriteHTML(&buf)
	} else {
		err = r.WriteJSON(&buf)
	}
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
