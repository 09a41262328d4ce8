package cli

import (
	"bufio"
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

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/users"
)

const usersUsage = `usage:
  warden users create  NAME --role viewer|analyst|auditor|admin [--password-stdin] [--data DIR]
  warden users token   NAME [--data DIR]
  warden users list    [--json] [--data DIR]
  warden users disable NAME [--data DIR]

create prints the generated password on its last line (unless --password-stdin);
token prints a new personal API token with that person's role, alone on stdout.
These work on the data directory whether or not the server runs.`

// RunUsers executes "warden users <create|token|list|disable> ...".
func RunUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return Usagef("%s", usersUsage)
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(stderr, usersUsage)
		return ErrHelp
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("warden users "+sub, flag.ContinueOnError)
	data := fs.String("data", "./warden-data", "data directory")
	var role *string
	var pwStdin, asJSON *bool
	switch sub {
	case "create":
		role = fs.String("role", "", "viewer, analyst, auditor or admin (required)")
		pwStdin = fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of generating one")
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "token", "disable":
	default:
		return Usagef("unknown users command %q\n%s", sub, usersUsage)
	}
	pos, err := Parse(fs, rest, usersUsage, stderr)
	if err != nil {
		return err
	}
	wantArgs := 1
	if sub == "list" {
		wantArgs = 0
	}
	if len(pos) != wantArgs {
		return Usagef("users %s takes %d argument(s), got %d\n%s", sub, wantArgs, len(pos), usersUsage)
	}
	st, err := users.Open(users.Options{Dir: filepath.Join(*data, "users")})
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return usersCreate(ctx, st, pos[0], *role, *pwStdin, stdin, stdout)
	case "token":
		tok, t, err := st.IssueToken(ctx, pos[0])
		if errors.Is(err, users.ErrNotFound) || errors.Is(err, users.ErrDisabled) {
			return Usagef("%v", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		fmt.Fprintf(stderr, "issued token %s for %s\n", t.ID, pos[0])
		return nil
	case "disable":
		u, err := st.Disable(ctx, pos[0])
		if errors.Is(err, users.ErrNotFound) {
			return Usagef("%v", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s (%s); their password, tokens and sessions no longer work\n", u.Name, u.Role)
		return nil
	}
	return usersList(st, *asJSON, stdout)
}

func usersCreate(ctx context.Context, st *users.Store, name, role string, pwStdin bool, stdin io.Reader, stdout io.Writer) error {
	if role == "" {
		return Usagef("--role is required (viewer, analyst, auditor or admin)")
	}
	r, err := access.ParseRole(role)
	if err != nil {
		return Usagef("--role: %v", err)
	}
	var pw string
	if pwStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	} else if pw, err = users.GeneratePassword(); err != nil {
		return err
	}
	u, err := st.Create(ctx, name, r, pw)
	if errors.Is(err, users.ErrInvalid) || errors.Is(err, users.ErrExists) {
		return Usagef("%v", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s with role %s\n", u.Name, u.Role)
	if !pwStdin {
		fmt.Fprintln(stdout, pw)
	}
	return nil
}

type userView struct {
	Name       string      `json:"name"`
	Role       access.Role `json:"role"`
	Tokens     int         `json:"tokens"`
	CreatedAt  time.Time   `json:"created_at"`
	DisabledAt time.Time   `json:"disabled_at,omitzero"`
	Status     string      `json:"status"`
}

func usersList(st *users.Store, asJSON bool, stdout io.Writer) error {
	var vs []userView
	for _, u := range st.List() {
		status := "active"
		if u.Disabled() {
			status = "disabled"
		}
		vs = append(vs, userView{u.Name, u.Role, len(u.Tokens), u.CreatedAt, u.DisabledAt, status})
	}
	if asJSON {
		if vs == nil {
			vs = []userView{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(vs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tTOKENS\tCREATED\tSTATUS")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", v.Name, v.Role, v.Tokens, v.CreatedAt.Format(time.RFC3339), v.Status)
	}
	return tw.Flush()
}
