package rules

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
)

// benchEvents is a mixed stream: mostly clean inference, some with findings and errors, plus
// access and pipeline events, over 200 actors and 5 models.
func benchEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	models := []string{"support-bot", "fraud-model", "faq-bot", "search", "unknown-llm"}
	for i := range evs {
		at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 10 * time.Millisecond)
		ev := &event.Event{ID: fmt.Sprintf("e%d", i), Time: at, Environment: "prod", Model: event.Model{Name: models[i%len(models)]},
			Actor: event.Actor{User: fmt.Sprintf("user-%d", i%200), Roles: []string{"analyst"}}, Source: event.Source{Geo: []string{"DE", "FR", "US"}[i%3]}}
		switch {
		case i%20 == 19:
			ev.Type, ev.Action, ev.Decision, ev.Resource, ev.Records = event.TypeAccess, "export_data", "allow", "crm", int64(100+i%50)
		case i%50 == 49:
			ev.Type, ev.Stage, ev.Action = event.TypePipeline, "deployment", "config_changed"
			ev.Artifact = &event.Artifact{SHA256: fmt.Sprintf("%064x", i%3)}
		default:
			ev.Type = event.TypeInference
			lat := float64(100 + i%300)
			ev.Response = &event.Response{Status: "ok", LatencyMS: &lat}
			if i%97 == 0 {
				ev.Response.Status = "error"
			}
			if i%13 == 0 {
				ev.Safety = &event.Safety{Triggers: []event.Trigger{{Category: "pii", Score: 0.8, Role: "output"}}}
			}
		}
		evs[i] = ev
	}
	return evs
}

// BenchmarkObserveBuiltinPack measures the whole built-in pack per event (goal ≥ 100,000 events/s
// per core, i.e. ≤ 10 µs/op).
func BenchmarkObserveBuiltinPack(b *testing.B) {
	rs, err := Load(true)
	if err != nil {
		b.Fatal(err)
	}
	inv := map[string]config.Model{
		"support-bot": {RiskTier: "high", Sensitivity: "internal"}, "fraud-model": {RiskTier: "critical", Sensitivity: "restricted"},
		"faq-bot": {RiskTier: "low", Sensitivity: "public"}, "search": {RiskTier: "medium", Sensitivity: "internal"},
	}
	e, err := New(rs, Options{Models: func(n string) (config.Model, bool) { m, ok := inv[n]; return m, ok }})
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(1 << 14)
	i := 0
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		ev := evs[i%len(evs)]
		// keep time moving forward so windows roll as they would live
		ev.Time = ev.Time.Add(time.Duration(i/len(evs)) * 3 * time.Minute)
		e.Observe(ev)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		// events per CPU-second: the per-core rate, independent of other load on the machine
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
}

// BenchmarkTickOpenGroups measures one Tick over 1,000 groups whose error-rate alert fired and
// has not cleared (the window still breaches, so every Tick judges all of them).
func BenchmarkTickOpenGroups(b *testing.B) {
	rs, err := Load(true)
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(rs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for s := time.Duration(0); s < 10*time.Minute; s += 10 * time.Second {
		for m := range 1000 {
			ev := &event.Event{Type: event.TypeInference, Time: t0.Add(s), Environment: "prod", Model: event.Model{Name: fmt.Sprintf("m%d", m)},
				Response: &event.Response{Status: "error"}}
			e.Observe(ev)
		}
	}
	now := t0.Add(10 * time.Minute)
	e.Tick(now)
	rule := e.rules[slices.IndexFunc(e.rules, func(c *compiled) bool { return c.ID == "warden.ops.error_rate" })]
	if n := rule.open.len(); n != 1000 {
		b.Fatalf("%d open groups, want 1000", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Tick(now)
	}
}
