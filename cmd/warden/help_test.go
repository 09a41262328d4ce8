package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpListsFlags runs `warden <command> [<subcommand>] --help` for every subcommand: it
// exits 0 without a server or a token and lists every flag the subcommand accepts (for the
// alerts and incidents API commands also the connection flags).
func TestHelpListsFlags(t *testing.T) {
	api := []string{"url", "token", "data"}
	with := func(fs ...string) []string { return append(fs, api...) }
	tests := []struct {
		args  string
		flags []string
	}{
		{"serve", []string{"config", "data", "gateway-listen", "listen", "log-level", "pprof-listen", "role"}},
		{"demo", []string{"data", "gateway-listen", "interval", "listen", "log-level", "rounds"}},
		{"scan", []string{"in", "out", "tier", "workers"}},
		{"audit", nil},
		{"audit verify", []string{"data"}},
		{"evidence", nil},
		{"evidence export", []string{"data", "from", "ids", "model", "no-text", "out", "to"}},
		{"evidence verify", []string{"key"}},
		{"index", nil},
		{"index rebuild", []string{"config", "data"}},
		{"version", nil},
		{"keys", nil},
		{"keys create", []string{"consumer", "data", "expires", "groups", "models", "rpm", "tpm"}},
		{"keys list", []string{"data", "json"}},
		{"keys revoke", []string{"data"}},
		{"contain", nil},
		{"contain suspend-key", []string{"by", "data", "reason", "ttl"}},
		{"contain pause-model", []string{"by", "data", "reason", "ttl"}},
		{"contain rate-limit", []string{"by", "data", "reason", "rpm", "ttl"}},
		{"contain block-consumer", []string{"by", "data", "reason", "ttl"}},
		{"contain list", []string{"all", "data", "json"}},
		{"contain lift", []string{"by", "data", "reason"}},
		{"rules", nil},
		{"rules check", nil},
		{"rules kinds", []string{"json"}},
		{"rules tune", with("json")},
		{"rules test", []string{"events", "no-builtin"}},
		{"probe", api},
		{"probe run", with("json", "model", "pack")},
		{"probe packs", with("json")},
		{"probe import", []string{"family", "format", "in", "out", "pack"}},
		{"alerts", api},
		{"alerts list", with("cursor", "json", "limit", "model", "severity", "since", "state")},
		{"alerts ack", with("actor", "comment")},
		{"alerts resolve", with("actor", "comment", "reason")},
		{"alerts silence", api},
		{"alerts silence add", with("author", "comment", "duration", "ends", "matchers")},
		{"alerts silence list", with("json", "state")},
		{"alerts silence expire", api},
		{"incidents", api},
		{"incidents list", with("json", "open", "phase", "serious", "type")},
		{"incidents show", api},
		{"incidents open", with("model", "owner", "severity", "title", "type")},
		{"incidents phase", api},
		{"incidents owner", api},
		{"incidents note", api},
		{"incidents action", api},
		{"incidents serious", with("aware", "category")},
		{"incidents reported", with("reference")},
		{"incidents export", with("out")},
		{"incidents art73", with("format", "out")},
		{"report", with("format", "from", "kind", "out", "to")},
		{"baseline", nil},
		{"baseline set", with("from", "model", "to")},
		{"subjects", nil},
		{"subjects export", with("user", "out")},
		{"subjects erase", with("user", "out")},
		{"aggregates", with("from", "json", "model", "to")},
		{"witness", nil},
		{"witness serve", []string{"listen", "log-key", "name", "state"}},
		{"users", nil},
		{"users create", []string{"data", "password-stdin", "role"}},
		{"users token", []string{"data"}},
		{"users list", []string{"data", "json"}},
		{"users disable", []string{"data"}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[strings.Fields(tt.args)[0]] = true
		for _, h := range []string{"--help", "-h"} {
			t.Run(tt.args+" "+h, func(t *testing.T) {
				t.Setenv("WARDEN_ADMIN_TOKEN", "") // help needs no credentials
				var out bytes.Buffer
				code := run(context.Background(), append(strings.Fields(tt.args), h), &out, &out)
				if code != 0 {
					t.Fatalf("exit %d, want 0:\n%s", code, out.String())
				}
				if out.Len() == 0 {
					t.Fatal("no help printed")
				}
				for _, f := range tt.flags {
					if !strings.Contains(out.String(), "\n  -"+f+" ") && !strings.Contains(out.String(), "\n  -"+f+"\n") {
						t.Errorf("flag -%s not listed:\n%s", f, out.String())
					}
				}
			})
		}
	}
	for name := range commands() {
		if !covered[name] {
			t.Errorf("command %q has no help test row", name)
		}
	}
}
