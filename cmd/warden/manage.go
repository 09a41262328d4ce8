package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/cli"
	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/rules"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.RunKeys(ctx, args, stdout, stderr)
}

func runContain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.RunContain(ctx, args, stdout, stderr)
}

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "rules", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"check": runRulesCheck,
		"test":  runRulesTest,
		"kinds": runRulesKinds,
		"tune": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runAPICommand(ctx, "rules tune", args, stdout, stderr, cli.RunRulesTune)
		},
		"reload": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return runAPICommand(ctx, "rules reload", args, stdout, stderr, cli.RunRulesReload)
		},
	})
}

// runRulesKinds prints the detection contract: every kind a detector emits, with its statistics
// and values (what a rule selecting detections may read).
func runRulesKinds(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules kinds", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the registry as JSON")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: warden rules kinds [--json]")
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(detection.Schemas()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	for _, s := range detection.Schemas() {
		fmt.Fprintf(stdout, "%s\t(%s) %s\n", s.Kind, s.Emitter, s.Doc)
		fmt.Fprintf(stdout, "  statistic: %s; value in %s\n", strings.Join(s.Statistics, " | "), s.ValueUnit)
		for _, f := range s.Values {
			opt := ""
			if f.Optional {
				opt = " (optional)"
			}
			fmt.Fprintf(stdout, "  values.%s\t%s, %s%s: %s\n", f.Name, f.Type, f.Unit, opt, f.Doc)
		}
		switch {
		case s.Recovers:
			fmt.Fprintln(stdout, "  recovers: yes (its alerts auto-resolve)")
		case s.OneShot != "":
			fmt.Fprintf(stdout, "  recovers: no, one-shot: %s\n", s.OneShot)
		}
	}
	return nil
}

func runRulesCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules check", flag.ContinueOnError)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: warden rules check DIR")
	}
	if st, err := os.Stat(pos[0]); err != nil || !st.IsDir() {
		return usagef("%s is not a directory", pos[0])
	}
	if errs := rules.Check(pos[0]); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stdout, e)
		}
		return &checkFailed{fmt.Errorf("%d problem(s) in %s", len(errs), pos[0])}
	}
	fmt.Fprintf(stdout, "%s: rules valid (with the built-in pack)\n", pos[0])
	return nil
}

func runRulesTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	events := fs.String("events", "", "JSON Lines file of events (and detections) to replay (required)")
	noBuiltin := fs.Bool("no-builtin", false, "leave the built-in pack out")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 1 || *events == "" {
		return usagef("usage: warden rules test [DIR] --events FILE.jsonl")
	}
	dir := ""
	if len(pos) == 1 {
		dir = pos[0]
	}
	f, err := os.Open(*events)
	if err != nil {
		return usagef("-events: %v", err)
	}
	defer f.Close()
	if err := rules.RunTest(ctx, dir, !*noBuiltin, f, stdout); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// apiClient builds a client of the running server from flags, the environment or the data
// directory's credentials file.
type apiFlags struct{ url, token, data string }

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", envOr("WARDEN_URL", "http://127.0.0.1:7700"), "Warden API URL")
	fs.StringVar(&f.token, "token", "", "admin token (default: $WARDEN_ADMIN_TOKEN, else <data>/credentials)")
	fs.StringVar(&f.data, "data", "./warden-data", "data directory holding the credentials file")
}

func (f *apiFlags) client() (*cli.Client, error) {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("WARDEN_ADMIN_TOKEN")
	}
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(f.data, "credentials"))
		if err != nil {
			return nil, usagef("no admin token: pass -token, set WARDEN_ADMIN_TOKEN, or point -data at the server's data directory")
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "WARDEN_ADMIN_TOKEN="); ok {
				tok = strings.TrimSpace(v)
			}
		}
	}
	return &cli.Client{BaseURL: strings.TrimRight(f.url, "/"), Token: tok}, nil
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// splitAPIFlags separates the connection flags (-url, -token, -data) from a subcommand's own.
func splitAPIFlags(args []string) (api, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		name, _, hasVal := strings.Cut(name, "=")
		if strings.HasPrefix(a, "-") && (name == "url" || name == "token" || name == "data") {
			api = append(api, a)
			if !hasVal && i+1 < len(args) {
				api = append(api, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return api, rest
}

// runAPICommand parses the connection flags out of args and runs a package's CLI against the
// running server with the rest.
func runAPICommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer,
	run func(ctx context.Context, args []string, c *cli.Client, stdout io.Writer) error) error {
	apiArgs, rest := splitAPIFlags(args)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var af apiFlags
	af.register(fs)
	if _, err := parseFlags(fs, apiArgs, stderr); err != nil {
		return err
	}
	if slices.ContainsFunc(rest, cli.IsHelp) {
		// Help needs no server: the subcommand prints its flags, then the connection flags.
		err := run(ctx, rest, &cli.Client{}, stderr)
		if errors.Is(err, cli.ErrHelp) {
			cli.PrintHelp(stderr, fs, "\nconnection flags (every "+name+" subcommand):")
		}
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	return run(ctx, rest, c, stdout)
}

func runAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runAPICommand(ctx, "alerts", args, stdout, stderr, cli.RunAlerts)
}

func runBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "baseline", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"set": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("baseline set", flag.ContinueOnError)
			var af apiFlags
			af.register(fs)
			model := fs.String("model", "", "model name (required)")
			from := fs.String("from", "", "window start, RFC 3339 (required)")
			to := fs.String("to", "", "window end, RFC 3339 (required)")
			if _, err := parseFlags(fs, args, stderr); err != nil {
				return err
			}
			if *model == "" {
				return usagef("-model is required")
			}
			f, err1 := time.Parse(time.RFC3339Nano, *from)
			t, err2 := time.Parse(time.RFC3339Nano, *to)
			if err1 != nil || err2 != nil || !t.After(f) {
				return usagef("-from and -to must be RFC 3339 times with -to after -from")
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var out struct {
				ID string `json:"id"`
			}
			if err := c.Do(ctx, "POST", "/v1/models/"+*model+"/baseline", map[string]string{"from": *from, "to": *to}, &out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "baseline %s frozen for %s from %s to %s\n", out.ID, *model, *from, *to)
			return nil
		},
	})
}

func runIncidents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runAPICommand(ctx, "incidents", args, stdout, stderr, cli.RunIncidents)
}

// runReport fetches a report from the running server: warden report --kind weekly --out F.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var af apiFlags
	af.register(fs)
	kind := fs.String("kind", "", "daily, weekly, monthly or quarterly (required)")
	from := fs.String("from", "", "period start, RFC 3339 (default: the last complete period)")
	to := fs.String("to", "", "period end, RFC 3339")
	format := fs.String("format", "", "json or html (default from the -out extension, else json)")
	out := fs.String("out", "", "output file (default stdout)")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if _, err := report.ParseKind(*kind); err != nil {
		return usagef("-kind: must be daily, weekly, monthly or quarterly")
	}
	if (*from == "") != (*to == "") {
		return usagef("give both -from and -to, or neither")
	}
	f := *format
	if f == "" {
		f = "json"
		if ext := strings.ToLower(filepath.Ext(*out)); ext == ".html" || ext == ".htm" {
			f = "html"
		}
	}
	if f != "json" && f != "html" {
		return usagef("-format must be json or html")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	q := url.Values{"kind": {*kind}, "format": {f}}
	if *from != "" {
		q.Set("from", *from)
		q.Set("to", *to)
	}
	var body []byte
	if err := c.Do(ctx, "GET", "/v1/reports?"+q.Encode(), nil, &body); err != nil {
		return err
	}
	if *out == "" {
		_, err := stdout.Write(body)
		return err
	}
	if err := os.WriteFile(*out, body, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s report to %s (%d bytes)\n", *kind, *out, len(body))
	return nil
}

func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.RunUsers(ctx, args, os.Stdin, stdout, stderr)
}
