package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
)

// runSubjects serves data-subject requests against the running server: export what is held
// about a user, or erase their text everywhere on disk.
func runSubjects(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := func(name string, fn func(ctx context.Context, c apiDoer, user, out string, stdout io.Writer) error) func(context.Context, []string, io.Writer, io.Writer) error {
		return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("subjects "+name, flag.ContinueOnError)
			var af apiFlags
			af.register(fs)
			user := fs.String("user", "", "the data subject: the events' actor.user (required)")
			out := fs.String("out", "", "export: write the JSON here instead of stdout")
			pos, err := parseFlags(fs, args, stderr)
			if err != nil {
				return err
			}
			if *user == "" || len(pos) > 0 {
				return usagef("usage: warden subjects %s --user U [--url API] [--token T | --data DIR]", name)
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			return fn(ctx, c, *user, *out, stdout)
		}
	}
	return subcommand(ctx, "subjects", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"erase": sub("erase", func(ctx context.Context, c apiDoer, user, _ string, stdout io.Writer) error {
			var res struct {
				Texts int `json:"texts_erased"`
				Blobs int `json:"log_blobs_erased"`
				Cases int `json:"case_files_rewritten"`
			}
			if err := c.Do(ctx, "POST", "/v1/subjects/"+url.PathEscape(user)+"/erase", nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "erased the text of %d events of %q from the index and %d audit-log blobs, rewrote %d incident case files; the erasure is recorded in the audit log\n", res.Texts, user, res.Blobs, res.Cases)
			return nil
		}),
		"export": sub("export", func(ctx context.Context, c apiDoer, user, out string, stdout io.Writer) error {
			var res json.RawMessage
			if err := c.Do(ctx, "GET", "/v1/subjects/"+url.PathEscape(user), nil, &res); err != nil {
				return err
			}
			if out == "" {
				_, err := fmt.Fprintf(stdout, "%s\n", res)
				return err
			}
			return os.WriteFile(out, append(res, '\n'), 0o600)
		}),
	})
}

// apiDoer is the part of the API client the subject commands use.
type apiDoer interface {
	Do(ctx context.Context, method, path string, in, out any) error
}
