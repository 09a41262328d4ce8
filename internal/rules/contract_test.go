package rules

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/detection"
)

// TestContractEveryKindHasARule enumerates the detection registry: every kind a detector emits
// must reach at least one built-in rule (else the detection is silent), and every built-in rule
// that selects detections reads only values and statistics its kinds have (Load checks that;
// this test makes the pack fail when it does not).
func TestContractEveryKindHasARule(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatalf("built-in pack breaks the detection contract: %v", err)
	}
	covered := map[string][]string{}
	for _, r := range rs.Rules {
		for _, k := range r.spec.Select.Kinds {
			covered[k] = append(covered[k], r.ID)
		}
	}
	for _, sc := range detection.Schemas() {
		k := sc.Kind
		if sc.Informational {
			continue
		}
		if sc.CoveredBy != "" {
			if !slices.ContainsFunc(rs.Rules, func(r *Rule) bool { return r.ID == sc.CoveredBy }) {
				t.Errorf("detection kind %q names %s as its covering rule, which is not in the pack", k, sc.CoveredBy)
			}
			continue
		}
		if len(covered[k]) == 0 {
			t.Errorf("detection kind %q has no built-in rule: its detections never alert", k)
		}
	}
	for k := range covered {
		if _, ok := detection.Lookup(k); !ok {
			t.Errorf("rules select kind %q, which no detector registers", k)
		}
	}
}

// TestContractRefusesUnknownFields: a rule reading a value, statistic or summary placeholder its
// kinds do not have, or selecting an unknown kind, is refused at load with file:line.
func TestContractRefusesUnknownFields(t *testing.T) {
	cases := []struct {
		name, rule, want string
	}{
		{"value typo", `condition: detection.value > 1.5 * detection.values['baseline']`, `detection.values["baseline"]: no selected kind (cost_spike)`},
		{"in operator", `condition: "'baseline' in detection.values"`, `detection.values["baseline"]`},
		{"field select", `condition: detection.values.today > 1.0`, `detection.values["today"]`},
		{"statistic", `condition: detection.statistic == 'ratio'`, `detection.statistic "ratio"`},
		{"statistic list", `condition: detection.statistic in ['daily_cost_ratio', 'psi']`, `detection.statistic "psi"`},
		{"summary", "condition: \"true\"\n    summary: \"{baseline} USD\"", `summary: {baseline} is not a value`},
		{"unknown kind", "condition: \"true\"\n    select: {types: [detection], kinds: [cost_spikes]}", `select.kinds: "cost_spikes" is not a detection kind`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sel := "    select: {types: [detection], kinds: [cost_spike]}\n"
			if strings.Contains(tc.rule, "select:") {
				sel = ""
			}
			body := "rules:\n  - id: my.rule\n    severity: P3\n" + sel + "    " + tc.rule + "\n"
			if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			errs := Check(dir)
			if len(errs) == 0 {
				t.Fatalf("accepted:\n%s", body)
			}
			msg := errors.Join(errs...).Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, filepath.Join(dir, "r.yaml")+":2:") {
				t.Fatalf("error %q: want %q with file:line", msg, tc.want)
			}
		})
	}
	// The correct spelling loads.
	dir := t.TempDir()
	ok := "rules:\n  - id: my.rule\n    severity: P3\n    select: {types: [detection], kinds: [cost_spike]}\n" +
		"    condition: detection.statistic == 'daily_cost_ratio' && detection.values['today_usd'] > 2.0 * detection.values['trailing_daily_avg_usd']\n" +
		"    summary: \"{today_usd} USD\"\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	if errs := Check(dir); len(errs) > 0 {
		t.Fatalf("correct rule refused: %v", errs)
	}
}

// TestReplayRefusesOffContractDetections: a replayed detection with a value its kind does not
// have is an input error naming the line and field.
func TestReplayRefusesOffContractDetections(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	in := `{"detection":{"kind":"cost_spike","statistic":"daily_cost_ratio","time":"2026-03-02T10:00:00Z","model":"m","value":2,"values":{"baseline":1}}}`
	_, err = Replay(t.Context(), rs, Options{}, strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 1: detection.values.baseline") {
		t.Fatalf("err = %v", err)
	}
}

// TestEveryCountingRuleHasAMinimumVolume: a built-in rule that counts never fires on a handful of
// events — a ratio needs min_count ≥ 5 selected events, an absolute count a threshold of ≥ 5
// matches (or min_count ≥ 5).
func TestEveryCountingRuleHasAMinimumVolume(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Rules {
		a := r.spec.Aggregate
		if a == nil || (a.Kind != KindEventCount && a.Kind != KindValueCount) {
			continue
		}
		least := float64(a.MinCount)
		if !r.threshold.Percent && (r.threshold.Op == ">" || r.threshold.Op == ">=") {
			least = max(least, r.threshold.Value)
		}
		if least < 5 {
			t.Errorf("%s counts with no minimum volume (min_count %d, threshold %s)", r.ID, a.MinCount, r.threshold)
		}
	}
}

// TestRecoveredDetectionResolvesNeverFires: a detection marked recovered fires nothing (even
// with values that would meet the condition), resolves the open alert of the same identity once,
// and lifts its suppression: the next breach alerts again.
func TestRecoveredDetectionResolvesNeverFires(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	var resolved []string
	e, err := New(rs, Options{Resolved: func(k string, _ time.Time) { resolved = append(resolved, k) }})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	breach := detection.Detection{Kind: detection.KindLatency, Model: "m", Time: at, Statistic: "latency_p95_ms", Value: 900,
		Threshold: 800, Values: map[string]float64{"baseline_p95_ms": 400, "requests": 100}}
	count := func(as []alert.Alert) int {
		n := 0
		for _, a := range as {
			if a.RuleID == "warden.ops.latency_p95" {
				n++
			}
		}
		return n
	}
	if n := count(e.ObserveDetection(breach)); n != 1 {
		t.Fatalf("breach raised %d alerts", n)
	}
	rec := breach
	rec.Recovered, rec.Time = true, at.Add(time.Minute)
	if n := count(e.ObserveDetection(rec)); n != 0 || len(resolved) != 1 || resolved[0] != "warden.ops.latency_p95|m|" {
		t.Fatalf("recovery: %d alerts, resolved %v", n, resolved)
	}
	rec.Time = at.Add(2 * time.Minute)
	e.ObserveDetection(rec)
	if len(resolved) != 1 {
		t.Fatalf("resolved twice: %v", resolved)
	}
	breach.Time = at.Add(3 * time.Minute) // within the 30m suppression of the first alert
	if n := count(e.ObserveDetection(breach)); n != 1 {
		t.Fatalf("breach after recovery raised %d alerts, want 1 (suppression lifted)", n)
	}
}
