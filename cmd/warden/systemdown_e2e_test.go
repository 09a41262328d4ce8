package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSystemDownThroughBinary: a model whose traffic arrived live and steadily goes silent and
// the server pages warden.ops.system_down_detected (P1) once analysis.system_down_after has
// passed; the model's next live event resolves the alert. Near misses in the same run: a model
// with only a 3-minute burst, and a model whose 15 minutes of traffic are replayed from an hour
// ago, raise nothing.
func TestSystemDownThroughBinary(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "warden.yaml")
	cfg := "analysis:\n  system_down_after: 20s\nmodels:\n" +
		"  - {name: steady-bot, risk_tier: high}\n  - {name: burst-bot, risk_tier: high}\n  - {name: replayed-bot, risk_tier: high}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "--config", cfgPath)

	now := time.Now().UTC()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	n := 0
	add := func(model string, at time.Time) {
		n++
		if err := enc.Encode(map[string]any{"id": fmt.Sprintf("sd-%d", n), "type": "inference", "time": at,
			"model": map[string]any{"name": model}, "actor": map[string]any{"user": fmt.Sprintf("u%d", n%5)},
			"response": map[string]any{"status": "ok", "latency_ms": 80}}); err != nil {
			t.Fatal(err)
		}
	}
	for at := -15 * time.Minute; at <= 0; at += 20 * time.Second {
		add("steady-bot", now.Add(at))             // 46 events in 15 minutes, the last one live
		add("replayed-bot", now.Add(at-time.Hour)) // the same, an hour old: not live
		if at >= -3*time.Minute {
			add("burst-bot", now.Add(at)) // live, but only 3 minutes of traffic
			add("burst-bot", now.Add(at+time.Second))
		}
	}
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, &b); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	s.waitAnalysed(t)

	type al struct {
		RuleID, Model, State, Severity string
	}
	alerts := func() []al {
		code, body := s.do(t, "GET", "/v1/alerts?limit=1000", s.admin, nil)
		if code != 200 {
			t.Fatalf("alerts: %d %s", code, body)
		}
		var out struct {
			Alerts []struct {
				RuleID   string `json:"rule_id"`
				Model    string `json:"model"`
				State    string `json:"state"`
				Severity string `json:"severity"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		var res []al
		for _, a := range out.Alerts {
			if a.RuleID == "warden.ops.system_down_detected" {
				res = append(res, al{a.RuleID, a.Model, a.State, a.Severity})
			}
		}
		return res
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(alerts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no system_down alert within 60 s of the silence\n%s", s.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // the near misses have had the same time to fire
	got := alerts()
	if len(got) != 1 || got[0].Model != "steady-bot" || got[0].Severity != "P1" || got[0].State != "firing" {
		t.Fatalf("system_down alerts = %+v, want one firing P1 for steady-bot only", got)
	}

	// The model answers again: its next live event resolves the alert.
	b.Reset()
	add("steady-bot", time.Now().UTC())
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, &b); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	deadline = time.Now().Add(30 * time.Second)
	for got := alerts(); len(got) != 1 || got[0].State != "resolved"; got = alerts() {
		if time.Now().After(deadline) {
			t.Fatalf("the system_down alert did not resolve after a live event: %+v", got)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
