package probe

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
)

func probeEvent(model, name, family string, result Result, at time.Time) *event.Event {
	passed := result == Resisted
	return &event.Event{ID: fmt.Sprintf("%s-%s-%d", model, name, at.Unix()), Type: event.TypeProbe, Time: at,
		Model: event.Model{Name: model}, Probe: &event.Probe{Pack: "p", Name: name}, Passed: &passed,
		Attributes: map[string]any{AttrFamily: family, AttrResult: string(result)}}
}

func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type step struct {
		name, family string
		result       Result
		want         []string // detection kinds
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"resisted then failed is a regression", []step{
			{"a", "jailbreak", Resisted, nil},
			{"b", "jailbreak", Resisted, nil},
			{"a", "jailbreak", Failed, []string{KindRegression, KindPassRate}},
			{"a", "jailbreak", Failed, nil},                                     // still failing: no new detection
			{"a", "jailbreak", Resisted, []string{"recovered " + KindPassRate}}, // back to 2/2: the pass-rate alert resolves
			{"a", "jailbreak", Failed, []string{KindRegression, KindPassRate}},  // recovered, regressed again
		}},
		{"a family failing from its first result is new, not a regression", []step{
			{"a", "encoding", Failed, []string{KindNewFailure, KindPassRate}},
			{"b", "encoding", Failed, nil},
			{"c", "pii_leak", Resisted, nil},
		}},
		{"errors change nothing", []step{
			{"a", "harmful", Resisted, nil},
			{"a", "harmful", Error, nil},
			{"a", "harmful", Resisted, nil},
		}},
		{"pass rate at the threshold does not alert", []step{
			{"a", "x", Resisted, nil}, {"b", "x", Resisted, nil}, {"c", "x", Resisted, nil}, {"d", "x", Resisted, nil}, {"e", "x", Resisted, nil},
			{"e", "x", Failed, []string{KindRegression}}, // 4/5 = 0.8: not below 0.8
			{"d", "x", Failed, []string{KindRegression, KindPassRate}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(TrackerOptions{})
			for i, st := range tc.steps {
				var got []string
				for _, d := range tr.Observe(probeEvent("bot", st.name, st.family, st.result, t0.Add(time.Duration(i)*time.Minute))) {
					if d.Recovered {
						got = append(got, "recovered "+d.Kind)
					} else {
						got = append(got, d.Kind)
					}
					if d.Feature != st.family || d.Model != "bot" || len(d.EventIDs) != 1 {
						t.Errorf("step %d: detection %+v", i, d)
					}
					if err := detection.Validate(&d); err != nil {
						t.Errorf("step %d: detection outside its registered schema: %v", i, err)
					}
				}
				if !slices.Equal(got, st.want) {
					t.Errorf("step %d (%s %s): detections %v, want %v", i, st.name, st.result, got, st.want)
				}
			}
		})
	}
}

// TestTrackerSnapshot: a restored tracker remembers that a probe was resisted, so the first
// failure after a restart is still a regression; older replayed verdicts change nothing.
func TestTrackerSnapshot(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tr := NewTracker(TrackerOptions{Threshold: func(string) float64 { return 0.5 }})
	tr.Observe(probeEvent("bot", "a", "jailbreak", Resisted, t0))
	var buf bytes.Buffer
	if err := tr.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	back := NewTracker(TrackerOptions{Threshold: func(string) float64 { return 0.5 }})
	if err := back.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if ds := back.Observe(probeEvent("bot", "a", "jailbreak", Failed, t0.Add(-time.Minute))); len(ds) != 0 {
		t.Errorf("an older verdict raised %v", ds)
	}
	ds := back.Observe(probeEvent("bot", "a", "jailbreak", Failed, t0.Add(time.Hour)))
	if len(ds) != 2 || ds[0].Kind != KindRegression || ds[1].Kind != KindPassRate || ds[1].Threshold != 0.5 {
		t.Errorf("after restore: %+v", ds)
	}
	if st := back.Status("bot"); len(st) != 1 || st[0].PassRate != 0 || st[0].Failing != 1 {
		t.Errorf("status %+v", st)
	}
	if err := back.Restore(bytes.NewReader([]byte("{not json"))); err == nil {
		t.Error("a corrupt snapshot was accepted")
	}
}
