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

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/incident"
)

// RunIncidents runs `warden incidents <args>`:
//
//	list [--open] [--serious] [--phase P] [--type T] [--json]
//	show ID
//	open --title T --type T --severity P [--model M] [--owner O]
//	phase ID PHASE | owner ID NAME | note ID TEXT | action ID TEXT
//	serious ID --category C [--aware RFC3339]
//	reported ID [--reference REF]
//	export ID --out FILE
//	art73 ID [--format json|html] [--out FILE]
func RunIncidents(ctx context.Context, args []string, c *Client, stdout io.Writer) error {
	usage := &UsageError{Msg: "usage: warden incidents list|show|open|phase|owner|note|action|serious|reported|export|art73 ..."}
	if len(args) == 0 {
		return usage
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(stdout, usage.Msg+"\n\nRun 'warden incidents <subcommand> -h' for its flags.")
		return ErrHelp
	}
	fs := flag.NewFlagSet("incidents "+args[0], flag.ContinueOnError)
	parse := func(rest []string, npos int) ([]string, error) {
		pos, err := Parse(fs, rest, "", stdout)
		if err != nil {
			return nil, err
		}
		if len(pos) != npos {
			return nil, &UsageError{Msg: fmt.Sprintf("%s: want %d argument(s), got %d", fs.Name(), npos, len(pos))}
		}
		return pos, nil
	}
	path := func(id string, rest ...string) string {
		return "/v1/incidents/" + url.PathEscape(id) + strings.Join(rest, "")
	}
	printOne := func(v incident.View) error {
		_, err := fmt.Fprintf(stdout, "%s %s %s %s phase=%s owner=%s\n", v.ID, v.Severity, v.Type, v.Title, v.Phase, v.Owner)
		return err
	}
	switch args[0] {
	case "list":
		open := fs.Bool("open", false, "only open incidents")
		serious := fs.Bool("serious", false, "only serious incidents")
		phase := fs.String("phase", "", "phase")
		typ := fs.String("type", "", "type")
		asJSON := fs.Bool("json", false, "print JSON")
		if _, err := parse(args[1:], 0); err != nil {
			return err
		}
		q := url.Values{}
		if *open {
			q.Set("open", "true")
		}
		if *serious {
			q.Set("serious", "true")
		}
		if *phase != "" {
			q.Set("phase", *phase)
		}
		if *typ != "" {
			q.Set("type", *typ)
		}
		var out struct {
			Incidents []incident.View `json:"incidents"`
		}
		if err := c.Do(ctx, http.MethodGet, "/v1/incidents?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSEV\tTYPE\tPHASE\tOWNER\tOPENED\tDEADLINE\tTITLE")
		for _, v := range out.Incidents {
			deadline := ""
			if v.Serious != nil && v.Serious.ReportedAt == nil {
				deadline = v.Serious.Deadline.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Severity, v.Type, v.Phase, v.Owner, v.OpenedAt.UTC().Format(time.RFC3339), deadline, v.Title)
		}
		return tw.Flush()
	case "show":
		pos, err := parse(args[1:], 1)
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := c.Do(ctx, http.MethodGet, path(pos[0]), nil, &v); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", v)
		return err
	case "open":
		var req incident.OpenRequest
		fs.StringVar(&req.Title, "title", "", "title")
		typ := fs.String("type", "", "safety|performance|security|compliance|bias")
		sev := fs.String("severity", "P2", "P1..P4")
		fs.StringVar(&req.Model, "model", "", "model")
		fs.StringVar(&req.Owner, "owner", "", "owner")
		if _, err := parse(args[1:], 0); err != nil {
			return err
		}
		req.Type, req.Severity = incident.Type(*typ), alert.Severity(*sev)
		var v incident.View
		if err := c.Do(ctx, http.MethodPost, "/v1/incidents", req, &v); err != nil {
			return err
		}
		return printOne(v)
	case "phase", "owner", "note", "action":
		pos, err := parse(args[1:], 2)
		if err != nil {
			return err
		}
		var u incident.Update
		switch args[0] {
		case "phase":
			u.Phase = incident.Phase(pos[1])
		case "owner":
			u.Owner = pos[1]
		case "note":
			u.Note = pos[1]
		case "action":
			u.Action = pos[1]
		}
		var v incident.View
		if err := c.Do(ctx, http.MethodPatch, path(pos[0]), u, &v); err != nil {
			return err
		}
		return printOne(v)
	case "serious":
		cat := fs.String("category", "", "death|health_harm|critical_infrastructure|widespread_infringement|fundamental_rights|property_environment")
		aware := fs.String("aware", "", "when the provider became aware (RFC 3339; default now)")
		pos, err := parse(args[1:], 1)
		if err != nil {
			return err
		}
		body := map[string]any{"category": *cat}
		if *aware != "" {
			t, err := time.Parse(time.RFC3339, *aware)
			if err != nil {
				return &UsageError{Msg: "--aware: want RFC 3339"}
			}
			body["aware_at"] = t
		}
		var v incident.View
		if err := c.Do(ctx, http.MethodPost, path(pos[0], "/serious"), body, &v); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s serious (%s): report due %s\n", v.ID, v.Serious.Category, v.Serious.Deadline.UTC().Format(time.RFC3339))
		return err
	case "reported":
		ref := fs.String("reference", "", "the authority's reference")
		pos, err := parse(args[1:], 1)
		if err != nil {
			return err
		}
		var v incident.View
		if err := c.Do(ctx, http.MethodPost, path(pos[0], "/reported"), map[string]string{"reference": *ref}, &v); err != nil {
			return err
		}
		return printOne(v)
	case "export", "art73":
		out := fs.String("out", "", "output file (default stdout for art73)")
		format := fs.String("format", "json", "json or html (art73)")
		pos, err := parse(args[1:], 1)
		if err != nil {
			return err
		}
		p := path(pos[0], "/export")
		if args[0] == "art73" {
			p = path(pos[0], "/art73?format="+url.QueryEscape(*format))
		} else if *out == "" {
			return &UsageError{Msg: "incidents export: --out is required"}
		}
		return download(ctx, c, p, *out, stdout)
	}
	return usage
}

// download fetches a raw body (tar or HTML) to a file (0600) or to stdout.
func download(ctx context.Context, c *Client, p, out string, stdout io.Writer) error {
	var raw []byte
	if err := c.Do(ctx, http.MethodGet, p, nil, &raw); err != nil {
		return err
	}
	if out == "" {
		_, err := stdout.Write(raw)
		return err
	}
	if err := os.WriteFile(out, raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	_, err := fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", out, len(raw))
	return err
}
