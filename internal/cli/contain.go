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
	data := fs.String("data", "./warden-data", "data directory")
	by := fs.String("by", defaultBy(), "who takes the action (recorded in the audit event)")
	reason := fs.String("reason", "", "why (recorded in the audit event)")
	parseArgs := func(want int, what string) (string, error) {
		pos, err := Parse(fs, args, containUsage, stderr)
		if err != nil {
			return "", err
		}
		if len(pos) != want {
			return "", Usagef("%s takes %s\n%s", cmd, what, containUsage)
		}
		if want == 0 {
			return "", nil
		}
		return pos[0], nil
	}
	open := func() (*contain.Store, error) {
		return contain.Open(contain.Options{Dir: filepath.Join(*data, "contain")})
	}
	switch cmd {
	case "list":
		all := fs.Bool("all", false, "include lifted and expired actions")
		asJSON := fs.Bool("json", false, "print JSON")
		if _, err := parseArgs(0, "no arguments"); err != nil {
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
		id, err := parseArgs(1, "exactly one containment id")
		if err != nil {
			return err
		}
		s, err := open()
		if err != nil {
			return err
		}
		a, err := s.Lift(ctx, id, *by, *reason)
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
	target, err := parseArgs(1, "exactly one target")
	if err != nil {
		return err
	}
	s, err := open()
	if err != nil {
		return err
	}
	a, err := s.Apply(ctx, contain.Action{Kind: kind, Target: target, TTL: *ttl, RPM: *rpm, Reason: *reason, By: *by})
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
