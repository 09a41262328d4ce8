package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/upstreamsim"
)

const guardE2EToken = "guard-e2e-token-must-not-leak"

// TestGuardModelsEndToEnd runs the binary with three guard models served by a fake guard in the
// test: one fail-closed that answers 502, one fail-open that is too slow, one that flags every
// text as a prompt injection. Through the gateway the fail-closed guard refuses with 503
// guard_unavailable and the fail-open one lets the request pass; both failures are on the event
// and on /metrics. Through the ingest API the worker asks the third guard, and its verdict
// raises warden.sec.prompt_injection on benign text. A bad guard section exits 2 naming the
// field and line.
func TestGuardModelsEndToEnd(t *testing.T) {
	sim := httptest.NewServer(upstreamsim.New(upstreamsim.Options{}))
	defer sim.Close()
	var mu sync.Mutex
	var auths []string
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Model, Version string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		switch req.Model {
		case "closed-bot":
			w.WriteHeader(http.StatusBadGateway)
		case "open-bot":
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"version":"warden.guard/v1","findings":[{"category":"prompt_injection","score":0.99,"label":"INJECTION"}]}`))
		}
	}))
	defer guard.Close()
	t.Setenv("GUARD_E2E_TOKEN", guardE2EToken)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
guards:
  - {name: g-closed, url: %[2]s/guard, categories: [prompt_injection, jailbreak], fail: closed, auth: {token_env: GUARD_E2E_TOKEN}}
  - {name: g-open, url: %[2]s/guard, categories: [prompt_injection], timeout: 200ms, auth: {token_env: GUARD_E2E_TOKEN}}
  - {name: g-attack, url: %[2]s/guard, categories: [prompt_injection], tiers: [high], auth: {token_env: GUARD_E2E_TOKEN}}
models:
  - {name: closed-bot, guards: [g-closed], store_text: full, upstream: {url: %[1]s/v1, model: sim-model}}
  - {name: open-bot, guards: [g-open], upstream: {url: %[1]s/v1, model: sim-model}}
  - {name: ingest-bot, risk_tier: high}
`, sim.URL, guard.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, "data"), "--config", cfg)
	code, body := s.do(t, http.MethodPost, "/v1/keys", s.admin, strings.NewReader(`{"consumer":"app","groups":["support"]}`))
	if code != http.StatusCreated {
		t.Fatalf("create key: %d %s", code, body)
	}
	var key struct{ Key string }
	_ = json.Unmarshal(body, &key)
	chat := func(model string) (int, string) {
		b, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": "How do I reset my password?"}}})
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.gw+"/v1/chat/completions", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error struct{ Type, Code string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Type + "/" + e.Error.Code
	}
	if code, e := chat("closed-bot"); code != http.StatusServiceUnavailable || e != "warden_policy/guard_unavailable" {
		t.Fatalf("fail-closed guard: %d %s", code, e)
	}
	if code, e := chat("open-bot"); code != http.StatusOK {
		t.Fatalf("fail-open guard: %d %s", code, e)
	}

	// The blocked request's event says why.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body = s.do(t, http.MethodGet, "/v1/events?model=closed-bot&type=inference", s.admin, nil)
		if strings.Contains(string(body), `"guard_unavailable"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blocked event for closed-bot: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(body), `"warden.guard_error":"g-closed: status (input)"`) || !strings.Contains(string(body), `"status":"blocked"`) {
		t.Fatalf("event: %s", body)
	}

	// Ingested text is judged by the worker with the model's guards (here by tier).
	ev := fmt.Sprintf(`{"type":"inference","time":%q,"model":{"name":"ingest-bot"},"actor":{"user":"u1"},"request":{"input":"What are your opening hours?"},"response":{"output":"9 to 5.","status":"ok"}}`, time.Now().UTC().Format(time.RFC3339))
	if code, body := s.do(t, http.MethodPost, "/v1/events", s.ingt, strings.NewReader(ev)); code != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", code, body)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, body = s.do(t, http.MethodGet, "/v1/alerts", s.admin, nil)
		if strings.Contains(string(body), "warden.sec.prompt_injection") && strings.Contains(string(body), "ingest-bot") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker's guard verdict raised no alert: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	_, metrics := s.do(t, http.MethodGet, "/metrics", s.admin, nil)
	for _, want := range []string{
		`warden_guard_errors_total{guard="g-closed",reason="status"} 1`,
		`warden_guard_errors_total{guard="g-open",reason="timeout"} 2`,    // input and output
		`warden_guard_request_duration_seconds_count{guard="g-attack"} 2`, // input and output
		`warden_guard_verdicts_total{guard="g-attack",result="findings",role="input"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			var got []string
			for _, l := range strings.Split(string(metrics), "\n") {
				if strings.HasPrefix(l, "warden_guard_") && !strings.Contains(l, "_bucket") {
					got = append(got, l)
				}
			}
			t.Errorf("/metrics lacks %s; guard series:\n%s", want, strings.Join(got, "\n"))
		}
	}
	mu.Lock()
	for _, a := range auths {
		if a != "Bearer "+guardE2EToken {
			t.Errorf("guard call with Authorization %q", a)
		}
	}
	mu.Unlock()
	s.stop(t)
	if strings.Contains(s.stderr.String(), guardE2EToken) || !strings.Contains(s.stderr.String(), "guard gave no verdict") {
		t.Fatalf("server log (token must be absent, failures logged):\n%s", s.stderr)
	}

	// A bad guard section: exit 2, file:line and field named.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("guards:\n  - name: g\n    url: http://127.0.0.1:1/\n    categories: [prompt-injection]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "serve", "--config", bad, "--data", filepath.Join(dir, "data2"))
	if code != 2 || !strings.Contains(errOut, bad+":4: guards[0].categories[0]") {
		t.Fatalf("bad config: exit %d, stderr %s", code, errOut)
	}
}
