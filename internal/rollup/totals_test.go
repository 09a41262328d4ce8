package rollup

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
)

// TestTotals: whole days summed per model with probe traffic left out, access decisions
// counted (with and without a model), latency p95 from the merged sketches, and a day file of
// an older version (no access counts) reported as incomplete.
func TestTotals(t *testing.T) {
	l, err := audit.Open(audit.DefaultOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var evs []*event.Event
	for i := range 200 { // day 0: latencies 1..100, day 1: 101..200 → p95 of both ≈ 190
		status := "ok"
		if i%50 == 0 {
			status = "error"
		}
		evs = append(evs, inference(fmt.Sprint("i", i), day0.Add(time.Duration(i)*12*time.Minute), "bot", float64(i+1), status))
	}
	probe := inference("p1", day0.Add(time.Hour), "bot", 5000, "blocked")
	probe.Actor = event.Actor{ServiceAccount: event.ProbeServiceAccount, User: event.ProbeServiceAccount}
	probe.Attributes = map[string]any{event.AttrProbeRun: "run-1"}
	evs = append(evs, probe,
		&event.Event{ID: "a1", Type: event.TypeAccess, Time: day0.Add(2 * time.Hour), Action: "invoke", Decision: "allow"},
		&event.Event{ID: "a2", Type: event.TypeAccess, Time: day0.Add(3 * time.Hour), Action: "download_weights", Decision: "allow", Privilege: "elevated"},
		&event.Event{ID: "a3", Type: event.TypeAccess, Time: day0.Add(26 * time.Hour), Model: event.Model{Name: "bot"}, Action: "invoke", Decision: "allow", Privilege: "elevated", ApprovalID: "CHG-1"},
		&event.Event{ID: "a4", Type: event.TypeAccess, Time: day0.Add(27 * time.Hour), Action: "export_data", Decision: "deny"},
		inference("late", day0.Add(72*time.Hour), "bot", 1, "ok"), // outside the range
	)
	appendEvents(t, l, evs)
	dir := t.TempDir()
	r, err := New(Options{Dir: dir, Log: l, Now: func() time.Time { return day0.Add(96 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	tot, err := r.Totals(day0, day0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(tot.Models) != 1 {
		t.Fatalf("models: %+v", tot.Models)
	}
	m := tot.Models[0]
	if m.Model != "bot" || m.Inference != 200 || m.Errors != 4 || m.Blocked != 0 || math.Abs(m.CostUSD-2) > 1e-6 || math.Abs(m.LatencyP95Ms-190)/190 > 0.03 {
		t.Errorf("bot: %+v", m)
	}
	if tot.Access != (AccessTotal{Total: 4, Allowed: 3, Denied: 1, Compliant: 2}) {
		t.Errorf("access: %+v", tot.Access)
	}
	for _, bad := range [][2]time.Time{{day0.Add(time.Hour), day0.Add(48 * time.Hour)}, {day0, day0}, {day0.Add(24 * time.Hour), day0}} {
		if _, err := r.Totals(bad[0], bad[1]); err == nil {
			t.Errorf("Totals(%s, %s) accepted", bad[0], bad[1])
		}
	}
	// A day file from before access counting: the caller must ask the index.
	old := `{"date":"2026-02-01","through":0,"models":{"bot":{"events":{"inference":3}}}}`
	if err := os.WriteFile(filepath.Join(dir, "2026-02-01.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Totals(day0.Add(-30*24*time.Hour), day0.Add(24*time.Hour)); !errors.Is(err, ErrIncomplete) {
		t.Errorf("older day file: %v, want ErrIncomplete", err)
	}
}
