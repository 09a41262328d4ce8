package lifecycle

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
)

// TestResolveReasonsFeedAndTune: resolve reasons are stored, audited and validated (API 400
// naming the field); per-rule volume and false-positive ratio reach /metrics; a rule whose false
// positives come from one model gets a silence proposal, a rule with spread ones a review.
func TestResolveReasonsFeedAndTune(t *testing.T) {
	var mu sync.Mutex
	var audited []map[string]any
	m, err := New(Options{Deliverer: &recorder{}, Audit: func(_ context.Context, action string, d map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if action == "alert.resolved" {
			audited = append(audited, d)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var as []alert.Alert
	for i := range 12 {
		a := mk("noisy", alert.P3, "faq-bot")
		a.RuleID, a.DedupKey = "rule.noisy", fmt.Sprint("noisy|", i)
		b := mk("spread", alert.P3, fmt.Sprint("m", i%4))
		b.RuleID, b.DedupKey, b.Actor = "rule.spread", fmt.Sprint("spread|", i), fmt.Sprint("u", i)
		as = append(as, a, b)
	}
	if err := m.Receive(ctx, as); err != nil {
		t.Fatal(err)
	}
	views, _, err := m.List(Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // our name → the manager's id
	for _, v := range views {
		n, _ := strings.CutPrefix(v.DedupKey, "noisy|")
		if n != v.DedupKey {
			ids["n"+n] = v.ID
		}
		if n, ok := strings.CutPrefix(v.DedupKey, "spread|"); ok {
			ids["s"+n] = v.ID
		}
	}
	for i := range 6 {
		reason := alert.FalsePositive
		if i == 5 {
			reason = alert.TruePositive
		}
		if _, err := m.ResolveAs(ctx, ids[fmt.Sprint("n", i)], "ana", "", reason); err != nil {
			t.Fatal(err)
		}
		if _, err := m.ResolveAs(ctx, ids[fmt.Sprint("s", i)], "ana", "", alert.FalsePositive); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.ResolveAs(ctx, ids["n7"], "ana", "", "wrong"); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Fatalf("bad reason accepted: %v", err)
	}
	v, err := m.Get(ids["n0"])
	if err != nil || v.ResolveReason != alert.FalsePositive {
		t.Fatalf("stored reason: %+v %v", v.Alert, err)
	}
	mu.Lock()
	if len(audited) != 12 || audited[0]["reason"] != alert.FalsePositive || audited[0]["rule_id"] != "rule.noisy" {
		t.Errorf("audit: %d entries, first %v", len(audited), audited[0])
	}
	mu.Unlock()
	fb := m.Feedback()
	if len(fb) != 2 || fb[0].RuleID != "rule.noisy" || fb[0].Alerts != 12 || fb[0].FalsePositive != 5 || fb[0].TruePositive != 1 {
		t.Fatalf("feedback: %+v", fb)
	}
	if r := fb[0].FPRatio; r < 0.83 || r > 0.84 {
		t.Errorf("FP ratio %v, want 5/6", r)
	}
	props := Tune(fb)
	if len(props) != 2 || props[0].Kind != "silence" || !strings.Contains(props[0].Matchers, `model="faq-bot"`) ||
		props[0].Exception != `event.model == "faq-bot"` || props[1].Kind != "review" {
		t.Fatalf("proposals: %+v", props)
	}
	if _, err := ParseMatchers(props[0].Matchers); err != nil {
		t.Errorf("proposed matchers do not parse: %v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "warden_alert_false_positive_ratio" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
		}
	}
	if len(got) != 2 || got["rule.spread"] != 1 || got["rule.noisy"] < 0.83 || got["rule.noisy"] > 0.84 {
		t.Errorf("warden_alert_false_positive_ratio: %v", got)
	}
}

func TestHTTPResolveReason(t *testing.T) {
	m, _, c := newServer(t)
	ctx := context.Background()
	a := mk("x", alert.P2, "bot")
	if err := m.Receive(ctx, []alert.Alert{a}); err != nil {
		t.Fatal(err)
	}
	list, _, err := m.List(Filter{})
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	aid := list[0].ID
	for _, tc := range []struct {
		path string
		body map[string]string
	}{
		{"/v1/alerts/" + aid + "/resolve", map[string]string{"reason": "fp"}},
		{"/v1/alerts/" + aid + "/ack", map[string]string{"reason": "benign"}},
	} {
		err := c.Do(ctx, http.MethodPost, tc.path, tc.body, &map[string]any{})
		if err == nil || !strings.Contains(err.Error(), "status 400") {
			t.Errorf("%s %v: %v, want 400", tc.path, tc.body, err)
		}
	}
	var got alert.Alert
	if err := c.Do(ctx, http.MethodPost, "/v1/alerts/"+aid+"/resolve", map[string]string{"reason": "benign", "actor": "ana"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.ResolveReason != alert.Benign || got.State != alert.Resolved {
		t.Fatalf("resolved: %+v", got)
	}
	var fb struct {
		Rules []RuleFeedback `json:"rules"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/alerts/feedback", nil, &fb); err != nil || len(fb.Rules) != 1 || fb.Rules[0].Benign != 1 {
		t.Fatalf("feedback: %+v %v", fb, err)
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/alerts/feedback?x=1", nil, &fb); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("unknown parameter: %v", err)
	}
}
