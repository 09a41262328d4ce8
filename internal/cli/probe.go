package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warden-ai/warden/internal/probe"
)

// ProbesFailed is returned by `warden probe run` when at least one probe failed (exit 1).
type ProbesFailed struct{ Failed, Total int }

func (e *ProbesFailed) Error() string {
	return fmt.Sprintf("%d of %d probes failed", e.Failed, e.Total)
}

// RunProbe runs `warden probe <args>` against a running server:
//
//	run --model M [--pack P[,P]] [--json]
//	packs [--json]
func RunProbe(ctx context.Context, args []string, c *Client, stdout io.Writer) error {
	const usage = "usage: warden probe run --model M [--pack P] | packs | import ..."
	if len(args) == 0 {
		return &UsageError{Msg: usage}
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(stdout, usage+"\n\nRun 'warden probe <subcommand> -h' for its flags.")
		return ErrHelp
	}
	switch args[0] {
	case "run":
		return probeRun(ctx, args[1:], c, stdout)
	case "packs":
		return probePacks(ctx, args[1:], c, stdout)
	}
	return &UsageError{Msg: fmt.Sprintf("unknown probe command %q (want run, packs or import)", args[0])}
}

func probeRun(ctx context.Context, args []string, c *Client, w io.Writer) error {
	fs := alertsFlags("probe run")
	model := fs.String("model", "", "model to probe (required)")
	var packs listFlag
	fs.Var(&packs, "pack", "probe pack(s) to run, comma-separated (default: the model's configured packs, else all)")
	asJSON := fs.Bool("json", false, "print the run report as JSON")
	if err := alertsParse(fs, args, w); err != nil {
		return err
	}
	if *model == "" {
		return &UsageError{Msg: "probe run: -model is required"}
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("probe run: unexpected argument %q", fs.Arg(0))}
	}
	cc := *c
	cc.HTTP = &http.Client{Timeout: 12 * time.Minute} // a run may take minutes
	var rep probe.Report
	body := map[string]any{}
	if len(packs) > 0 {
		body["packs"] = []string(packs)
	}
	if err := cc.Do(ctx, http.MethodPost, "/v1/models/"+url.PathEscape(*model)+"/probes/run", body, &rep); err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(w).Encode(rep); err != nil {
			return err
		}
	} else if err := printProbeReport(w, &rep); err != nil {
		return err
	}
	if n := rep.Counts[probe.Failed]; n > 0 {
		return &ProbesFailed{Failed: n, Total: len(rep.Results)}
	}
	return nil
}

func printProbeReport(w io.Writer, rep *probe.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACK\tPROBE\tFAMILY\tRESULT\tEVIDENCE")
	for _, r := range rep.Results {
		ev := r.Evidence
		if len(ev) > 100 {
			ev = ev[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Pack, r.Probe, r.Family, strings.ToUpper(string(r.Result)), ev)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nrun %s on %s: %d resisted, %d failed, %d errors, %d skipped; %d requests, %d tokens, %.4f USD\n",
		rep.RunID, rep.Model, rep.Counts[probe.Resisted], rep.Counts[probe.Failed], rep.Counts[probe.Error], rep.Counts[probe.Skipped],
		rep.Requests, rep.Tokens, rep.SpendUSD)
	if rep.Stopped != "" {
		fmt.Fprintf(w, "run stopped early: %s\n", rep.Stopped)
	}
	return nil
}

func probePacks(ctx context.Context, args []string, c *Client, w io.Writer) error {
	fs := alertsFlags("probe packs")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := alertsParse(fs, args, w); err != nil {
		return err
	}
	var out struct {
		Packs []struct {
			Pack        string         `json:"pack"`
			Description string         `json:"description"`
			Source      string         `json:"source"`
			Probes      int            `json:"probes"`
			Families    map[string]int `json:"families"`
		} `json:"packs"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/probes/packs", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(w).Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACK\tPROBES\tSOURCE\tDESCRIPTION")
	for _, p := range out.Packs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Pack, p.Probes, p.Source, p.Description)
	}
	return tw.Flush()
}

// RunProbeImport runs `warden probe import --format garak|promptfoo --in FILE [--out FILE]
// [--pack NAME] [--family F]`: it converts a garak payload list or a promptfoo red-team test
// file into a Warden probe pack (YAML) offline.
func RunProbeImport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe import", flag.ContinueOnError)
	format := fs.String("format", "", "garak (payload list JSON) or promptfoo (red-team YAML/JSON test file)")
	in := fs.String("in", "", "file to import (required)")
	out := fs.String("out", "", "pack file to write (default: stdout)")
	name := fs.String("pack", "", "pack name (default: from the input file name)")
	family := fs.String("family", "", "family for every probe (garak; default from the payload types)")
	if _, err := Parse(fs, args, "", stderr); err != nil {
		return err
	}
	if *in == "" || (*format != "garak" && *format != "promptfoo") {
		return Usagef("probe import: -in FILE and -format garak|promptfoo are required")
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return Usagef("probe import: %v", err)
	}
	opts := probe.ImportOptions{Pack: *name, Family: *family, File: *in}
	var p *probe.Pack
	if *format == "garak" {
		p, err = probe.ImportGarak(data, opts)
	} else {
		p, err = probe.ImportPromptfoo(data, opts)
	}
	if err != nil {
		return Usagef("probe import: %v", err)
	}
	b, err := probe.Marshal(p)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil { //nolint:gosec // a pack is configuration, not a secret
		return err
	}
	fmt.Fprintf(stderr, "wrote %d probes to %s\n", len(p.Probes), *out)
	return nil
}

// listFlag is a comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
