package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warden-ai/warden/internal/keys"
)

const keysUsage = `usage:
  warden keys create --data DIR --consumer NAME [--groups a,b] [--models m1,m2] [--rpm N] [--tpm N] [--expires DUR]
  warden keys list   --data DIR [--json]
  warden keys revoke --data DIR ID`

// RunKeys executes "warden keys <create|list|revoke> ...". create prints the new key alone on stdout.
func RunKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return Usagef("%s", keysUsage)
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(stderr, keysUsage)
		return ErrHelp
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return keysList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return keysRevoke(ctx, args[1:], stdout, stderr)
	}
	return Usagef("unknown keys command %q\n%s", args[0], keysUsage)
}

func keysFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("warden keys "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./warden-data", "data directory")
	return fs, data
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// keysCreate implements "warden keys create".
func keysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := keysFlagSet("create", stderr)
	consumer := fs.String("consumer", "", "consumer name (required)")
	groups := fs.String("groups", "", "comma-separated groups")
	models := fs.String("models", "", "comma-separated models the key may call (default: all its groups allow)")
	rpm := fs.Int("rpm", 0, "requests per minute (0 = unlimited)")
	tpm := fs.Int("tpm", 0, "tokens per minute (0 = unlimited)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (0 = never)")
	pos, err := Parse(fs, args, keysUsage, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return Usagef("unexpected argument %q", pos[0])
	}
	if *consumer == "" {
		return Usagef("--consumer is required")
	}
	if *rpm < 0 || *tpm < 0 || *expires < 0 {
		return Usagef("--rpm, --tpm and --expires must not be negative")
	}
	st, err := keys.Open(keys.Options{Dir: filepath.Join(*data, "keys")})
	if err != nil {
		return err
	}
	secret, k, err := st.Create(ctx, keys.Spec{Consumer: *consumer, Groups: splitList(*groups), Models: splitList(*models), RPM: *rpm, TPM: *tpm, TTL: *expires})
	if errors.Is(err, keys.ErrInvalid) {
		return Usagef("%v", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created %s for consumer %s\n", k.ID, k.Consumer)
	return nil
}

// keysList implements "warden keys list".
func keysList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := keysFlagSet("list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := Parse(fs, args, keysUsage, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return Usagef("unexpected argument %q", pos[0])
	}
	st, err := keys.Open(keys.Options{Dir: filepath.Join(*data, "keys")})
	if err != nil {
		return err
	}
	ks, err := st.List()
	if err != nil {
		return err
	}
	if *asJSON {
		views := make([]keys.View, len(ks))
		for i := range ks {
			views[i] = keys.ViewOf(&ks[i], time.Now())
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONSUMER\tGROUPS\tMODELS\tRPM\tTPM\tEXPIRES\tSTATUS")
	for _, k := range ks {
		exp := "never"
		if !k.ExpiresAt.IsZero() {
			exp = k.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", k.ID, k.Consumer, dash(strings.Join(k.Groups, ",")), dash(strings.Join(k.Models, ",")), k.RPM, k.TPM, exp, k.Status(time.Now()))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keysRevoke implements "warden keys revoke ID".
func keysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := keysFlagSet("revoke", stderr)
	pos, err := Parse(fs, args, keysUsage, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return Usagef("revoke takes exactly one key id\n%s", keysUsage)
	}
	st, err := keys.Open(keys.Options{Dir: filepath.Join(*data, "keys")})
	if err != nil {
		return err
	}
	k, err := st.Revoke(ctx, pos[0])
	if errors.Is(err, keys.ErrNotFound) {
		return Usagef("%v", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (consumer %s)\n", k.ID, k.Consumer)
	return nil
}
