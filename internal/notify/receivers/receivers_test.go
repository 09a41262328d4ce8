package receivers_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/warden-ai/warden/internal/notify/alertmanager"
	"github.com/warden-ai/warden/internal/notify/email"
	"github.com/warden-ai/warden/internal/notify/pagerduty"
	"github.com/warden-ai/warden/internal/notify/receivers"
	"github.com/warden-ai/warden/internal/notify/slack"
	"github.com/warden-ai/warden/internal/notify/splunk"
	"github.com/warden-ai/warden/internal/notify/syslog"
	"github.com/warden-ai/warden/internal/notify/webhook"
)

type file struct {
	Receivers []receivers.ReceiverConfig `yaml:"receivers"`
}

func decode(t testing.TB, data []byte) ([]receivers.ReceiverConfig, error) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	err := dec.Decode(&f)
	return f.Receivers, err
}

var env = map[string]string{
	"WEBHOOK_SECRET":    "whsec-123456789",
	"PD_ROUTING_KEY":    "pdkey-123456789",
	"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/XYZ123456",
	"SPLUNK_HEC_TOKEN":  "hec-123456789",
	"SMTP_PASSWORD":     "smtp-123456789",
}

func TestBuildArchitectureExample(t *testing.T) {
	data, err := os.ReadFile("testdata/receivers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := decode(t, data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	got, err := receivers.Build(cfgs, func(k string) string { return env[k] }, receivers.Options{Version: "0.1.0"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	checks := map[string]func(any) bool{
		"secops":  func(n any) bool { _, ok := n.(*webhook.Notifier); return ok },
		"oncall":  func(n any) bool { _, ok := n.(*pagerduty.Notifier); return ok },
		"chat":    func(n any) bool { _, ok := n.(*slack.Notifier); return ok },
		"am":      func(n any) bool { _, ok := n.(*alertmanager.Notifier); return ok },
		"siem":    func(n any) bool { _, ok := n.(*syslog.Notifier); return ok },
		"hec":     func(n any) bool { _, ok := n.(*splunk.Notifier); return ok },
		"manager": func(n any) bool { _, ok := n.(*email.Notifier); return ok },
	}
	if len(got) != len(checks) {
		t.Fatalf("built %d notifiers; want %d", len(got), len(checks))
	}
	for name, ok := range checks {
		if !ok(got[name]) {
			t.Errorf("receiver %s: got %T", name, got[name])
		}
	}
}

func TestStrictDecodeRejectsUnknownKeys(t *testing.T) {
	_, err := decode(t, []byte("receivers:\n  - name: x\n    webhook: {url: https://h/x, secret_env: S, secret: inline}\n"))
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v; want unknown field secret", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no name", "- webhook: {url: https://h, secret_env: S}", "name is required"},
		{"bad name", "- name: 'a b'\n  webhook: {url: https://h, secret_env: S}", `name "a b"`},
		{"duplicate", "- name: a\n  slack: {url_env: S}\n- name: a\n  slack: {url_env: S}", "already used by receivers[0]"},
		{"none", "- name: a", "exactly one"},
		{"two", "- name: a\n  slack: {url_env: S}\n  alertmanager: {url: http://h}", "exactly one"},
		{"webhook no secret", "- name: a\n  webhook: {url: https://h}", "webhook.secret_env is required"},
		{"env name", "- name: a\n  slack: {url_env: 'https://hooks.slack.com/x'}", "not an environment variable name"},
		{"syslog format", "- name: a\n  syslog: {address: udp://h:514, format: leef}", `syslog.format "leef"`},
		{"email to", "- name: a\n  email: {smtp: 'h:25', from: a@b.c}", "email.to"},
		{"email user", "- name: a\n  email: {smtp: 'h:25', from: a@b.c, to: [x@y.z], username: u}", "go together"},
		{"am negative", "- name: a\n  alertmanager: {url: http://h, ends_after: -1m}", "ends_after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgs, err := decode(t, []byte("receivers:\n"+indent(tc.yaml)))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			err = receivers.Validate(cfgs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v; want it to mention %q", err, tc.want)
			}
		})
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		env    map[string]string
		want   string
		secret string
	}{
		{"missing env", "- name: a\n  webhook: {url: https://h/x, secret_env: NOPE}", nil, "environment variable NOPE is unset", ""},
		{"bad slack url stays secret", "- name: a\n  slack: {url_env: S}", map[string]string{"S": "not-a-url-secret-token-991"}, "slack", "not-a-url-secret-token-991"},
		{"bad syslog address", "- name: a\n  syslog: {address: 'udp://nohostport'}", nil, "syslog: address", ""},
		{"bad email from", "- name: a\n  email: {smtp: 'h:25', from: 'nope', to: [x@y.z]}", nil, "email: from", ""},
		{"missing ca file", "- name: a\n  syslog: {address: 'tls://h:6514', ca_file: /nonexistent/ca.pem}", nil, "ca_file", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfgs, err := decode(t, []byte("receivers:\n"+indent(tc.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = receivers.Build(cfgs, func(k string) string { return tc.env[k] }, receivers.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v; want it to mention %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("Build error leaks the secret: %v", err)
			}
		})
	}
}

func FuzzDecodeAndBuild(f *testing.F) {
	data, _ := os.ReadFile("testdata/receivers.yaml")
	f.Add(string(data))
	f.Add("receivers:\n  - name: a\n    syslog: {address: 'udp://127.0.0.1:514', format: cef}\n")
	f.Add("receivers:\n  - name: a\n    email: {smtp: 'h:25', from: a@b.c, to: [x@y.z]}\n")
	f.Add("receivers: [{name: '', webhook: {}}]")
	f.Fuzz(func(t *testing.T, doc string) {
		cfgs, err := decode(t, []byte(doc))
		if err != nil {
			return
		}
		const leak = "fuzz-secret-value-77"
		built, err := receivers.Build(cfgs, func(string) string { return leak }, receivers.Options{ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }})
		if err != nil {
			if strings.Contains(err.Error(), leak) {
				t.Fatalf("error leaks a secret: %v", err)
			}
			return
		}
		if receivers.Validate(cfgs) != nil || len(built) != len(cfgs) {
			t.Fatalf("Build accepted what Validate rejects, or built %d of %d", len(built), len(cfgs))
		}
	})
}
