// Command warden is the continuous security monitor for AI systems: one binary whose
// subcommands run the server, the demo, batch scans, audit verification and evidence export.
// main only parses flags and maps errors to exit codes (0 ok, 1 check failed, 2 usage/input).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/warden-ai/warden/internal/cli"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// usagef returns a cli.UsageError (bad flags or input: exit 2).
func usagef(format string, args ...any) error { return cli.Usagef(format, args...) }

// checkFailed means a verification or check did not hold: exit 1.
type checkFailed struct{ err error }

func (e *checkFailed) Error() string { return e.err.Error() }
func (e *checkFailed) Unwrap() error { return e.err }

func commands() map[string]command {
	return map[string]command{
		"serve":      {"run every component (API, ingest, gateway, analysis, alerts)", runServe},
		"demo":       {"serve with a simulated upstream model and synthetic traffic that includes attacks", runDemo},
		"scan":       {"batch content scan: JSON Lines in, JSON Lines out", runScan},
		"audit":      {"audit log: verify", runAudit},
		"evidence":   {"evidence packages: export, verify", runEvidence},
		"index":      {"index store: rebuild from the audit log", runIndex},
		"version":    {"print version and commit", runVersion},
		"keys":       {"virtual keys for the gateway: create, list, revoke", runKeys},
		"users":      {"people and roles of the console and API: create, token, list, disable", runUsers},
		"contain":    {"containment: suspend-key, pause-model, rate-limit, block-consumer, list, lift", runContain},
		"rules":      {"detection rules: check DIR, test DIR --events FILE, kinds, tune, reload (running server)", runRules},
		"alerts":     {"alerts and silences of a running server: list, ack, resolve, silence", runAlerts},
		"incidents":  {"incidents: list, show, open, phase, owner, note, serious, reported, export, art73", runIncidents},
		"report":     {"reports: --kind daily|weekly|monthly|quarterly --out FILE(.html|.json)", runReport},
		"baseline":   {"behavioural baselines: set --model M --from T --to T", runBaseline},
		"probe":      {"adversarial probes: run --model M [--pack P] (exit 1 when a probe failed), packs, import", runProbe},
		"subjects":   {"data subjects (GDPR) on a running server: export --user U, erase --user U", runSubjects},
		"aggregates": {"daily per-model aggregates kept for years: --from D --to D --model M [--json]", runAggregates},
		"witness":    {"transparency-log witness: serve --state DIR --log-key PUB (cosigns consistent checkpoints); keygen --state DIR", runWitness},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "warden: unknown command %q\n\n", args[0])
		printUsage(stderr, cmds)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var ue *cli.UsageError
	var cf *checkFailed
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cli.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "warden %s: %v\n", args[0], err)
		return 2
	case errors.As(err, &cf):
		fmt.Fprintf(stderr, "warden %s: FAILED: %v\n", args[0], cf.err)
		return 1
	default:
		fmt.Fprintf(stderr, "warden %s: %v\n", args[0], err)
		return 1
	}
}

func printUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: warden <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'warden <command> -h' for the flags of one command.")
}

// subcommand dispatches "warden X sub ..." to a map of handlers.
func subcommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer, subs map[string]func(context.Context, []string, io.Writer, io.Writer) error) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		keys := make([]string, 0, len(subs))
		for k := range subs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		usage := fmt.Sprintf("usage: warden %s <%s> [flags]", name, strings.Join(keys, "|"))
		if len(args) > 0 && cli.IsHelp(args[0]) {
			fmt.Fprintf(stderr, "%s\n\nRun 'warden %s <subcommand> -h' for its flags.\n", usage, name)
			return cli.ErrHelp
		}
		return usagef("%s", usage)
	}
	fn, ok := subs[args[0]]
	if !ok {
		return usagef("unknown subcommand %q", args[0])
	}
	return fn(ctx, args[1:], stdout, stderr)
}
