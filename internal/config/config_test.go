package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseContractExample(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := c.Model("support-bot")
	if !ok || m.RiskTier != "high" || m.Upstream.Model != "gpt-4o-mini" || m.Price.OutputPerMTok != 0.60 || m.AllowedGroups[0] != "support" {
		t.Fatalf("model not decoded: %+v", m)
	}
	if got := c.Escalation["P1"][1].After; got != 15*time.Minute {
		t.Fatalf("escalation after = %v", got)
	}
	if len(c.Receivers) != 2 {
		t.Fatalf("receivers = %d", len(c.Receivers))
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ingest.MaxBodyBytes != 10<<20 || c.RetentionFor("critical") != 365*24*time.Hour || c.Store.Driver != "sqlite" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = Parse([]byte("models:\n  - name: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Models[0]; m.StoreText != "redacted" || m.RiskTier != "medium" || m.Upstream.Model != "x" {
		t.Fatalf("model defaults: %+v", m)
	}
	if b := c.Bus; b.Driver != "inproc" || b.Stream != "WARDEN" || b.Replicas != 1 || b.Partitions != 16 || b.URL != "nats://127.0.0.1:4222" {
		t.Fatalf("bus defaults: %+v", b)
	}
	c, err = Parse([]byte("store: {driver: postgres, dsn: \"postgres://x\"}\nbus: {driver: nats, url: \"nats://10.0.0.1:4222\", replicas: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Bus; b.Driver != "nats" || b.Replicas != 3 || b.Stream != "WARDEN" || b.URL != "nats://10.0.0.1:4222" {
		t.Fatalf("bus section: %+v", b)
	}
}

func TestProbeAndQualityDefaults(t *testing.T) {
	c, err := Parse([]byte("models:\n  - name: j\n  - name: x\n    risk_tier: critical\n    probes: {enabled: true}\n    quality: {judge: j}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Models[1]
	if !m.Probes.Enabled || m.Probes.Interval != 0 || DefaultProbeInterval(RiskTier(m.RiskTier)) != time.Hour || m.Quality.Sample != 0.1 {
		t.Fatalf("probe/quality defaults: %+v %+v", m.Probes, m.Quality)
	}
	for tier, want := range map[RiskTier]time.Duration{TierHigh: 24 * time.Hour, TierMedium: 7 * 24 * time.Hour, TierLow: 30 * 24 * time.Hour} {
		if got := DefaultProbeInterval(tier); got != want {
			t.Errorf("%s cadence %v, want %v", tier, got, want)
		}
	}
}

const oidcBase = "console:\n  oidc:\n    issuer: https://idp.example\n    client_id: warden\n    redirect_url: https://w.example/login/oidc/callback\n"

func TestErrorsNameLine(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		field      string
	}{
		{"unknown key", "models:\n  - name: x\n    colour: red\n", 3, ""},
		{"bad tier", "models:\n  - name: x\n  - name: y\n    risk_tier: extreme\n", 4, "models[1].risk_tier"},
		{"duplicate", "models:\n  - name: x\n  - name: x\n", 3, "models[1].name"},
		{"bad store_text", "models:\n  - name: x\n    store_text: some\n", 3, "models[0].store_text"},
		{"wrong type", "ingest:\n  max_body_bytes: lots\n", 2, ""},
		{"probe interval too short", "models:\n  - name: x\n    probes: {enabled: true, interval: 10ms}\n", 3, "models[0].probes"},
		{"probe pass rate", "models:\n  - name: x\n    probes:\n      pass_rate: 2\n", 3, "models[0].probes"},
		{"unknown probe key", "models:\n  - name: x\n    probes: {enabeld: true}\n", 3, ""},
		{"judge not in inventory", "models:\n  - name: x\n    quality: {judge: nobody}\n", 3, "models[0].quality"},
		{"judge itself", "models:\n  - name: x\n    quality: {judge: x}\n", 3, "models[0].quality"},
		{"sample above 1", "models:\n  - name: j\n  - name: x\n    quality: {judge: j, sample: 1.5}\n", 4, "models[1].quality"},
		{"bad duration", "escalation:\n  P1: [{after: soon, receivers: [a]}]\n", 2, ""},
		{"bad severity", "escalation:\n  P1: [{after: 1m, receivers: [a]}]\n  P9: [{after: 1m, receivers: [a]}]\n", 3, "escalation.P9"},
		{"escalation without receivers", "escalation:\n  P2:\n    - {after: 1m, receivers: [a]}\n    - {after: 2m}\n", 4, "escalation.P2[1].receivers"},
		{"bad incident severity", "response:\n  incident_severities:\n    - P1\n    - p2\n", 4, "response.incident_severities[1]"},
		{"bad containment severity", "response:\n  containment:\n    - {severity: high, action: block}\n", 3, "response.containment[0].severity"},
		{"bad containment tier", "response:\n  containment:\n    - {severity: P1, tiers: [high, huge], action: block}\n", 3, "response.containment[0].tiers"},
		{"syntax", "models: [\n", 0, ""},
		{"bad containment action", "response:\n  containment:\n    - {severity: P1, action: nuke}\n", 3, "response.containment[0].action"},
		{"rate limit without rpm", "response:\n  containment:\n    - {severity: P2, action: rate_limit}\n", 3, "response.containment[0].rpm"},
		{"tls cert without key", "tls:\n  api:\n    cert_file: a.crt\n", 2, "tls.api"},
		{"tls client CA without cert", "tls:\n  gateway:\n    client_ca_file: ca.pem\n", 3, "tls.gateway.client_ca_file"},
		{"tls unknown key", "tls:\n  api:\n    certificate: a.crt\n", 3, ""},
		{"bad upstream", "models:\n  - name: x\n    upstream: {url: ftp://x}\n", 3, "models[0].upstream"},
		{"bad bus driver", "bus:\n  driver: kafka\n", 2, "bus.driver"},
		{"bus stream with a dot", "bus:\n  stream: a.b\n", 2, "bus.stream"},
		{"bus replicas", "bus:\n  replicas: 2\n", 2, "bus.replicas"},
		{"bus lease", "bus:\n  lease_ttl: 10ms\n", 2, "bus.lease_ttl"},
		{"bus partitions", "bus:\n  partitions: 0\n", 2, "bus.partitions"},
		{"bad timestamp authority", "audit:\n  timestamp_authorities:\n    - http://tsa.example/\n    - tsa.example\n", 4, "audit.timestamp_authorities[1]"},
		{"timestamp interval", "audit:\n  timestamp_interval: 0s\n", 2, "audit.timestamp_interval"},
		{"nats bus without postgres", "bus:\n  driver: nats\n", 0, "store.driver"},
		{"oidc without issuer", "console:\n  oidc:\n    client_id: warden\n", 2, "console.oidc.issuer"},
		{"oidc without client", "console:\n  oidc:\n    issuer: https://idp.example\n", 2, "console.oidc.client_id"},
		{"oidc bad redirect", "console:\n  oidc:\n    issuer: https://idp.example\n    client_id: w\n    redirect_url: https://w.example/cb\n", 5, "console.oidc.redirect_url"},
		{"oidc without roles", "%[1]s", 2, "console.oidc.roles"},
		{"oidc bad role", "%[1]s    roles:\n      - {value: admins, role: root}\n", 7, "console.oidc.roles[0].role"},
		{"oidc role without value", "%[1]s    roles:\n      - {role: admin}\n", 7, "console.oidc.roles[0].value"},
		{"oidc bad default role", "%[1]s    default_role: ingest\n", 6, "console.oidc.default_role"},
		{"oidc two secrets", "%[1]s    default_role: viewer\n    client_secret_env: S\n    client_secret_file: /s\n", 7, "console.oidc.client_secret_env"},
		{"oidc unknown key", "%[1]s    groups_claim: x\n", 6, ""},
		{"nats bus without url", "store: {driver: postgres, dsn: x}\nbus:\n  driver: nats\n  url: \"\"\n", 4, "bus.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.ReplaceAll(tt.yaml, "%[1]s", oidcBase)))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if (tt.line > 0 && ce.Line != tt.line) || ce.Field != tt.field {
				t.Fatalf("got line %d field %q (%v), want line %d field %q", ce.Line, ce.Field, ce, tt.line, tt.field)
			}
		})
	}
}

// TestLoadFileErrorNamesFileAndLine: an invalid enum value is reported as file:line.
func TestLoadFileErrorNamesFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(path, []byte("models:\n  - name: x\n    store_text: everything\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3: models[0].store_text: ") {
		t.Fatalf("error %v, want %s:3: models[0].store_text: …", err, path)
	}
}

func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile("testdata/full.yaml")
	f.Add(data)
	f.Add([]byte("models: [{name: a, risk_tier: low}]"))
	f.Add([]byte("escalation: {P1: [{after: 1s, receivers: [x]}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
	})
}

// TestExampleConfig keeps examples/warden.yaml valid.
func TestExampleConfig(t *testing.T) {
	c, err := LoadFile("../../examples/warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := c.Model("support-bot"); !ok || m.Fallbacks[0].Model != "gpt-4o-mini" || m.Scanning["pii"] != "redact" {
		t.Fatalf("example model: %+v", m)
	}
	if len(c.Receivers) != 5 || len(c.Escalation) != 4 {
		t.Fatalf("example receivers/escalation: %d %d", len(c.Receivers), len(c.Escalation))
	}
}

// TestExplicitZerosSurvive: a value the file sets explicitly is kept even when it is the zero
// value (defaults used to be filled in afterwards by zero checks: `group_wait: 0s` became 30 s),
// while keys the file leaves out, or leaves empty, keep their defaults.
func TestExplicitZerosSurvive(t *testing.T) {
	c, err := Parse([]byte("response:\n  group_wait: 0s\nretention:\n  high: 48h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Response.GroupWait != 0 {
		t.Fatalf("group_wait = %v, want 0", c.Response.GroupWait)
	}
	if c.Response.GroupInterval != 5*time.Minute || c.Retention.High != 48*time.Hour || c.Retention.Critical != 365*24*time.Hour {
		t.Fatalf("defaults next to explicit values lost: %+v %+v", c.Response, c.Retention)
	}
	c, err = Parse([]byte("retention:\nresponse:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.Low != 30*24*time.Hour || c.Response.GroupWait != 30*time.Second {
		t.Fatalf("empty sections lost their defaults: %+v %+v", c.Retention, c.Response)
	}
	for _, bad := range []struct{ yaml, field string }{
		{"retention:\n  low: 0s\n", "retention.low"},
		{"response:\n  repeat_interval: 0s\n", "response.repeat_interval"},
		{"response:\n  group_wait: -1s\n", "response.group_wait"},
		{"ingest:\n  max_in_flight: 0\n", "ingest.max_in_flight"},
	} {
		_, err := Parse([]byte(bad.yaml))
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != bad.field || ce.Line == 0 {
			t.Errorf("%q: error %v, want one naming %s with its line", bad.yaml, err, bad.field)
		}
	}
}
