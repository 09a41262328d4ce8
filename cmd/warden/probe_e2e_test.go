package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/notify/webhook"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

// TestProbesEndToEnd runs the binary with a model opted in to probes every 3 s, in front of the
// simulated upstream. While the upstream's guardrails hold, `warden probe run` prints every
// probe RESISTED and exits 0, and the probe traffic leaves the model's metrics (requests and
// cost from real traffic) unchanged and gives a probe-only model no metrics at all. When the
// upstream turns vulnerable mid-run, the next scheduled run raises warden.probe.regression
// (P2 for a high-tier model) delivered to a signed webhook, `warden probe run` exits 1 with
// FAILED rows, and GET /v1/models/{m}/probes shows per-family pass rates falling.
func TestProbesEndToEnd(t *testing.T) {
	sim := upstreamsim.New(upstreamsim.Options{})
	sim.SetBehaviour("sim-claims", upstreamsim.Guarded)
	sim.SetBehaviour("sim-quiet", upstreamsim.Guarded)
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()

	const secret = "probe-e2e-webhook-secret"
	type delivered struct{ RuleID, Severity, Summary string }
	var mu sync.Mutex
	var alerts []delivered
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, []byte(secret), 5*time.Minute, time.Now()); err != nil {
			t.Errorf("webhook signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p struct {
			Alerts []struct {
				RuleID   string `json:"rule_id"`
				Severity string `json:"severity"`
				Summary  string `json:"summary"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		for _, a := range p.Alerts {
			alerts = append(alerts, delivered{a.RuleID, a.Severity, a.Summary})
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	t.Setenv("PROBE_E2E_SECRET", secret)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
models:
  - name: claims-bot
    risk_tier: high
    system_prompt: You are the claims assistant of ACME Insurance.
    canaries: [CANARY-E2E-91]
    upstream: {url: %[1]s/v1, model: sim-claims}
    price: {input_per_mtok: 1, output_per_mtok: 2}
    probes: {enabled: true, interval: 3s, packs: [injection, jailbreak, extraction]}
    # monitor mode: the gateway flags and never blocks, so the probes measure the model itself
    scanning: {prompt_injection: flag, jailbreak: flag, encoded_payload: flag, invisible_text: flag, indirect_injection: flag,
               exfiltration: flag, pii: flag, secret: flag, harmful: flag, harmful_request: flag, system_prompt_leak: flag}
  - name: quiet-bot
    risk_tier: low
    upstream: {url: %[1]s/v1, model: sim-quiet}
    probes: {enabled: true, interval: 1h, packs: [injection]}
receivers:
  - name: soc
    webhook: {url: %[2]s, secret_env: PROBE_E2E_SECRET}
escalation:
  P1: [{after: 0s, receivers: [soc]}]
  P2: [{after: 0s, receivers: [soc]}]
  P3: [{after: 0s, receivers: [soc]}]
response: {group_wait: 0s}
`, simSrv.URL, hook.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, "data"), "--config", cfg)
	api := []string{"--url", "http://" + s.addr, "--token", s.admin}

	// Real traffic for claims-bot: 20 events, 0.01 USD each.
	var b strings.Builder
	now := time.Now().UTC()
	for i := range 20 {
		fmt.Fprintf(&b, `{"type":"inference","time":%q,"model":{"name":"claims-bot"},"actor":{"user":"u%d"},"request":{"input":"When is my claim paid?","input_tokens":10},"response":{"output":"Within 5 days.","output_tokens":5,"latency_ms":40},"cost_usd":0.01}`+"\n",
			now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339Nano), i)
	}
	if code, body := s.do(t, http.MethodPost, "/v1/events", s.ingt, strings.NewReader(b.String())); code != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", code, body)
	}
	dayWindow := func() (float64, float64) {
		code, body := s.do(t, http.MethodGet, "/v1/models/claims-bot/metrics", s.admin, nil)
		if code != http.StatusOK {
			return -1, -1
		}
		var m struct {
			Series []struct {
				Windows []struct {
					Window   string  `json:"window"`
					Requests float64 `json:"requests"`
					CostUSD  float64 `json:"cost_usd"`
				} `json:"windows"`
			} `json:"series"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		var req, cost float64
		for _, se := range m.Series {
			for _, w := range se.Windows {
				if w.Window == "1d" {
					req += w.Requests
					cost += w.CostUSD
				}
			}
		}
		return req, cost
	}
	waitFor(t, 30*time.Second, "real traffic in the metrics", func() bool { r, _ := dayWindow(); return r == 20 })
	_, cost0 := dayWindow()

	// On demand while the guardrails hold: every probe resisted, exit 0.
	code, out, errOut := runCLI(t, append([]string{"probe", "run", "--model", "claims-bot", "--pack", "injection,jailbreak"}, api...)...)
	if code != 0 || !strings.Contains(out, "RESISTED") || strings.Contains(out, "FAILED") {
		t.Fatalf("probe run (guarded): exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "0 failed") {
		t.Errorf("summary line missing:\n%s", out)
	}

	// The scheduled runs of both models reach the tracker (probe history from the worker).
	history := func(model string) map[string]any {
		code, body := s.do(t, http.MethodGet, "/v1/models/"+model+"/probes", s.admin, nil)
		if code != http.StatusOK {
			t.Fatalf("probe history %s: %d %s", model, code, body)
		}
		var h map[string]any
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	waitFor(t, 60*time.Second, "scheduled runs of both models in the probe history", func() bool {
		a, _ := history("claims-bot")["runs"].([]any)
		q, _ := history("quiet-bot")["runs"].([]any)
		return len(a) >= 2 && len(q) >= 1
	})
	// Probe traffic stayed out of the analytics: claims-bot's figures are those of its real
	// traffic, and quiet-bot, probed but never used, has no metrics or drift at all.
	if r, c := dayWindow(); r != 20 || c != cost0 {
		t.Errorf("claims-bot 1d window after probes: %v requests, %v USD; want 20 and %v", r, c, cost0)
	}
	for _, p := range []string{"/v1/models/quiet-bot/metrics", "/v1/models/quiet-bot/drift"} {
		if code, body := s.do(t, http.MethodGet, p, s.admin, nil); code != http.StatusNotFound {
			t.Errorf("%s after probe runs: %d %s (probe traffic entered the analytics)", p, code, body)
		}
	}
	if code, body := s.do(t, http.MethodGet, "/v1/models/claims-bot/probes?bogus=1", s.admin, nil); code != http.StatusBadRequest || !strings.Contains(string(body), `"field":"bogus"`) {
		t.Errorf("unknown parameter: %d %s", code, body)
	}

	// The model loses its guardrails mid-run.
	switched := time.Now()
	sim.SetBehaviour("sim-claims", upstreamsim.Vulnerable)
	waitFor(t, 60*time.Second, "regression alert at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range alerts {
			if a.RuleID == "warden.probe.regression" {
				if a.Severity != "P2" || !strings.Contains(a.Summary, "claims-bot") {
					t.Errorf("regression alert %+v", a)
				}
				return true
			}
		}
		return false
	})
	t.Logf("regression alert %s after the upstream turned vulnerable", time.Since(switched).Round(time.Second))

	code, out, _ = runCLI(t, append([]string{"probe", "run", "--model", "claims-bot", "--pack", "extraction"}, api...)...)
	if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "reveals the planted canary") {
		t.Errorf("probe run (vulnerable): exit %d\n%s", code, out)
	}
	h := history("claims-bot")
	fams, _ := h["families"].([]any)
	low := 0
	for _, f := range fams {
		fm := f.(map[string]any)
		if fm["family"] == nil {
			t.Errorf("family without a family field: %v", fm)
		}
		if r, ok := fm["pass_rate"].(float64); ok && r < 0.5 {
			low++
		}
	}
	if len(fams) < 5 || low == 0 {
		t.Errorf("families after the switch: %v", fams)
	}
	// Every result is a probe event in the audit log.
	code, body := s.do(t, http.MethodGet, "/v1/events?type=probe&model=claims-bot&limit=5", s.admin, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"warden-probe"`) || strings.Contains(string(body), "CANARY-E2E-91") {
		t.Errorf("probe events: %d %s", code, body)
	}
	// The report's trends carry the probe pass rates per family, worsening after the switch.
	from := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	to := time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	reportFile := filepath.Join(dir, "report.json")
	if code, _, errOut := runCLI(t, append([]string{"report", "--kind", "daily", "--from", from, "--to", to, "--out", reportFile}, api...)...); code != 0 {
		t.Fatalf("report: exit %d %s", code, errOut)
	}
	rb, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Trends []struct {
			Model, Kind, Metric, Direction string
			Breaches                       int
		} `json:"trends"`
	}
	if err := json.Unmarshal(rb, &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tr := range rep.Trends {
		if tr.Model == "claims-bot" && tr.Kind == "probe" && tr.Metric == "jailbreak pass rate" {
			found = tr.Direction == "worsening" && tr.Breaches > 0
		}
	}
	if !found {
		t.Errorf("report trends lack claims-bot's worsening jailbreak pass rate: %+v", rep.Trends)
	}
	if code, _, errOut := runCLI(t, append([]string{"probe", "run"}, api...)...); code != 2 || !strings.Contains(errOut, "-model is required") {
		t.Errorf("probe run without -model: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, append([]string{"probe", "run", "--model", "claims-bot", "--pack", "nope"}, api...)...); code != 1 || !strings.Contains(errOut, `unknown probe pack \"nope\"`) && !strings.Contains(errOut, `unknown probe pack "nope"`) {
		t.Errorf("probe run with an unknown pack: exit %d %s", code, errOut)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
