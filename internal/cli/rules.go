package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/warden-ai/warden/internal/httpx"
)

// reloadStatus mirrors the API's answer about a rule reload.
type reloadStatus struct {
	Result string `json:"result"`
	Errors []struct {
		Node    string `json:"node"`
		File    string `json:"file"`
		Line    int    `json:"line"`
		Message string `json:"message"`
	} `json:"errors"`
	Change *struct {
		Rules   int      `json:"rules"`
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
		Changed []string `json:"changed"`
	} `json:"change"`
	// Nodes: each process's reload in the distributed mode.
	Nodes []struct {
		Node   string `json:"node"`
		Roles  string `json:"roles"`
		Result string `json:"result"`
		Change *struct {
			Rules int `json:"rules"`
		} `json:"change"`
	} `json:"nodes"`
}

// RunRulesReload runs `warden rules reload [--json]`: the running server re-reads its rule files
// (POST /v1/rules/reload, admin). When the files do not load, it prints every problem
// (file:line) and returns a *UsageError (exit 2); the server keeps its running rules.
func RunRulesReload(ctx context.Context, args []string, c *Client, w io.Writer) error {
	fs := alertsFlags("rules reload")
	asJSON := fs.Bool("json", false, "print the server's answer as JSON")
	if err := alertsParse(fs, args, w); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return &UsageError{Msg: "usage: warden rules reload [--json]"}
	}
	var st reloadStatus
	err := c.Do(ctx, http.MethodPost, "/v1/rules/reload", nil, &st)
	var he *httpx.Error
	if errors.As(err, &he) && he.Code == "invalid_rules" {
		// The answer names the first problem; the rules view carries the whole list.
		var view struct {
			LastReload *reloadStatus `json:"last_reload"`
		}
		if c.Do(ctx, http.MethodGet, "/v1/rules", nil, &view) == nil && view.LastReload != nil && view.LastReload.Result == "failure" {
			st = *view.LastReload
		}
		if *asJSON {
			_ = json.NewEncoder(w).Encode(st)
		}
		var b strings.Builder
		b.WriteString("rule files refused; the server keeps its running rules")
		if len(st.Nodes) > 0 {
			b.WriteString(" (every process that refused keeps its running rules)")
		}
		for _, p := range st.Errors {
			b.WriteString("\n  ")
			if p.Node != "" {
				b.WriteString(p.Node + ": ")
			}
			switch {
			case p.File != "" && p.Line > 0:
				fmt.Fprintf(&b, "%s:%d: %s", p.File, p.Line, p.Message)
			case p.File != "":
				fmt.Fprintf(&b, "%s: %s", p.File, p.Message)
			default:
				b.WriteString(p.Message)
			}
		}
		if len(st.Errors) == 0 {
			b.WriteString("\n  " + he.Error())
		}
		return &UsageError{Msg: b.String()}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(w).Encode(st)
	}
	if len(st.Nodes) > 0 {
		if _, err := fmt.Fprintf(w, "rules reloaded in %d processes\n", len(st.Nodes)); err != nil {
			return err
		}
		for _, n := range st.Nodes {
			rules := 0
			if n.Change != nil {
				rules = n.Change.Rules
			}
			if _, err := fmt.Fprintf(w, "  %s (%s): %s, %d rules\n", n.Node, n.Roles, n.Result, rules); err != nil {
				return err
			}
		}
		return nil
	}
	if st.Change == nil {
		_, err := fmt.Fprintln(w, "rules reloaded")
		return err
	}
	ch := st.Change
	_, err = fmt.Fprintf(w, "rules reloaded: %d rules (added %s; removed %s; changed %s)\n", ch.Rules, list(ch.Added), list(ch.Removed), list(ch.Changed))
	return err
}

func list(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
