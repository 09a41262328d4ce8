package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/warden-ai/warden/internal/contain"
)

const containUsage = `usage:
  warden contain suspend-key    --data DIR [--ttl DUR] [--reason TEXT] [--by NAME] KEY_ID
  warden contain pause-model    --data DIR [--ttl DUR] [--reason TEXT] [--by NAME] MODEL
  warden contain rate-limit     --data DIR --rpm N [--ttl DUR] [--reason TEXT] [--by NAME] CONSUMER
  warden contain block-consumer --data DIR [--ttl DUR] [--reason TEXT] [--by NAME] CONSUMER
  warden contain list           --data DIR [--all] [--json]
  warden contain lift           --data DIR [--reason TEXT] [--by NAME] ID
A TTL of 0 keeps the action until it is lifted. The audit event of a CLI action is recorded by
the running server within a second.`

var containKinds = map[string]contain.Kind{"suspend-key": contain.SuspendKey, "pause-model": contain.PauseModel, "rate-limit": contain.RateLimit, "block-consumer": contain.BlockConsumer}

// RunContain executes "warden contain <command> ...".
func RunContain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return Usagef("%s", containUsage)
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(stderr, containUsage)
		return ErrHelp
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("warden contain "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", "./warden-data", "data directory")
	by := fs.String("by", defaultBy(), "who takes the action (recorded in the audit event)")
	reason := fs.String("reason", "", "why (recorded in the audit event)")
	parseArgs := func() error {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				PrintHelp(stderr, fs, containUsage)
				return ErrHelp
			}
			return Usagef("%v", err)
		}
		return nil
	}
	open := func() (*contain.Store, error) {
		return contain.Open(contain.Options{Dir: filepath.Join(*data, "contain")})
	}
	switch cmd {
	case "list":
		all := fs.Bool("all", false, "include lifted and expired actions")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseArgs(); err != nil {
			return err
		}
		s, err := open()
		if err != nil {
			return err
		}
		acts := s.List(*all)
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if acts == nil {
				acts = []contain.Action{}
			}
			return enc.Encode(acts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tTARGET\tRPM\tEXPIRES\tSTATE\tBY\tREASON")
		now := time.Now()
		for _, a := range acts {
			exp, state := "until lifted", "active"
			if !a.ExpiresAt.IsZero() {
				exp = a.ExpiresAt.Format(time.RFC3339)
			}
			switch {
			case !a.LiftedAt.IsZero():
				state = "lifted by " + a.LiftedBy
			case !a.Active(now):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Target, a.RPM, exp, state, a.By, a.Reason)
		}
		return tw.Flush()
	case "lift":
		if err := parseArgs(); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return Usagef("lift takes exactly one containment id\n%s", containUsage)
		}
		s, err := open()
		if err != nil {
			return err
		}
		a, err := s.Lift(ctx, fs.Arg(0), *by, *reason)
		if errors.Is(err, contain.ErrNotFound) {
			return Usagef("%v", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lifted %s (%s %s)\n", a.ID, a.Kind, a.Target)
		return nil
	}
	kind, ok := containKinds[cmd]
	if !ok {
		return Usagef("unknown contain command %q\n%s", cmd, containUsage)
	}
	ttl := fs.Duration("ttl", time.Hour, "how long the action lasts (0 = until lifted)")
	rpm := fs.Int("rpm", 0, "requests per minute (rate-limit only)")
	if err := parseArgs(); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return Usagef("%s takes exactly one target\n%s", cmd, containUsage)
	}
	s, err := open()
	if err != nil {
		return err
	}
	a, err := s.Apply(ctx, contain.Action{Kind: kind, Target: fs.Arg(0), TTL: *ttl, RPM: *rpm, Reason: *reason, By: *by})
	if errors.Is(err, contain.ErrInvalid) {
		return Usagef("%v", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, a.ID)
	return nil
}

func defaultBy() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}
