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

// TestQualityEndToEnd runs the binary with helper-bot's answers graded by a judge model from the
// inventory (the simulated upstream grading word overlap). Fifty on-topic answers form the
// baseline; when the model starts answering off-topic, the judge's relevance falls and
// warden.quality.drop reaches the signed webhook; users' ratings falling raise
// warden.quality.rating_drop. The metrics API carries the quality block, and the judge's own
// traffic leaves no metrics on the judge model.
func TestQualityEndToEnd(t *testing.T) {
	sim := upstreamsim.New(upstreamsim.Options{})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	const secret = "quality-e2e-webhook-secret"
	var mu sync.Mutex
	rulesSeen := map[string]string{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, []byte(secret), 5*time.Minute, time.Now()); err != nil {
			t.Errorf("webhook signature: %v", err)
			return
		}
		var p struct {
			Alerts []struct {
				RuleID  string `json:"rule_id"`
				Summary string `json:"summary"`
			} `json:"alerts"`
		}
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		for _, a := range p.Alerts {
			rulesSeen[a.RuleID] = a.Summary
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	t.Setenv("QUALITY_E2E_SECRET", secret)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
models:
  - name: helper-bot
    upstream: {url: %[1]s/v1, model: sim-helper}
    quality: {judge: grader, sample: 1, drop: 0.2}
  - name: grader
    allowed_groups: [nobody]
    upstream: {url: %[1]s/v1, model: sim-judge}
receivers:
  - name: soc
    webhook: {url: %[2]s, secret_env: QUALITY_E2E_SECRET}
escalation:
  P3: [{after: 0s, receivers: [soc]}]
response: {group_wait: 0s}
`, simSrv.URL, hook.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, "data"), "--config", cfg)
	code, body := s.do(t, http.MethodPost, "/v1/keys", s.admin, strings.NewReader(`{"consumer":"helpdesk","groups":["support"]}`))
	if code != http.StatusCreated {
		t.Fatalf("create key: %d %s", code, body)
	}
	var key struct{ Key string }
	_ = json.Unmarshal(body, &key)
	ask := func(i int) {
		q := fmt.Sprintf("How long does delivery of parcel %d take to Lisbon?", i)
		b, _ := json.Marshal(map[string]any{"model": "helper-bot", "messages": []map[string]string{{"role": "user", "content": q}}})
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.gw+"/v1/chat/completions", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("gateway: %d", resp.StatusCode)
		}
	}
	type qual struct {
		Judging struct{ Judged, Errors int } `json:"judging"`
		Metrics []struct {
			Metric   string   `json:"metric"`
			Baseline *float64 `json:"baseline"`
			Recent   *float64 `json:"recent"`
			Low      bool     `json:"low"`
		} `json:"metrics"`
	}
	quality := func() qual {
		var q qual
		code, body := s.do(t, http.MethodGet, "/v1/models/helper-bot/quality", s.admin, nil)
		if code != http.StatusOK || json.Unmarshal(body, &q) != nil {
			t.Fatalf("quality: %d %s", code, body)
		}
		return q
	}
	for i := range 40 { // the echoing model answers on topic
		ask(i)
	}
	waitFor(t, 60*time.Second, "40 answers judged", func() bool { return quality().Judging.Judged >= 40 })
	sim.SetBehaviour("sim-helper", upstreamsim.Refuse) // now every answer is off topic
	for i := 40; i < 70; i++ {
		ask(i)
	}
	waitFor(t, 60*time.Second, "warden.quality.drop at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := rulesSeen["warden.quality.drop"]
		return ok
	})
	q := quality()
	if len(q.Metrics) != 1 || q.Metrics[0].Metric != "relevance" || !q.Metrics[0].Low || *q.Metrics[0].Baseline < 0.9 || *q.Metrics[0].Recent > 0.5 {
		t.Errorf("quality after the drop: %+v", q)
	}
	code, body = s.do(t, http.MethodGet, "/v1/models/helper-bot/metrics", s.admin, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"quality":{"judge":"grader"`) {
		t.Errorf("metrics without the quality block: %d %.300s", code, body)
	}
	if code, body := s.do(t, http.MethodGet, "/v1/models/grader/metrics", s.admin, nil); code != http.StatusNotFound {
		t.Errorf("the judge's own traffic entered the analytics: %d %.200s", code, body)
	}

	// Users' ratings: 30 thumbs up, then 20 thumbs down.
	var b strings.Builder
	now := time.Now().UTC()
	for i := range 50 {
		r := 1
		if i >= 30 {
			r = -1
		}
		fmt.Fprintf(&b, `{"type":"feedback","time":%q,"model":{"name":"helper-bot"},"actor":{"user":"u%d"},"request_id":"req-%d","rating":%d}`+"\n",
			now.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i, i, r)
	}
	if code, body := s.do(t, http.MethodPost, "/v1/events", s.ingt, strings.NewReader(b.String())); code != http.StatusAccepted {
		t.Fatalf("feedback: %d %s", code, body)
	}
	waitFor(t, 30*time.Second, "warden.quality.rating_drop at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := rulesSeen["warden.quality.rating_drop"]
		return ok
	})
}
