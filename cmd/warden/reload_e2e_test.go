package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const reloadRuleOld = `rules:
  - id: custom.big_prompt
    severity: P3
    select: {types: [inference]}
    condition: request.input_tokens > 5000
    dedup_by: [event.model]
`

const reloadRuleNew = `rules:
  - id: custom.big_prompt
    severity: P3
    select: {types: [inference]}
    condition: request.input_tokens > 5000
    dedup_by: [event.model]
  - id: custom.slow
    severity: P3
    select: {types: [inference]}
    condition: response.latency_ms > 60000.0
    dedup_by: [event.model]
`

// TestRuleReloadKeepsLastGoodSet: a running server reloads its rules directory on
// POST /v1/rules/reload, on `warden rules reload` and on SIGHUP. Broken files (a CEL error, an
// unknown detection field, a window longer than retention) are refused with file:line, counted
// in warden_rules_reload_total{result="failure"} and shown in GET /v1/rules, and the old rules
// keep firing; once the file is fixed, a reload brings the new rule in and it fires.
func TestRuleReloadKeepsLastGoodSet(t *testing.T) {
	rulesDir := t.TempDir()
	ruleFile := filepath.Join(rulesDir, "custom.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(ruleFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadRuleOld)
	cfgPath := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(cfgPath, []byte("rules_dir: "+rulesDir+"\nmodels:\n  - {name: m1, risk_tier: low}\n  - {name: m2, risk_tier: low}\n  - {name: m3, risk_tier: low}\n  - {name: m4, risk_tier: low}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	s := startServer(t, data, "--config", cfgPath)

	n := 0
	send := func(model string, tokens, latency int) {
		t.Helper()
		n++
		ev := fmt.Sprintf(`{"id":"rl-%d","type":"inference","time":%q,"model":{"name":%q},"actor":{"user":"u1"},"request":{"input_tokens":%d},"response":{"status":"ok","latency_ms":%d}}`,
			n, time.Now().UTC().Format(time.RFC3339Nano), model, tokens, latency)
		if code, body := s.do(t, "POST", "/v1/events", s.ingt, strings.NewReader(ev)); code != 202 {
			t.Fatalf("post: %d %s", code, body)
		}
		s.waitAnalysed(t)
	}
	firedFor := func(rule, model string) bool {
		t.Helper()
		code, body := s.do(t, "GET", "/v1/alerts?limit=1000", s.admin, nil)
		if code != 200 {
			t.Fatalf("alerts: %d %s", code, body)
		}
		var out struct {
			Alerts []struct {
				RuleID string `json:"rule_id"`
				Model  string `json:"model"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Alerts {
			if a.RuleID == rule && a.Model == model {
				return true
			}
		}
		return false
	}
	metric := func(result string) string {
		t.Helper()
		code, body := s.do(t, "GET", "/metrics", s.admin, nil)
		if code != 200 {
			t.Fatalf("metrics: %d", code)
		}
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, `warden_rules_reload_total{result="`+result+`"}`) {
				return strings.Fields(line)[1]
			}
		}
		t.Fatalf("no warden_rules_reload_total{result=%q} in /metrics", result)
		return ""
	}

	// An ingest token may not reload.
	if code, body := s.do(t, "POST", "/v1/rules/reload", s.ingt, nil); code != 403 {
		t.Fatalf("reload with the ingest token: %d %s", code, body)
	}

	broken := []struct {
		name, body, want string
	}{
		{"CEL error", reloadRuleNew + "    # broken below\n  - id: custom.bad\n    severity: P3\n    select: {types: [inference]}\n    condition: response.latency_ms >>> 3\n",
			"custom.yaml:13"},
		{"unknown detection field", reloadRuleOld + "  - id: custom.det\n    severity: P3\n    select: {types: [detection], kinds: [data_drift]}\n    condition: detection.values.no_such_value > 1\n",
			"custom.yaml:7"},
		{"window longer than retention", reloadRuleOld + "  - id: custom.long\n    severity: P3\n    select: {types: [inference]}\n    condition: \"true\"\n    aggregate: {kind: event_count, group_by: [event.model], timespan: 1000h, threshold: \"> 5\"}\n",
			"retention"},
	}
	for i, b := range broken {
		write(b.body)
		code, body := s.do(t, "POST", "/v1/rules/reload", s.admin, nil)
		if code != 422 || !strings.Contains(string(body), b.want) || !strings.Contains(string(body), `"invalid_rules"`) {
			t.Fatalf("%s: reload answered %d %s; want 422 naming %q", b.name, code, body, b.want)
		}
		if got := metric("failure"); got != fmt.Sprint(i+1) {
			t.Fatalf("%s: warden_rules_reload_total{result=failure} = %s, want %d", b.name, got, i+1)
		}
		// The old rule still fires, on a model it has not alerted for yet.
		model := fmt.Sprintf("m%d", i+1)
		send(model, 9000, 10)
		if !firedFor("custom.big_prompt", model) {
			t.Fatalf("%s: after a refused reload the running rule did not fire\n%s", b.name, s.stderr)
		}
	}
	code, body := s.do(t, "GET", "/v1/rules", s.admin, nil)
	if code != 200 || !strings.Contains(string(body), `"result":"failure"`) || !strings.Contains(string(body), "retention") {
		t.Fatalf("GET /v1/rules after a refused reload: %d %s", code, body)
	}
	if !strings.Contains(s.stderr.String(), "rule reload refused") || !strings.Contains(s.stderr.String(), "custom.yaml") {
		t.Fatalf("the refused reload was not logged with its file:\n%s", s.stderr)
	}

	// The CLI names every problem and exits 2.
	write(broken[0].body)
	exit, _, stderr := runCLI(t, "rules", "reload", "--url", "http://"+s.addr, "--token", s.admin)
	if exit != 2 || !strings.Contains(stderr, "custom.yaml:13") || !strings.Contains(stderr, "running rules") {
		t.Fatalf("warden rules reload with a broken file: exit %d, stderr %s", exit, stderr)
	}

	// Fixed: the reload brings the new rule in and it fires.
	write(reloadRuleNew)
	exit, stdout, stderr := runCLI(t, "rules", "reload", "--url", "http://"+s.addr, "--token", s.admin)
	if exit != 0 || !strings.Contains(stdout, "added custom.slow") {
		t.Fatalf("warden rules reload: exit %d, stdout %s, stderr %s", exit, stdout, stderr)
	}
	send("m1", 10, 90000)
	if !firedFor("custom.slow", "m1") {
		t.Fatal("the rule added by the reload did not fire")
	}
	if got := metric("success"); got != "1" {
		t.Fatalf("warden_rules_reload_total{result=success} = %s, want 1", got)
	}

	// SIGHUP: remove the new rule again.
	write(reloadRuleOld)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for metric("success") != "2" {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the rules\n%s", s.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	send("m2", 10, 90000)
	if firedFor("custom.slow", "m2") {
		t.Fatal("a rule removed by the SIGHUP reload still fired")
	}
	code, body = s.do(t, "GET", "/v1/rules", s.admin, nil)
	if code != 200 || !bytes.Contains(body, []byte(`"by":"SIGHUP"`)) || !bytes.Contains(body, []byte(`"removed":["custom.slow"]`)) {
		t.Fatalf("GET /v1/rules after SIGHUP: %d %s", code, body)
	}
}
