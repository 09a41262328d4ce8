package rollup

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/rules"
)

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// appendEvents writes events to a real audit log the way the pipeline does (leaf = event
// without text).
func appendEvents(t *testing.T, l *audit.Log, evs []*event.Event) {
	t.Helper()
	recs := make([]audit.Record, len(evs))
	for i, ev := range evs {
		leaf, err := ev.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = audit.Record{ID: ev.ID, Leaf: leaf}
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func inference(id string, at time.Time, model string, latency float64, status string, cats ...string) *event.Event {
	ev := &event.Event{ID: id, Type: event.TypeInference, Time: at, Model: event.Model{Name: model},
		Request:  &event.Request{InputTokens: ptr[int64](10)},
		Response: &event.Response{Status: status, LatencyMS: ptr(latency), OutputTokens: ptr[int64](20)}, CostUSD: ptr(0.01)}
	if len(cats) > 0 {
		ev.Safety = &event.Safety{Action: "flag"}
		for _, c := range cats {
			ev.Safety.Triggers = append(ev.Safety.Triggers, event.Trigger{Category: c, Score: 0.9})
		}
	}
	return ev
}

// TestDailyAggregates: two days of traffic of two models through a real log give per-day,
// per-model volumes, latency quantiles within the sketch's 1%, safety counts and drift
// summaries; a restart after a crash between the day files and the position does not count
// anything twice; retention deletes old day files only.
func TestDailyAggregates(t *testing.T) {
	l, err := audit.Open(audit.DefaultOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var evs []*event.Event
	for i := range 1000 {
		at := day0.Add(time.Duration(i) * time.Minute) // 1000 minutes: all on day 0
		status := "ok"
		if i%100 == 0 {
			status = "error"
		}
		evs = append(evs, inference(fmt.Sprint("a", i), at, "bot-a", float64(i+1), status))
	}
	evs = append(evs,
		inference("b1", day0.Add(25*time.Hour), "bot-b", 40, "blocked", "prompt_injection"),
		inference("b2", day0.Add(26*time.Hour), "bot-b", 60, "ok", "pii", "pii"),
		&event.Event{ID: "acc", Type: event.TypeAccess, Time: day0.Add(27 * time.Hour), Model: event.Model{Name: "bot-b"}, Action: "invoke", Decision: "deny"},
	)
	appendEvents(t, l, evs)

	dir := t.TempDir()
	now := func() time.Time { return day0.Add(48 * time.Hour) }
	r, err := New(Options{Dir: dir, Log: l, Now: now, Retention: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.ObserveDetections([]rules.Detection{
		{Kind: "drift", Model: "bot-a", Time: day0.Add(time.Hour), Statistic: "psi", Value: 0.31},
		{Kind: "drift", Model: "bot-a", Time: day0.Add(2 * time.Hour), Statistic: "psi", Value: 0.52},
	})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	check := func(r *Rollup) {
		t.Helper()
		got, err := r.Days(day0, day0.Add(24*time.Hour), "")
		if err != nil || len(got) != 2 {
			t.Fatalf("Days: %+v %v", got, err)
		}
		a, b := got[0], got[1]
		if a.Date != "2026-03-02" || a.Model != "bot-a" || a.Events["inference"] != 1000 || a.Errors != 10 || a.InputTokens != 10_000 || a.OutputTokens != 20_000 || math.Abs(a.CostUSD-10) > 1e-6 {
			t.Errorf("bot-a day 0: %+v", a)
		}
		if a.Latency == nil || a.Latency.Count != 1000 || math.Abs(a.Latency.P95-950)/950 > 0.02 || math.Abs(a.Latency.P50-500)/500 > 0.02 {
			t.Errorf("bot-a latency: %+v", a.Latency)
		}
		if d := a.Drift["drift"]; d.Count != 2 || d.Max != 0.52 {
			t.Errorf("bot-a drift: %+v", a.Drift)
		}
		if b.Date != "2026-03-03" || b.Model != "bot-b" || b.Events["inference"] != 2 || b.Events["access"] != 1 || b.Blocked != 1 || b.Flagged != 2 || b.Safety["pii"] != 2 || b.Safety["prompt_injection"] != 1 {
			t.Errorf("bot-b day 1: %+v", b)
		}
		if only, _ := r.Days(day0, day0.Add(24*time.Hour), "bot-b"); len(only) != 1 || only[0].Model != "bot-b" {
			t.Errorf("model filter: %+v", only)
		}
	}
	check(r)

	// Crash after the day files were written but before the position: replaying from an older
	// position must skip what the day files already counted.
	if err := os.WriteFile(filepath.Join(dir, positionFile), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := New(Options{Dir: dir, Log: l, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(r2)
	if r2.Position() != uint64(len(evs)) {
		t.Fatalf("position %d, want %d", r2.Position(), len(evs))
	}

	// Retention: 24 h at day0+48h removes day 0 (which ended 24 h ago), not day 1.
	r3, err := New(Options{Dir: dir, Now: now, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r3.Prune(); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if got, _ := r3.Days(day0, day0.Add(24*time.Hour), ""); len(got) != 1 || got[0].Model != "bot-b" {
		t.Fatalf("after retention: %+v", got)
	}
	if _, err := r3.Days(day0.Add(24*time.Hour), day0, ""); err == nil {
		t.Fatal("to before from accepted")
	}
}
