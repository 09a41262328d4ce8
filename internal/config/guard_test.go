package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const guardsYAML = `guards:
  - name: prompt-guard
    url: http://127.0.0.1:8088/v1/guard
    categories: [prompt_injection, jailbreak]
    tiers: [critical, high]
    fail: closed
    auth: {token_env: GUARD_TOKEN}
  - name: moderation
    url: https://guard.internal.example/classify
    timeout: 2s
    categories: [harmful]
    roles: [output]
    mode: add
    auth: {header: X-Api-Key, token_file: /run/secrets/moderation}
    breaker: {failures: 3, cooldown: 1m}
models:
  - name: high-default
    risk_tier: high
  - name: high-none
    risk_tier: high
    guards: []
  - name: medium-explicit
    guards: [moderation, prompt-guard]
  - name: low-default
    risk_tier: low
`

func TestGuardsDecodeAndResolve(t *testing.T) {
	c, err := Parse([]byte(guardsYAML))
	if err != nil {
		t.Fatal(err)
	}
	pg, ok := c.Guard("prompt-guard")
	if !ok || pg.Timeout != 500*time.Millisecond || !pg.FailClosed() || pg.Mode != "decide" || !slices.Equal(pg.Roles, []string{"input", "output"}) ||
		pg.MaxResponseBytes != 1<<20 || pg.Auth.Header != "Authorization" || pg.Breaker.Failures != 5 || pg.Breaker.Cooldown != 30*time.Second {
		t.Fatalf("prompt-guard defaults: %+v", pg)
	}
	mod, _ := c.Guard("moderation")
	if mod.Timeout != 2*time.Second || mod.FailClosed() || mod.Mode != "add" || mod.Auth.Header != "X-Api-Key" || mod.Breaker.Failures != 3 || mod.Breaker.Cooldown != time.Minute {
		t.Fatalf("moderation: %+v", mod)
	}
	for name, want := range map[string][]string{
		"high-default":    {"prompt-guard"}, // by tier
		"high-none":       {},               // explicit [] wins over the tier
		"medium-explicit": {"moderation", "prompt-guard"},
		"low-default":     nil,
	} {
		m, _ := c.Model(name)
		if !slices.Equal(m.Guards, want) {
			t.Errorf("%s guards %v, want %v", name, m.Guards, want)
		}
	}
}

func TestGuardErrorsNameField(t *testing.T) {
	const ok = "  - name: g\n    url: http://127.0.0.1:1/\n    categories: [jailbreak]\n"
	for _, tc := range []struct{ name, yaml, field string }{
		{"no name", "guards:\n  - url: http://h/\n    categories: [jailbreak]\n", "guards[0].name"},
		{"dotted name", "guards:\n  - name: a.b\n    url: http://h/\n    categories: [jailbreak]\n", "guards[0].name"},
		{"duplicate", "guards:\n" + ok + ok, "guards[1].name"},
		{"bad url", "guards:\n  - name: g\n    url: ftp://h/\n    categories: [jailbreak]\n", "guards[0].url"},
		{"url with password", "guards:\n  - name: g\n    url: http://u:p@h/\n    categories: [jailbreak]\n", "guards[0].url"},
		{"no categories", "guards:\n  - name: g\n    url: http://h/\n", "guards[0].categories"},
		{"bad category", "guards:\n" + ok + "  - name: h\n    url: http://h/\n    categories:\n      - jailbreak\n      - prompt-injection\n", "guards[1].categories[1]"},
		{"bad fail", "guards:\n" + ok + "    fail: maybe\n", "guards[0].fail"},
		{"bad mode", "guards:\n" + ok + "    mode: replace\n", "guards[0].mode"},
		{"bad role", "guards:\n" + ok + "    roles: [system]\n", "guards[0].roles"},
		{"bad tier", "guards:\n" + ok + "    tiers: [extreme]\n", "guards[0].tiers"},
		{"timeout", "guards:\n" + ok + "    timeout: 1m\n", "guards[0].timeout"},
		{"negative timeout", "guards:\n" + ok + "    timeout: -1s\n", "guards[0].timeout"},
		{"tiny body bound", "guards:\n" + ok + "    max_response_bytes: 10\n", "guards[0].max_response_bytes"},
		{"two token sources", "guards:\n" + ok + "    auth: {token_env: A, token_file: /b}\n", "guards[0].auth"},
		{"header without token", "guards:\n" + ok + "    auth: {header: X-Key}\n", "guards[0].auth"},
		{"bad header", "guards:\n" + ok + "    auth: {header: \"X Key\", token_env: A}\n", "guards[0].auth"},
		{"negative breaker", "guards:\n" + ok + "    breaker: {failures: -1}\n", "guards[0].breaker"},
		{"unknown model guard", "guards:\n" + ok + "models:\n  - name: m\n    guards: [g, nope]\n", "models[0].guards[1]"},
		{"model guard twice", "guards:\n" + ok + "models:\n  - name: m\n    guards: [g, g]\n", "models[0].guards[1]"},
		{"unknown key", "guards:\n" + ok + "    threshold: 0.5\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Field != tc.field || ce.Line == 0 {
				t.Fatalf("got field %q line %d (%v), want field %q with a line", ce.Field, ce.Line, ce, tc.field)
			}
		})
	}
}

func TestGuardToken(t *testing.T) {
	env := map[string]string{"GUARD_TOKEN": " s3cret \n"}
	getenv := func(k string) string { return env[k] }
	if tok, err := (Guard{}).Token(getenv); err != nil || tok != "" {
		t.Fatalf("no auth: %q %v", tok, err)
	}
	if tok, err := (Guard{Auth: GuardAuth{TokenEnv: "GUARD_TOKEN"}}).Token(getenv); err != nil || tok != "s3cret" {
		t.Fatalf("env: %q %v", tok, err)
	}
	if _, err := (Guard{Name: "g", Auth: GuardAuth{TokenEnv: "MISSING"}}).Token(getenv); err == nil || !strings.Contains(err.Error(), "auth.token_env") {
		t.Fatalf("missing env: %v", err)
	}
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("f1le-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := (Guard{Auth: GuardAuth{TokenFile: file}}).Token(getenv); err != nil || tok != "f1le-token" {
		t.Fatalf("file: %q %v", tok, err)
	}
	if _, err := (Guard{Name: "g", Auth: GuardAuth{TokenFile: file + ".gone"}}).Token(getenv); err == nil || !strings.Contains(err.Error(), "auth.token_file") || strings.Contains(err.Error(), "f1le-token") {
		t.Fatalf("missing file: %v", err)
	}
}
