package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAggregatesThroughBinary: ingested events appear in the daily per-model aggregates (CLI
// and API), a restart neither loses nor double-counts them, and bad input is refused.
func TestAggregatesThroughBinary(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("agg", 0, 90))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	api := []string{"--url", "http://" + s.addr, "--token", s.admin}
	type day struct {
		Date    string           `json:"date"`
		Model   string           `json:"model"`
		Events  map[string]int64 `json:"events"`
		Latency *struct {
			Count float64 `json:"count"`
			P95   float64 `json:"p95"`
		} `json:"latency_ms"`
	}
	read := func() map[string]day {
		code, out, errOut := runCLI(t, append([]string{"aggregates", "--from", "2026-11-20", "--to", "2026-11-20", "--json"}, api...)...)
		if code != 0 {
			t.Fatalf("aggregates: exit %d\n%s%s", code, out, errOut)
		}
		var res struct{ Days []day }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		m := map[string]day{}
		for _, d := range res.Days {
			m[d.Model] = d
		}
		return m
	}
	want := func(got map[string]day) bool {
		for _, m := range []string{"bot-0", "bot-1", "bot-2"} {
			d := got[m]
			if d.Date != "2026-11-20" || d.Events["inference"] != 30 || d.Latency == nil || d.Latency.Count != 30 || d.Latency.P95 < 11.8 || d.Latency.P95 > 12.2 {
				return false
			}
		}
		return len(got) == 3
	}
	for deadline := time.Now().Add(30 * time.Second); !want(read()); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("aggregates never showed 30 events per model at 12 ms: %+v", read())
		}
	}
	code, out, _ := runCLI(t, append([]string{"aggregates", "--from", "2026-11-20", "--to", "2026-11-20", "--model", "bot-1"}, api...)...)
	if code != 0 || !strings.Contains(out, "2026-11-20  bot-1") || !strings.Contains(out, "1 model-days") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
	if code, b := s.do(t, "GET", "/v1/aggregates?from=yesterday", s.admin, nil); code != 400 || !strings.Contains(string(b), `"from"`) {
		t.Fatalf("bad from: %d %s", code, b)
	}
	if code, b := s.do(t, "GET", "/v1/aggregates?colour=red", s.admin, nil); code != 400 || !strings.Contains(string(b), `"colour"`) {
		t.Fatalf("unknown parameter: %d %s", code, b)
	}
	if code, _ := s.do(t, "GET", "/v1/aggregates", s.ingt, nil); code != 403 {
		t.Fatalf("ingest token: %d, want 403", code)
	}
	if code, _, _ := runCLI(t, append([]string{"aggregates", "--from", "20-11-2026"}, api...)...); code != 2 {
		t.Fatalf("bad --from: exit %d, want 2", code)
	}
	s.stop(t)
	s = startServer(t, data)
	api = []string{"--url", "http://" + s.addr, "--token", s.admin}
	if got := read(); !want(got) {
		t.Fatalf("after a restart: %+v", got)
	}
	s.stop(t)
}
