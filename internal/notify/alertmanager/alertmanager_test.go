package alertmanager_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/alertmanager"
	"github.com/warden-ai/warden/internal/notify/notifytest"
)

// amBinary is Debian's prometheus-alertmanager; WARDEN_ALERTMANAGER_BIN overrides it.
func amBinary(t *testing.T) string {
	bin := os.Getenv("WARDEN_ALERTMANAGER_BIN")
	if bin == "" {
		bin = "/usr/bin/prometheus-alertmanager"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Alertmanager binary not found (%v): install it with `apt-get install -y prometheus-alertmanager`", err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs the real binary on a loopback port and returns its base URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin := amBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: sink\n  group_wait: 1h\nreceivers:\n  - name: sink\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+cfg,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
	)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start alertmanager: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s: %v\n%s", base, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

func listAlerts(t *testing.T, base string) []gettableAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s", resp.Status)
	}
	var out []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func find(alerts []gettableAlert, dedup string) *gettableAlert {
	for i := range alerts {
		if alerts[i].Labels["warden_dedup_key"] == dedup {
			return &alerts[i]
		}
	}
	return nil
}

func TestRealAlertmanager(t *testing.T) {
	base := startAlertmanager(t)
	n, err := alertmanager.New(alertmanager.Config{URL: base}, alertmanager.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	firing := notifytest.Notification()
	second := notifytest.Alert()
	second.ID, second.DedupKey, second.Severity = "alt_2", "drift/support-bot", "P3"
	second.RuleID, second.RuleName = "drift.psi", "Input drift"
	second.Labels = map[string]string{"team.name": "ml", "severity": "spoofed"}
	firing.Alerts = append(firing.Alerts, second)
	firing.Alerts[0].StartsAt = time.Now().Add(-time.Minute).Truncate(time.Second)
	firing.Alerts[1].StartsAt = time.Now().Add(-time.Minute).Truncate(time.Second)
	if err := n.Notify(ctx, firing); err != nil {
		t.Fatalf("Notify firing: %v", err)
	}

	got := listAlerts(t, base)
	a := find(got, firing.Alerts[0].DedupKey)
	b := find(got, "drift/support-bot")
	if a == nil || b == nil {
		t.Fatalf("alerts not listed by Alertmanager: %+v", got)
	}
	if a.Labels["alertname"] != "Prompt injection burst" || a.Labels["severity"] != "P1" ||
		a.Labels["model"] != "support-bot" || a.Labels["rule_id"] != "security.prompt_injection.burst" ||
		a.Annotations["summary"] != firing.Alerts[0].Summary || a.Annotations["runbook_url"] != firing.Alerts[0].Runbook ||
		a.Status.State != "active" || a.GeneratorURL != firing.Alerts[0].ConsoleURL || !a.StartsAt.Equal(firing.Alerts[0].StartsAt) {
		t.Errorf("alert as listed = %+v", a)
	}
	if b.Labels["team_name"] != "ml" || b.Labels["severity"] != "P3" {
		t.Errorf("sanitised labels = %v; want team_name=ml and severity not overridden", b.Labels)
	}

	// Resolve the first alert: it ends, the second stays active.
	resolved := notifytest.Resolved(&notify.Notification{Kind: notify.KindFiring, Alerts: firing.Alerts[:1], Time: time.Now()})
	now := time.Now().Add(-time.Second)
	resolved.Alerts[0].ResolvedAt = &now
	if err := n.Notify(ctx, resolved); err != nil {
		t.Fatalf("Notify resolved: %v", err)
	}
	got = listAlerts(t, base)
	if a := find(got, firing.Alerts[0].DedupKey); a != nil && a.EndsAt.After(time.Now()) {
		t.Errorf("resolved alert still active: %+v", a)
	}
	if b := find(got, "drift/support-bot"); b == nil || b.Status.State != "active" {
		t.Errorf("unresolved alert gone or inactive: %+v", b)
	}

	// Alertmanager rejects an alert without labels with 400: a permanent error.
	bad := notifytest.Notification()
	bad.Alerts[0].StartsAt = time.Now()
	bad.Alerts[0].ResolvedAt = nil
	badN, _ := alertmanager.New(alertmanager.Config{URL: base + "/nonexistent-prefix"}, alertmanager.Options{})
	if err := badN.Notify(ctx, bad); err == nil || !notify.IsPermanent(err) {
		t.Errorf("post to a wrong path: err = %v; want a permanent error", err)
	}
}

func TestNoSecretLeak(t *testing.T) {
	const pass = "am-basic-pass-9f8e7d"
	srv := notifytest.EchoFailServer(t, http.StatusInternalServerError)
	n, err := alertmanager.New(alertmanager.Config{URL: strings.Replace(srv.URL, "http://", "http://warden:"+pass+"@", 1)}, alertmanager.Options{})
	if err != nil {
		t.Fatal(err)
	}
	notifytest.AssertNoSecretLeak(t, n, pass, base64.StdEncoding.EncodeToString([]byte("warden:"+pass)))
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{"team": "team", "team.name": "team_name", "1abc": "_abc", "__x": "label__x", "a-b c": "a_b_c", "": ""} {
		if got := alertmanager.LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q; want %q", in, got, want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	n := notifytest.Notification()
	for b.Loop() {
		if _, err := json.Marshal(alertmanager.Render(n, notifytest.Time, 0)); err != nil {
			b.Fatal(err)
		}
	}
}
