package analyze

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
)

// TestSystemDown: live, steady traffic that stops raises one system_down after
// SystemDownAfter, and the model's next live event reports its recovery. Near misses: a short
// burst, traffic replayed from the past, silence shorter than the limit, and a restart of
// Warden itself (only a new live event re-arms the detector).
func TestSystemDown(t *testing.T) {
	type step struct {
		// send: events every `every` in [from, to) of wall time, each arriving lag after its time
		from, to, every, lag time.Duration
		tick                 time.Duration // then tick at this wall time
		restart              bool          // snapshot and restore before ticking
		want                 []string      // kinds, "recovered " prefixed
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"steady traffic stops, then comes back", []step{
			{from: 0, to: 15 * time.Minute, every: 20 * time.Second, tick: 15*time.Minute + 4*time.Minute},
			{tick: 15*time.Minute + 5*time.Minute, want: []string{"system_down"}},
			{tick: 15*time.Minute + 8*time.Minute}, // reported once
			{from: 25 * time.Minute, to: 25*time.Minute + time.Second, every: time.Second, want: []string{"recovered system_down"}},
		}},
		{"a burst of 3 minutes is not steady traffic", []step{
			{from: 0, to: 3 * time.Minute, every: time.Second, tick: 30 * time.Minute},
		}},
		{"traffic replayed from the past is not live", []step{
			{from: 0, to: 15 * time.Minute, every: 20 * time.Second, lag: time.Hour, tick: 2 * time.Hour},
		}},
		{"a restart of Warden re-arms only with a live event", []step{
			{from: 0, to: 15 * time.Minute, every: 20 * time.Second, restart: true, tick: 30 * time.Minute},
			{from: 31 * time.Minute, to: 46 * time.Minute, every: 20 * time.Second, tick: 52 * time.Minute, want: []string{"system_down"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var wall time.Time
			a, _ := newTestAnalyzer(t, func(o *Options) { o.Now = func() time.Time { return wall } })
			n := 0
			for i, st := range tc.steps {
				var got []string
				note := func(ds []Detection) {
					for _, d := range ds {
						if d.Kind != KindSystemDown {
							continue
						}
						if err := detection.Validate(&d); err != nil {
							t.Errorf("step %d: %v", i, err)
						}
						if d.Recovered {
							got = append(got, "recovered "+d.Kind)
						} else {
							got = append(got, d.Kind)
						}
					}
				}
				for at := st.from; st.every > 0 && at < st.to; at += st.every {
					n++
					wall = t0.Add(at + st.lag)
					note(a.Observe(&event.Event{ID: fmt.Sprintf("e%d", n), Type: event.TypeInference, Time: t0.Add(at), Environment: "prod",
						Model: event.Model{Name: "bot"}, Response: &event.Response{Status: "ok"}}, nil))
				}
				if st.restart {
					var buf bytes.Buffer
					if err := a.Snapshot(&buf); err != nil {
						t.Fatal(err)
					}
					b, _ := newTestAnalyzer(t, func(o *Options) { o.Now = func() time.Time { return wall } })
					if err := b.Restore(&buf); err != nil {
						t.Fatal(err)
					}
					a = b
				}
				if st.tick > 0 {
					wall = t0.Add(st.tick)
					note(a.Tick(wall))
				}
				if !slices.Equal(got, st.want) {
					t.Fatalf("step %d: system_down detections %v, want %v", i, got, st.want)
				}
			}
		})
	}
}
