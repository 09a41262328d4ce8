package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/httpx"
)

// Client calls the Warden API for the CLI. The token is sent as a bearer token and never
// appears in errors.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:7700
	Token   string
	HTTP    *http.Client // default: http.DefaultClient with a 30s timeout
}

// Do sends a JSON request and decodes a JSON answer into out (if not nil; a *[]byte receives
// the raw body, e.g. a tar or HTML). An API error comes back as *httpx.Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s %s: %w", method, path, ue.Err)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error *httpx.Error `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			e.Error.Status = resp.StatusCode
			return e.Error
		}
		return &httpx.Error{Status: resp.StatusCode, Code: "http", Message: resp.Status}
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// RunAlerts runs `warden alerts <args>`:
//
//	list [--state S] [--severity P] [--model M] [--since T|DUR] [--limit N] [--json]
//	ack ID [--comment C] [--actor A]
//	resolve ID [--reason false_positive|benign|true_positive] [--comment C] [--actor A]
//	silence add --matchers 'model=x,severity=~"P3|P4"' (--duration 2h | --ends T) --comment C [--author A]
//	silence list [--state active|pending|expired] [--json]
//	silence expire ID
func RunAlerts(ctx context.Context, args []string, c *Client, stdout io.Writer) error {
	if len(args) == 0 {
		return &UsageError{Msg: "usage: warden alerts list|ack|resolve|silence ..."}
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(stdout, "usage: warden alerts list|ack|resolve|silence ...\n\nRun 'warden alerts <subcommand> -h' for its flags.")
		return ErrHelp
	}
	switch args[0] {
	case "list":
		return alertsList(ctx, args[1:], c, stdout)
	case "ack", "resolve":
		return alertsChange(ctx, args[0], args[1:], c, stdout)
	case "silence":
		return alertsSilence(ctx, args[1:], c, stdout)
	}
	return &UsageError{Msg: fmt.Sprintf("unknown alerts command %q (want list, ack, resolve or silence)", args[0])}
}

func alertsFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// alertsParse parses args, allowing positional arguments before flags (`ack ID --comment x`),
// which fs.Args then returns; -h writes every flag to help.
func alertsParse(fs *flag.FlagSet, args []string, help io.Writer) error {
	pos, err := Parse(fs, args, "", help)
	if err != nil {
		return err
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func alertsList(ctx context.Context, args []string, c *Client, w io.Writer) error {
	fs := alertsFlags("alerts list")
	state := fs.String("state", "", "firing, acknowledged or resolved")
	sev := fs.String("severity", "", "P1..P4")
	model := fs.String("model", "", "model name")
	since := fs.String("since", "", "RFC 3339 time or duration ago")
	limit := fs.Int("limit", 100, "page size")
	cursor := fs.String("cursor", "", "next_cursor of the previous page")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := alertsParse(fs, args, w); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": *state, "severity": *sev, "model": *model, "since": *since, "cursor": *cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", fmt.Sprint(*limit))
	var page struct {
		Alerts []lifecycle.View `json:"alerts"`
		Next   string           `json:"next_cursor"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/alerts?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(w).Encode(page)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tSTATE\tMODEL\tRULE\tCOUNT\tSTARTED\tMUTED")
	for _, a := range page.Alerts {
		muted := ""
		if len(a.SilencedBy) > 0 {
			muted = "silenced"
		} else if len(a.InhibitedBy) > 0 {
			muted = "inhibited"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, a.Severity, a.State, a.Model, a.RuleName, a.Count,
			a.StartsAt.UTC().Format(time.RFC3339), muted)
	}
	if page.Next != "" {
		fmt.Fprintf(tw, "next page: --cursor %s\n", page.Next)
	}
	return tw.Flush()
}

func alertsChange(ctx context.Context, verb string, args []string, c *Client, w io.Writer) error {
	fs := alertsFlags("alerts " + verb)
	comment := fs.String("comment", "", "comment")
	actor := fs.String("actor", "", "who (default: the token's identity)")
	var reason *string
	if verb == "resolve" {
		reason = fs.String("reason", "", "your verdict: "+strings.Join(alert.ResolveReasons, ", ")+" (feeds per-rule false-positive ratios and `warden rules tune`)")
	}
	if err := alertsParse(fs, args, w); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &UsageError{Msg: fmt.Sprintf("usage: warden alerts %s ID [--comment C]", verb)}
	}
	req := lifecycle.ChangeRequest{Actor: *actor, Comment: *comment}
	if reason != nil {
		if !alert.ValidReason(*reason) {
			return &UsageError{Msg: fmt.Sprintf("--reason %q: want one of %s", *reason, strings.Join(alert.ResolveReasons, ", "))}
		}
		req.Reason = *reason
	}
	var a alert.Alert
	if err := c.Do(ctx, http.MethodPost, "/v1/alerts/"+url.PathEscape(fs.Arg(0))+"/"+verb, req, &a); err != nil {
		return err
	}
	suffix := ""
	if a.ResolveReason != "" {
		suffix = " as " + a.ResolveReason
	}
	_, err := fmt.Fprintf(w, "%s %s by %s%s\n", a.ID, a.State, firstNonEmpty(a.ResolvedBy, a.AckedBy), suffix)
	return err
}

// RunRulesTune runs `warden rules tune`: the per-rule alert volume and false-positive ratio the
// server holds, and the suppressions or reviews it proposes from false-positive history. It
// changes nothing: a person applies a proposal (the silence command, or the exception in a rule
// file).
func RunRulesTune(ctx context.Context, args []string, c *Client, w io.Writer) error {
	fs := alertsFlags("rules tune")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := alertsParse(fs, args, w); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return &UsageError{Msg: "usage: warden rules tune [--json]"}
	}
	var out struct {
		Rules     []lifecycle.RuleFeedback `json:"rules"`
		Proposals []lifecycle.Proposal     `json:"proposals"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/alerts/feedback", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(w).Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tALERTS\tRESOLVED\tAUTO\tFALSE_POS\tBENIGN\tTRUE_POS\tFP_RATIO")
	for _, f := range out.Rules {
		ratio := "-"
		if f.Verdicts() > 0 {
			ratio = fmt.Sprintf("%.2f", f.FPRatio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", f.RuleID, f.Alerts, f.Resolved, f.AutoResolved, f.FalsePositive, f.Benign, f.TruePositive, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out.Proposals) == 0 {
		_, err := fmt.Fprintln(w, "\nno proposals (a rule needs 5 verdicts, half of them false positives)")
		return err
	}
	fmt.Fprintln(w, "\nproposals (nothing is applied; review and apply by hand):")
	for _, p := range out.Proposals {
		fmt.Fprintf(w, "- %s: %s — %s\n", p.RuleID, p.Kind, p.Reason)
		if p.Command != "" {
			fmt.Fprintf(w, "    silence:   %s\n", p.Command)
		}
		if p.Exception != "" {
			fmt.Fprintf(w, "    or add to the rule (replace: true): exceptions: [{name: tuned, condition: %q}]\n", p.Exception)
		}
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func alertsSilence(ctx context.Context, args []string, c *Client, w io.Writer) error {
	if len(args) == 0 {
		return &UsageError{Msg: "usage: warden alerts silence add|list|expire ..."}
	}
	if IsHelp(args[0]) {
		fmt.Fprintln(w, "usage: warden alerts silence add|list|expire ...\n\nRun 'warden alerts silence <subcommand> -h' for its flags.")
		return ErrHelp
	}
	switch args[0] {
	case "add":
		fs := alertsFlags("alerts silence add")
		matchers := fs.String("matchers", "", `e.g. 'model=bot,severity=~"P3|P4"'`)
		dur := fs.String("duration", "", "how long, e.g. 2h")
		ends := fs.String("ends", "", "end time, RFC 3339")
		comment := fs.String("comment", "", "why (required)")
		author := fs.String("author", "", "who (default: the token's identity)")
		if err := alertsParse(fs, args[1:], w); err != nil {
			return err
		}
		if _, err := lifecycle.ParseMatchers(*matchers); err != nil {
			return &UsageError{Msg: fmt.Sprintf("--matchers: %v", err)}
		}
		if (*dur == "") == (*ends == "") {
			return &UsageError{Msg: "give exactly one of --duration and --ends"}
		}
		if *comment == "" {
			return &UsageError{Msg: "--comment is required"}
		}
		body := lifecycle.SilenceRequest{Matchers: json.RawMessage(mustJSON(*matchers)), Duration: *dur, Comment: *comment, CreatedBy: *author}
		if *ends != "" {
			t, err := time.Parse(time.RFC3339, *ends)
			if err != nil {
				return &UsageError{Msg: "--ends: want RFC 3339"}
			}
			body.EndsAt = t
		}
		var s lifecycle.Silence
		if err := c.Do(ctx, http.MethodPost, "/v1/silences", body, &s); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, s.ID)
		return err
	case "list":
		fs := alertsFlags("alerts silence list")
		state := fs.String("state", "", "active, pending or expired")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := alertsParse(fs, args[1:], w); err != nil {
			return err
		}
		var out struct {
			Silences []struct {
				lifecycle.Silence
				State string `json:"state"`
			} `json:"silences"`
		}
		path := "/v1/silences"
		if *state != "" {
			path += "?state=" + url.QueryEscape(*state)
		}
		if err := c.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(w).Encode(out)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tMATCHERS\tENDS\tBY\tCOMMENT")
		for _, s := range out.Silences {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.Matchers.String(), s.EndsAt.UTC().Format(time.RFC3339), s.CreatedBy, s.Comment)
		}
		return tw.Flush()
	case "expire":
		if len(args) == 2 && IsHelp(args[1]) {
			fmt.Fprintln(w, "usage: warden alerts silence expire ID")
			return ErrHelp
		}
		if len(args) != 2 {
			return &UsageError{Msg: "usage: warden alerts silence expire ID"}
		}
		if err := c.Do(ctx, http.MethodDelete, "/v1/silences/"+url.PathEscape(args[1]), nil, nil); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%s expired\n", args[1])
		return err
	}
	return &UsageError{Msg: fmt.Sprintf("unknown silence command %q (want add, list or expire)", args[0])}
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}
