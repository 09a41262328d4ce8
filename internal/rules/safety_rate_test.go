package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// Users asking for harmful help are a signal about the user (input side,
// quiet): a burst of them must not page as a failing safety filter, while
// the same burst of injections or harmful outputs does.
func TestSafetyFilterRateIgnoresHarmfulRequests(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		category string
		want     bool
	}{{"harmful_request", false}, {"harmful", true}, {"prompt_injection", true}} {
		t.Run(tc.category, func(t *testing.T) {
			e, err := New(rs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fired := false
			for i := range 15 {
				ev := &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: t0.Add(time.Duration(i) * time.Second),
					Environment: "prod", Model: event.Model{Name: "m"}, Response: &event.Response{Status: "ok"},
					Safety: &event.Safety{Triggers: []event.Trigger{{Detector: "x", Category: tc.category, Score: 0.9, Role: "input"}}}}
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
