package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/scan"
)

// Noise control: the safety-filter rate counts only findings that should page — a changed
// verdict (block/redact) or a score past the category's calibrated threshold. Users asking for
// harmful help are a signal about the user (quiet), and low-score findings on ordinary answers
// are not a failing safety filter: a burst of either must not page.
func TestSafetyFilterRateIgnoresHarmfulRequests(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	harm := scan.DefaultCalibration().Categories[scan.CatHarmful].Flag
	for _, tc := range []struct {
		name, category, action string
		score                  float64
		want                   bool
	}{
		{"harmful request, blocked", "harmful_request", "block", 0.99, false},
		{"harmful output below calibration", "harmful", "flag", harm - 0.05, false},
		{"harmful output past calibration", "harmful", "flag", min(1, harm+0.01), true},
		{"pii flagged (uncalibrated)", "pii", "flag", 0.9, false},
		{"pii redacted", "pii", "redact", 0.65, true},
		{"injection past calibration", "prompt_injection", "flag", 0.9, true},
		{"injection blocked", "prompt_injection", "block", 0.5, true},
		{"refusals", "refusal", "flag", 0.99, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(rs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fired := false
			for i := range 15 {
				ev := &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: t0.Add(time.Duration(i) * time.Second),
					Environment: "prod", Model: event.Model{Name: "m"}, Response: &event.Response{Status: "ok"},
					Safety: &event.Safety{Action: tc.action, Triggers: []event.Trigger{{Detector: "x", Category: tc.category, Score: tc.score, Role: "output"}}}}
				for _, a := range e.Observe(ev) {
					if a.RuleID == "warden.ops.safety_filter_rate" {
						fired = true
					}
				}
			}
			if fired != tc.want {
				t.Fatalf("safety_filter_rate fired=%v, want %v", fired, tc.want)
			}
		})
	}
}

// TestSafetyFilterRateLearnsTheModelsLevel: a model that always has about 15 blocked requests a
// minute (a public bot under constant jailbreak attempts) stops paging once its own level is
// learned, and pages again when the rate triples.
func TestSafetyFilterRateLearnsTheModelsLevel(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	fire := func(minute, perMinute int) int {
		got := 0
		for i := range perMinute {
			n++
			at := t0.Add(time.Duration(minute)*time.Minute + time.Duration(i)*time.Minute/time.Duration(perMinute))
			ev := &event.Event{ID: fmt.Sprint(n), Type: event.TypeInference, Time: at, Environment: "prod", Model: event.Model{Name: "m"},
				Response: &event.Response{Status: "blocked"}, Safety: &event.Safety{Action: "block",
					Triggers: []event.Trigger{{Detector: "x", Category: "jailbreak", Score: 0.6, Role: "input"}}}}
			for _, a := range e.Observe(ev) {
				if a.RuleID == "warden.ops.safety_filter_rate" {
					got++
				}
			}
			e.Tick(at)
		}
		return got
	}
	first := 0
	for m := range 15 {
		first += fire(m, 15)
	}
	if first == 0 {
		t.Fatal("no page before the level was learned")
	}
	late := 0
	for m := 40; m < 100; m++ { // past every suppression window
		late += fire(m, 15)
	}
	if late != 0 {
		t.Fatalf("paged %d times at the model's usual level", late)
	}
	if fire(100, 60) == 0 {
		t.Fatal("no page at 4x the usual level")
	}
}
