package rules

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/event"
)

// resolveHarness drives an Engine and records what it raised and resolved, in order.
type resolveHarness struct {
	t      *testing.T
	e      *Engine
	fired  []alert.Alert
	clears []Resolution
	n      int
}

func newResolveHarness(t *testing.T, rs *RuleSet) *resolveHarness {
	t.Helper()
	h := &resolveHarness{t: t}
	e, err := New(rs, Options{Registerer: prometheus.NewRegistry(), Resolved: func(key string, at time.Time) {
		// Resolved runs without the engine lock: the callee may call back into the engine.
		if !h.e.mu.TryLock() {
			t.Errorf("Resolved(%s) called with the engine lock held", key)
		} else {
			h.e.mu.Unlock()
		}
		h.clears = append(h.clears, Resolution{DedupKey: key, At: at})
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

func (h *resolveHarness) inference(at time.Duration, model, status string, triggers int) {
	h.n++
	ev := &event.Event{ID: fmt.Sprintf("e%d", h.n), Type: event.TypeInference, Time: t0.Add(at), Environment: "prod",
		Model: event.Model{Name: model}, Actor: event.Actor{User: "u"}, Response: &event.Response{Status: status}}
	if triggers > 0 {
		ev.Safety = &event.Safety{Triggers: []event.Trigger{{Category: "pii", Score: 0.8, Role: "output"}}}
	}
	h.fired = append(h.fired, h.e.Observe(ev)...)
	h.fired = append(h.fired, h.e.Tick(ev.Time)...)
}

// traffic sends one inference on model every 5 s in [from, to); every errEvery-th one fails
// (0: none).
func (h *resolveHarness) traffic(model string, from, to time.Duration, errEvery int) {
	h.mixed(map[string]int{model: errEvery}, from, to)
}

// mixed is traffic on several models at once (model → errEvery), interleaved in time order.
func (h *resolveHarness) mixed(models map[string]int, from, to time.Duration) {
	names := slices.Sorted(maps.Keys(models))
	for i, at := 0, from; at < to; i, at = i+1, at+5*time.Second {
		for _, m := range names {
			status := "ok"
			if n := models[m]; n > 0 && i%n == 0 {
				status = "error"
			}
			h.inference(at, m, status, 0)
		}
	}
}

// ticks ticks every 10 s in [from, to].
func (h *resolveHarness) ticks(from, to time.Duration) {
	for at := from; at <= to; at += 10 * time.Second {
		h.fired = append(h.fired, h.e.Tick(t0.Add(at))...)
	}
}

func (h *resolveHarness) firedKeys(rule string) []string {
	var out []string
	for _, a := range h.fired {
		if a.RuleID == rule {
			out = append(out, a.DedupKey)
		}
	}
	return out
}

func (h *resolveHarness) clearedKeys(rule string) []string {
	var out []string
	for _, c := range h.clears {
		if strings.HasPrefix(c.DedupKey, rule+"|") {
			out = append(out, c.DedupKey)
		}
	}
	return out
}

const errorRateYAML = `
rules:
  - id: t.err
    severity: P2
    select: {types: [inference]}
    condition: response.status == 'error'
    aggregate: {kind: event_count, group_by: [event.model, event.environment], timespan: 5m, threshold: "> 5%%", for: 5m, min_count: 20}
    suppress: 30m%s
  - id: t.safety
    severity: P1
    select: {types: [inference]}
    condition: size(safety.triggers) > 0
    aggregate: {kind: event_count, group_by: [event.model], timespan: 1m, threshold: "> 10"}
    suppress: 10m
`

func TestAutoResolve(t *testing.T) {
	const (
		errKeyA = "t.err|a|prod"
		errKeyB = "t.err|b|prod"
	)
	tests := []struct {
		name    string
		optOut  bool
		run     func(h *resolveHarness)
		rule    string
		fired   []string
		cleared []string
		// clearedBy bounds the time of the (last) resolution, from t0
		clearedAfter, clearedBy time.Duration
	}{
		{
			name: "error rate fires, healthy traffic clears it once",
			run: func(h *resolveHarness) {
				h.traffic("a", 0, 7*time.Minute, 10) // 10% errors
				h.traffic("a", 7*time.Minute, 20*time.Minute, 0)
			},
			rule: "t.err", fired: []string{errKeyA}, cleared: []string{errKeyA},
			// One event in 10 fails until 7m (at 0s, 50s, … 6m40s); the 5m window holds 60
			// events, so the ratio is no longer above 5% once at most 3 errors are left in it:
			// from 9m10s (a 5 s bucket either way).
			clearedAfter: 9 * time.Minute, clearedBy: 9*time.Minute + 20*time.Second,
		},
		{
			name: "a group that never fired never resolves",
			run: func(h *resolveHarness) {
				h.traffic("b", 0, 7*time.Minute, 50) // 2% errors: under the threshold
				h.traffic("b", 7*time.Minute, 10*time.Minute, 0)
				h.ticks(10*time.Minute, 30*time.Minute)
			},
			rule: "t.err",
		},
		{
			name: "only the group that fired resolves",
			run: func(h *resolveHarness) {
				h.mixed(map[string]int{"a": 10, "b": 50}, 0, 7*time.Minute) // b: 2%, never fires
				h.mixed(map[string]int{"a": 0, "b": 0}, 7*time.Minute, 20*time.Minute)
			},
			rule: "t.err", fired: []string{errKeyA}, cleared: []string{errKeyA},
			clearedAfter: 9 * time.Minute, clearedBy: 9*time.Minute + 20*time.Second,
		},
		{
			name: "traffic stops: the window empties on Tick and clears",
			run: func(h *resolveHarness) {
				h.traffic("a", 0, 7*time.Minute, 10)
				h.ticks(7*time.Minute, 30*time.Minute)
			},
			rule: "t.err", fired: []string{errKeyA}, cleared: []string{errKeyA},
			// the last error is at 6m50s (at the latest): gone from the 5m window by 11m55s.
			clearedAfter: 7 * time.Minute, clearedBy: 12 * time.Minute,
		},
		{
			name: "a late event from before the breach does not clear it",
			run: func(h *resolveHarness) {
				h.traffic("a", 0, 7*time.Minute, 10)
				h.inference(0, "a", "ok", 0) // time t0: its window holds no error yet
				h.traffic("a", 7*time.Minute, 8*time.Minute, 10)
			},
			rule: "t.err", fired: []string{errKeyA},
		},
		{
			name: "errors persist: no resolution",
			run: func(h *resolveHarness) {
				h.traffic("a", 0, 20*time.Minute, 10)
				h.ticks(20*time.Minute, 21*time.Minute)
			},
			rule: "t.err", fired: []string{errKeyA},
		},
		{
			name:   "resolve: false opts out",
			optOut: true,
			run: func(h *resolveHarness) {
				h.traffic("a", 0, 7*time.Minute, 10)
				h.traffic("a", 7*time.Minute, 20*time.Minute, 0)
			},
			rule: "t.err", fired: []string{errKeyA},
		},
		{
			name: "a new breach after a resolution fires again and resolves again",
			run: func(h *resolveHarness) {
				h.traffic("a", 0, 7*time.Minute, 10)
				h.traffic("a", 7*time.Minute, 15*time.Minute, 0)
				// within the 30m suppression of the first alert: the resolution lifted it
				h.traffic("a", 15*time.Minute, 22*time.Minute, 5)
				h.traffic("a", 22*time.Minute, 35*time.Minute, 0)
			},
			rule: "t.err", fired: []string{errKeyA, errKeyA}, cleared: []string{errKeyA, errKeyA},
			clearedAfter: 22 * time.Minute, clearedBy: 27 * time.Minute,
		},
		{
			name: "count threshold without for clears as the window slides",
			run: func(h *resolveHarness) {
				for i := range 12 {
					h.inference(time.Duration(i)*2*time.Second, "a", "ok", 1)
				}
				h.ticks(30*time.Second, 3*time.Minute)
			},
			rule: "t.safety", fired: []string{"t.safety|a"}, cleared: []string{"t.safety|a"},
			// 12 triggers in [0s, 22s]: 10 or fewer are left in the 1m window from 62s on.
			clearedAfter: time.Minute, clearedBy: 90 * time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt := ""
			if tc.optOut {
				opt = "\n    resolve: false"
			}
			h := newResolveHarness(t, loadDir(t, false, map[string]string{"r.yaml": fmt.Sprintf(errorRateYAML, opt)}))
			tc.run(h)
			if got := h.firedKeys(tc.rule); !slices.Equal(got, tc.fired) {
				t.Fatalf("fired %v, want %v", got, tc.fired)
			}
			got := h.clearedKeys(tc.rule)
			if !slices.Equal(got, tc.cleared) {
				t.Fatalf("resolved %v, want %v", got, tc.cleared)
			}
			for _, a := range h.fired {
				if a.RuleID != tc.rule && len(h.clearedKeys(a.RuleID)) > 0 {
					t.Errorf("rule %s resolved in a case about %s", a.RuleID, tc.rule)
				}
			}
			if len(got) == 0 {
				return
			}
			at := h.clears[len(h.clears)-1].At.Sub(t0)
			if at < tc.clearedAfter || at > tc.clearedBy {
				t.Errorf("resolved at +%v, want within [+%v, +%v]", at, tc.clearedAfter, tc.clearedBy)
			}
			if n := counterValue(t, h.e.m.resolved.WithLabelValues(tc.rule)); int(n) != len(tc.cleared) {
				t.Errorf("warden_rules_resolved_total = %v, want %d", n, len(tc.cleared))
			}
		})
	}
}

func TestValueCountResolvesWhenValuesAgeOut(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"r.yaml": `
rules:
  - id: t.geos
    severity: P3
    select: {types: [access]}
    condition: event.decision == 'allow'
    aggregate: {kind: value_count, field: source.geo, group_by: [actor.id], timespan: 1h, threshold: ">= 3"}
`})
	h := newResolveHarness(t, rs)
	for i, g := range []string{"DE", "FR", "KP", "DE"} {
		ev := &event.Event{ID: fmt.Sprint(i), Type: event.TypeAccess, Time: t0.Add(time.Duration(i) * time.Minute), Actor: event.Actor{User: "a"},
			Source: event.Source{Geo: g}, Action: "invoke", Decision: "allow"}
		h.fired = append(h.fired, h.e.Observe(ev)...)
	}
	if got := h.firedKeys("t.geos"); !slices.Equal(got, []string{"t.geos|a"}) {
		t.Fatalf("fired %v", got)
	}
	// DE is refreshed at 3m; FR (1m) leaves the window at 1h1m, leaving 2 distinct values.
	h.ticks(time.Hour, time.Hour+50*time.Second)
	if len(h.clears) != 0 {
		t.Fatalf("resolved while 3 geographies are in the window: %v", h.clears)
	}
	h.ticks(time.Hour+time.Minute, time.Hour+5*time.Minute)
	if len(h.clears) != 1 || h.clears[0].DedupKey != "t.geos|a" || h.clears[0].At.After(t0.Add(time.Hour+time.Minute+10*time.Second)) {
		t.Fatalf("resolutions %v, want one for t.geos|a at about +1h1m", h.clears)
	}
}

func TestResolveKeyIsTheAlertsDedupKey(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	h := newResolveHarness(t, rs)
	h.traffic("support-bot", 0, 7*time.Minute, 10)
	h.ticks(7*time.Minute, 20*time.Minute)
	keys := h.firedKeys("warden.ops.error_rate")
	if len(keys) != 1 || keys[0] != "warden.ops.error_rate|support-bot|prod" {
		t.Fatalf("error_rate fired %v", keys)
	}
	if got := h.clearedKeys("warden.ops.error_rate"); !slices.Equal(got, keys) {
		t.Fatalf("resolved %v, want exactly the alert's dedup key %v", got, keys)
	}
}

func TestSnapshotKeepsOpenGroups(t *testing.T) {
	rs := loadDir(t, false, map[string]string{"r.yaml": fmt.Sprintf(errorRateYAML, "")})
	a := newResolveHarness(t, rs)
	a.traffic("a", 0, 7*time.Minute, 10)
	if len(a.firedKeys("t.err")) != 1 {
		t.Fatal("did not fire")
	}
	var buf bytes.Buffer
	if err := a.e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"open":{"t.err":[{"k":"a|prod"`) {
		t.Fatalf("snapshot lacks the open group: %s", buf.String())
	}

	tests := []struct {
		name string
		run  func(h *resolveHarness)
		want []string
	}{
		{
			name: "traffic stopped: resolves once a timespan has passed",
			run: func(h *resolveHarness) {
				h.ticks(7*time.Minute, 11*time.Minute+50*time.Second) // window not rebuilt yet
				if len(h.clears) != 0 {
					h.t.Fatalf("resolved before the window was rebuilt: %v", h.clears)
				}
				h.ticks(12*time.Minute, 13*time.Minute)
			},
			want: []string{"t.err|a|prod"},
		},
		{
			name: "a few healthy events after the restart do not resolve a half-seen window",
			run: func(h *resolveHarness) {
				h.traffic("a", 7*time.Minute, 8*time.Minute, 0)
			},
		},
		{
			name: "healthy traffic resolves once the window is rebuilt",
			run: func(h *resolveHarness) {
				h.traffic("a", 7*time.Minute, 13*time.Minute, 0)
			},
			want: []string{"t.err|a|prod"},
		},
		{
			name: "errors continue: still open",
			run: func(h *resolveHarness) {
				h.traffic("a", 7*time.Minute, 20*time.Minute, 10)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newResolveHarness(t, rs)
			if err := b.e.Restore(bytes.NewReader(buf.Bytes())); err != nil {
				t.Fatal(err)
			}
			tc.run(b)
			if got := b.clearedKeys("t.err"); !slices.Equal(got, tc.want) {
				t.Fatalf("resolved %v, want %v", got, tc.want)
			}
			if len(tc.want) > 0 && len(b.firedKeys("t.err")) > 0 {
				t.Errorf("re-fired after restore: %v", b.firedKeys("t.err"))
			}
		})
	}
}

func TestResolveOptionChecked(t *testing.T) {
	dir := t.TempDir()
	body := `rules:
  - id: per-event
    severity: P3
    select: {types: [inference]}
    condition: "true"
    resolve: true
  - id: seq
    severity: P3
    select: {types: [access]}
    resolve: true
    aggregate:
      kind: temporal
      timespan: 1m
      steps: [{condition: "true"}, {condition: "true"}]
  - id: off
    severity: P3
    select: {types: [inference]}
    condition: "true"
    resolve: false
`
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	joined := fmt.Sprint(Check(dir))
	for _, want := range []string{`r.yaml:2: rule "per-event": resolve: true applies to`, `r.yaml:7: rule "seq": resolve: true applies to`} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors lack %q: %s", want, joined)
		}
	}
	if strings.Contains(joined, `"off"`) {
		t.Errorf("resolve: false rejected: %s", joined)
	}
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Rules {
		want := r.Aggregated() && (r.spec.Aggregate.Kind == KindEventCount || r.spec.Aggregate.Kind == KindValueCount) ||
			!r.Aggregated() && recovers(r.spec.Select)
		if r.Resolves() != want {
			t.Errorf("%s: Resolves() = %v, want %v", r.ID, r.Resolves(), want)
		}
	}
}

func TestRunTestPrintsResolutions(t *testing.T) {
	f, err := os.Open("testdata/scenarios/warden.ops.error_rate/resolve.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := RunTest(context.Background(), "", true, f, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	fire := strings.Index(s, "\twarden.ops.error_rate\tP2\t")
	res := strings.Index(s, "\tresolved\twarden.ops.error_rate\twarden.ops.error_rate|support-bot|prod\n")
	if fire < 0 || res < fire {
		t.Fatalf("want the firing, then its resolution:\n%s", s)
	}
	if !strings.Contains(s, "1 resolved\n") || !strings.Contains(s, "  warden.ops.error_rate\t1\tresolved 1\n") {
		t.Errorf("counts lack the resolution:\n%s", s)
	}
}

// TestRecoveryResolvesOnlyItsOwnCondition: the built-in fairness rules share one detection kind
// and the disparate-impact rule keys its alert by model alone. When the calibration gap of a
// model recovers while its disparate impact is still below 0.8, only the calibration alert
// resolves (the demo showed the disparate-impact alert fire and resolve in the same second);
// the disparate-impact alert resolves when its own metric recovers. Drift alerts, raised on one
// statistic and recovered on another (every statistic is judged per window), still resolve.
func TestRecoveryResolvesOnlyItsOwnCondition(t *testing.T) {
	h := newResolveHarness(t, loadDir(t, true, nil))
	det := func(at time.Duration, kind, feature, stat string, value, thr float64, recovered bool) {
		h.fired = append(h.fired, h.e.ObserveDetection(Detection{Kind: kind, Model: "churn", Time: t0.Add(at), Feature: feature,
			Statistic: stat, Value: value, Threshold: thr, Recovered: recovered})...)
	}
	det(0, "fairness", "region", "disparate_impact", 0.60, 0.8, false)
	det(0, "fairness", "region", "calibration", 0.18, 0.05, false)
	if len(h.firedKeys("warden.ops.bias_ratio")) != 1 || len(h.firedKeys("warden.ops.fairness")) != 1 {
		t.Fatalf("fired %v", h.fired)
	}
	det(time.Minute, "fairness", "region", "calibration", 0.02, 0.05, true)
	if got := h.clearedKeys("warden.ops.fairness"); len(got) != 1 {
		t.Errorf("calibration recovered: fairness alerts cleared %v, want the calibration alert", got)
	}
	if got := h.clearedKeys("warden.ops.bias_ratio"); len(got) != 0 {
		t.Fatalf("the calibration gap's recovery resolved the disparate-impact alert %v", got)
	}
	det(2*time.Minute, "fairness", "region", "disparate_impact", 0.91, 0.8, true)
	if got := h.clearedKeys("warden.ops.bias_ratio"); len(got) != 1 {
		t.Errorf("disparate impact recovered: cleared %v, want the bias_ratio alert", got)
	}

	// Drift: raised on PSI, later windows drift on KS first, then the feature recovers.
	det(3*time.Minute, "drift", "tenure", "psi", 0.9, 0.2, false)
	det(4*time.Minute, "drift", "tenure", "ks_d", 0.3, 0.1, false)
	det(5*time.Minute, "drift", "tenure", "ks_d", 0.04, 0.1, true)
	if fired, got := h.firedKeys("warden.ops.drift"), h.clearedKeys("warden.ops.drift"); len(fired) != 1 || len(got) != 1 {
		t.Errorf("drift fired %v and cleared %v, want one of each", fired, got)
	}
}
