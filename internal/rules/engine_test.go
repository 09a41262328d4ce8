package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func loadDir(t *testing.T, builtin bool, files map[string]string) *RuleSet {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := Load(builtin, dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rs
}

func injection(id string, at time.Time, model, user string, score float64) *event.Event {
	return &event.Event{ID: id, Type: event.TypeInference, Time: at, Environment: "prod", Model: event.Model{Name: model},
		Actor: event.Actor{User: user}, Response: &event.Response{Status: "ok"},
		Safety: &event.Safety{Triggers: []event.Trigger{{Detector: "injection.heuristic", Category: "prompt_injection", Score: score, Role: "input"}}}}
}

func TestInjectionSeverityByConfidenceAndTier(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	inv := map[string]config.Model{
		"crit": {Name: "crit", RiskTier: "critical"}, "high": {Name: "high", RiskTier: "high"},
		"med": {Name: "med", RiskTier: "medium"}, "low": {Name: "low", RiskTier: "low"},
	}
	tests := []struct {
		model string
		score float64
		want  alert.Severity // "" = no alert
	}{
		{"crit", 0.95, alert.P1}, {"high", 0.9, alert.P1}, {"med", 0.95, alert.P2}, {"crit", 0.75, alert.P2},
		{"low", 0.75, alert.P3}, {"unregistered", 0.6, alert.P3}, {"crit", 0.4, ""},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s/%.2f", tc.model, tc.score), func(t *testing.T) {
			e, err := New(rs, Options{Models: func(n string) (config.Model, bool) { m, ok := inv[n]; return m, ok }})
			if err != nil {
				t.Fatal(err)
			}
			var got []alert.Alert
			for _, a := range e.Observe(injection(fmt.Sprint(i), t0, tc.model, "mallory", tc.score)) {
				if a.RuleID == "warden.sec.prompt_injection" {
					got = append(got, a)
				}
			}
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("fired: %+v", got[0])
				}
				return
			}
			if len(got) != 1 || got[0].Severity != tc.want {
				t.Fatalf("got %+v, want one alert at %s", got, tc.want)
			}
			a := got[0]
			if a.Values["trigger.prompt_injection"] != tc.score || a.EventIDs[0] != fmt.Sprint(i) || a.Actor != "mallory" || a.Model != tc.model {
				t.Errorf("evidence: %+v", a)
			}
		})
	}
}

func TestSuppressionAndActions(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"r.yaml": `
rules:
  - id: t.block
    severity: P2
    select: {types: [inference]}
    condition: has_trigger('prompt_injection')
    suppress: 10m
    actions: [{type: alert}, {type: suspend_key, ttl: 1h}]
`})
	var calls []string
	reg := prometheus.NewRegistry()
	e, err := New(rs, Options{Registerer: reg, Actions: func(a alert.Alert, acts []Action) {
		calls = append(calls, a.RuleID+":"+acts[0].String())
	}})
	if err != nil {
		t.Fatal(err)
	}
	fired := 0
	for i, at := range []time.Duration{0, time.Minute, 9 * time.Minute, 11 * time.Minute} {
		fired += len(e.Observe(injection(fmt.Sprint(i), t0.Add(at), "m", "u", 0.9)))
	}
	if fired != 2 {
		t.Fatalf("fired %d times, want 2 (one per 10m suppression window)", fired)
	}
	if len(calls) != 2 || calls[0] != "t.block:suspend_key ttl=1h0m0s" {
		t.Fatalf("containment calls %v", calls)
	}
	if got := counterValue(t, e.m.suppressed.WithLabelValues("t.block")); got != 2 {
		t.Errorf("suppressed counter %v, want 2", got)
	}
	// A different actor is a different dedup key.
	if len(e.Observe(injection("x", t0.Add(12*time.Minute), "m", "other", 0.9))) != 1 {
		t.Error("another actor was suppressed")
	}
}

func TestForDurationFiresOnTick(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"r.yaml": `
rules:
  - id: t.errors
    severity: P2
    select: {types: [inference]}
    condition: response.status == 'error'
    aggregate: {kind: event_count, group_by: [event.model], timespan: 5m, threshold: "> 50%", for: 2m, min_count: 2}
`})
	e, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(i int, at time.Duration, status string) *event.Event {
		return &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: t0.Add(at), Model: event.Model{Name: "m"}, Response: &event.Response{Status: status}}
	}
	for i := range 4 {
		if a := e.Observe(ev(i, time.Duration(i)*time.Second, "error")); len(a) > 0 {
			t.Fatalf("fired before the for duration: %+v", a)
		}
	}
	if a := e.Tick(t0.Add(time.Minute)); len(a) != 0 {
		t.Fatalf("fired after 1m: %+v", a)
	}
	a := e.Tick(t0.Add(2*time.Minute + 5*time.Second))
	if len(a) != 1 {
		t.Fatalf("Tick after 2m: %d alerts, want 1", len(a))
	}
	if a[0].Values["ratio"] != 1 || a[0].Values["count"] != 4 || len(a[0].EventIDs) != 4 || !a[0].FirstEvent.Equal(t0) {
		t.Errorf("values %+v ids %v first %v", a[0].Values, a[0].EventIDs, a[0].FirstEvent)
	}
	// After the window empties the condition no longer holds.
	if a := e.Tick(t0.Add(30 * time.Minute)); len(a) != 0 {
		t.Fatalf("fired on an empty window: %+v", a)
	}
}

func TestValueCountAndTemporal(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"r.yaml": `
lists:
  risky_geos: [KP, IR]
macros:
  from_risky: source.geo in risky_geos
rules:
  - id: t.geos
    severity: P3
    select: {types: [access]}
    condition: event.decision == 'allow'
    aggregate: {kind: value_count, field: source.geo, group_by: [actor.id], timespan: 1h, threshold: ">= 3"}
    summary: "{actor.id} from {distinct} geographies"
  - id: t.both
    severity: P2
    select: {types: [access]}
    aggregate:
      kind: temporal
      group_by: [actor.id]
      timespan: 10m
      steps:
        - {name: risky, condition: from_risky}
        - {name: export, condition: "event.action == 'export_data'"}
`})
	e, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	acc := func(i int, at time.Duration, user, geo, action string) *event.Event {
		return &event.Event{ID: fmt.Sprint(i), Type: event.TypeAccess, Time: t0.Add(at), Actor: event.Actor{User: user},
			Source: event.Source{Geo: geo}, Action: action, Decision: "allow"}
	}
	var got []alert.Alert
	got = append(got, e.Observe(acc(1, 0, "a", "DE", "invoke"))...)
	got = append(got, e.Observe(acc(2, time.Minute, "a", "DE", "invoke"))...)
	got = append(got, e.Observe(acc(3, 2*time.Minute, "a", "FR", "invoke"))...)
	if len(got) != 0 {
		t.Fatalf("early alert %+v", got)
	}
	got = e.Observe(acc(4, 3*time.Minute, "a", "KP", "invoke"))
	if len(got) != 1 || got[0].RuleID != "t.geos" || got[0].Summary != "a from 3 geographies" {
		t.Fatalf("value_count: %+v", got)
	}
	got = e.Observe(acc(5, 5*time.Minute, "a", "DE", "export_data"))
	if len(got) != 1 || got[0].RuleID != "t.both" || got[0].Values["risky"] != 1 || got[0].Values["export"] != 1 {
		t.Fatalf("temporal: %+v", got)
	}
	// Outside the 10m timespan the steps no longer combine.
	e.Observe(acc(6, time.Hour, "b", "IR", "invoke"))
	if got := e.Observe(acc(7, time.Hour+11*time.Minute, "b", "DE", "export_data")); len(got) != 0 {
		t.Fatalf("temporal across the timespan: %+v", got)
	}
}

func TestUserRuleUsesBuiltinMacrosAndReplaces(t *testing.T) {
	rs := loadDir(t, true, map[string]string{"r.yaml": `
rules:
  - id: warden.sec.shadow_ai
    enabled: false
  - id: warden.sec.system_prompt_leak
    replace: true
    severity: P1
    select: {types: [inference]}
    condition: has_trigger('system_prompt_leak') && high_impact_model
`})
	for _, r := range rs.Rules {
		if r.ID == "warden.sec.shadow_ai" {
			t.Error("disabled rule still loaded")
		}
		if r.ID == "warden.sec.system_prompt_leak" && r.Severity != alert.P1 {
			t.Error("replacement not applied")
		}
	}
}

func TestStateIsBounded(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"r.yaml": `
rules:
  - id: t.geo
    severity: P3
    select: {types: [access]}
    condition: first_seen(actor.id, source.geo)
  - id: t.count
    severity: P3
    select: {types: [access]}
    condition: "true"
    aggregate: {kind: event_count, group_by: [actor.id], timespan: 1m, threshold: "> 100"}
`})
	reg := prometheus.NewRegistry()
	e, err := New(rs, Options{Registerer: reg, MaxKeys: 100, MaxGroups: 50})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		e.Observe(&event.Event{ID: fmt.Sprint(i), Type: event.TypeAccess, Time: t0.Add(time.Duration(i) * time.Millisecond),
			Actor: event.Actor{User: fmt.Sprintf("u%d", i)}, Source: event.Source{Geo: "DE"}, Action: "invoke", Decision: "allow"})
	}
	if n := e.st.seen.len(); n > 100 {
		t.Errorf("first_seen keeps %d keys, cap 100", n)
	}
	for _, r := range e.rules {
		if r.groups != nil && r.groups.len() > 50 {
			t.Errorf("%s keeps %d windows, cap 50", r.ID, r.groups.len())
		}
	}
	if got := counterValue(t, e.m.dropped.WithLabelValues("first_seen")); got != 900 {
		t.Errorf("dropped first_seen = %v, want 900", got)
	}
}

func TestExpandMacrosSkipsStringsAndFields(t *testing.T) {
	x := &expander{macros: map[string]string{"m": "a == 1", "n": "m || b"}}
	got, err := x.expand(`n && event.m == 'm' && m`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `((a == 1) || b) && event.m == 'm' && (a == 1)`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	x = &expander{macros: map[string]string{"a": "b", "b": "a"}}
	if _, err := x.expand("a"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: err = %v", err)
	}
}

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		x    float64
		want bool
		bad  bool
	}{
		{"> 5%", 0.06, true, false}, {"> 5%", 0.05, false, false}, {">= 10", 10, true, false}, {"< 0.8", 0.79, true, false},
		{"== 3", 3, true, false}, {"5", 0, false, true}, {"> five", 0, false, true}, {"=> 4", 0, false, true},
	}
	for _, tc := range tests {
		th, err := ParseThreshold(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if err == nil && th.Holds(tc.x) != tc.want {
			t.Errorf("%q holds(%v) = %v", tc.in, tc.x, !tc.want)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestExpandMacrosBounded(t *testing.T) {
	m := map[string]string{}
	for i := range 15 {
		m[fmt.Sprintf("m%d", i)] = fmt.Sprintf("m%d && m%d", i+1, i+1)
	}
	m["m15"] = "true"
	x := &expander{macros: m}
	if _, err := x.expand("m0"); err == nil || !strings.Contains(err.Error(), "expanded") {
		t.Fatalf("err = %v, want the expansion bound", err)
	}
}

func TestVariablesFitCache(t *testing.T) {
	if len(vars) > numVars {
		t.Fatalf("%d variables, cache holds %d: raise numVars", len(vars), numVars)
	}
}

func TestSnapshotRestoreKeepsLearnedState(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	geo := func(id string, at time.Duration, g string) *event.Event {
		return &event.Event{ID: id, Type: event.TypeAccess, Time: t0.Add(at), Environment: "prod", Model: event.Model{Name: "m"},
			Actor: event.Actor{User: "alice"}, Source: event.Source{Geo: g}, Action: "invoke", Decision: "allow"}
	}
	a, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a.Observe(geo(fmt.Sprint(i), time.Duration(i)*time.Hour, "DE"))
	}
	a.Observe(injection("inj", t0.Add(2*time.Hour), "m", "bob", 0.95))
	var buf strings.Builder
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}

	b, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	got := b.Observe(geo("new", 48*time.Hour, "KP"))
	if len(got) != 1 || got[0].RuleID != "warden.sec.first_seen_geo" {
		t.Fatalf("after restore, a new geography gave %+v", got)
	}
	if got := b.Observe(injection("inj2", t0.Add(2*time.Hour+time.Minute), "m", "bob", 0.95)); len(got) != 0 {
		t.Fatalf("suppression window lost on restore: %+v", got)
	}
	if err := b.Restore(strings.NewReader(`{"version": 99}`)); err == nil {
		t.Fatal("restored a snapshot of another version")
	}
}

func TestShadowAIDedupsPerModelAndNeedsAnInventory(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	inf := func(id, model, user string) *event.Event {
		return &event.Event{ID: id, Type: event.TypeInference, Time: t0, Environment: "prod", Model: event.Model{Name: model},
			Actor: event.Actor{User: user}, Response: &event.Response{Status: "ok"}}
	}
	count := func(e *Engine) int {
		n := 0
		for i, u := range []string{"a", "b", "c"} {
			for _, a := range e.Observe(inf(fmt.Sprint(i), "rogue-llm", u)) {
				if a.RuleID == "warden.sec.shadow_ai" {
					n++
				}
			}
		}
		return n
	}
	lookup := func(string) (config.Model, bool) { return config.Model{}, false }
	e, _ := New(rs, Options{Models: lookup, InventoryConfigured: func() bool { return true }})
	if n := count(e); n != 1 {
		t.Errorf("shadow AI alerts for 3 users of one model: %d, want 1", n)
	}
	e, _ = New(rs, Options{Models: lookup, InventoryConfigured: func() bool { return false }})
	if n := count(e); n != 0 {
		t.Errorf("shadow AI fired without an inventory: %d", n)
	}
}

// TestSnapshotCarriesWindows: an event_count window split by a snapshot (a partition handed to
// another worker) counts on: the engine restored from it fires at the threshold, once; one
// that starts empty does not.
func TestSnapshotCarriesWindows(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"w.yaml": `rules:
  - id: t.volume
    severity: P3
    select: {types: [inference]}
    condition: "true"
    aggregate: {kind: event_count, group_by: [event.model], timespan: 1h, threshold: ">= 10"}
  - id: t.steps
    severity: P3
    select: {types: [inference]}
    condition: "true"
    aggregate:
      kind: temporal
      group_by: [event.model]
      timespan: 1h
      steps: [{name: a, condition: "actor.id == 'a'", count: 3}, {name: b, condition: "actor.id == 'b'", count: 3}]
`})
	inf := func(i int, user string) *event.Event {
		return &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: t0.Add(time.Duration(i) * time.Second), Environment: "prod",
			Model: event.Model{Name: "m"}, Actor: event.Actor{User: user}, Response: &event.Response{Status: "ok"}}
	}
	a, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if got := a.Observe(inf(i, "a")); len(got) != 0 {
			t.Fatalf("fired before the threshold: %+v", got)
		}
	}
	var buf strings.Builder
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	fired := func(e *Engine) map[string]int {
		n := map[string]int{}
		for i := 6; i < 12; i++ {
			for _, al := range e.Observe(inf(i, "b")) {
				n[al.RuleID]++
			}
		}
		return n
	}
	b, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	if got := fired(b); got["t.volume"] != 1 || got["t.steps"] != 1 {
		t.Fatalf("restored engine: alerts %v, want t.volume and t.steps once each", got)
	}
	c, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fired(c); len(got) != 0 {
		t.Fatalf("an engine without the snapshot fired %v (the control must not)", got)
	}
}
