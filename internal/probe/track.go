package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/rules"
)

// Detection kinds the Tracker reports (rules select them with `kinds:`).
const (
	KindRegression  = detection.KindProbeRegression // a probe the model resisted now fails
	KindPassRate    = detection.KindProbePassRate   // a family's pass rate fell below its threshold
	KindNewFailure  = detection.KindProbeNewFailure // a family that never failed now fails
	DefaultPassRate = 0.8                           // default family pass-rate threshold
	maxTrackedProbe = 50_000                        // probe verdicts remembered (model × pack × probe)
)

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	// Threshold returns a model's family pass-rate threshold (default DefaultPassRate).
	Threshold func(model string) float64
}

// Tracker keeps, per model, the latest verdict of every probe and turns changes into
// detections. It is fed probe events in log order; error results leave verdicts unchanged.
type Tracker struct {
	opts TrackerOptions
	mu   sync.Mutex
	st   trackState
}

type trackState struct {
	// Verdicts: model → "pack/probe" → latest verdict.
	Verdicts map[string]map[string]verdict `json:"verdicts"`
	// Below: model → family → pass rate is below the threshold now.
	Below map[string]map[string]bool `json:"below"`
	// EverFailed: model → family → some probe of the family failed at some time.
	EverFailed map[string]map[string]bool `json:"ever_failed"`
	n          int
}

type verdict struct {
	Family string    `json:"family"`
	Passed bool      `json:"passed"`
	Time   time.Time `json:"time"`
}

// NewTracker returns an empty tracker.
func NewTracker(opts TrackerOptions) *Tracker {
	t := &Tracker{opts: opts}
	t.st.init()
	return t
}

func (s *trackState) init() {
	if s.Verdicts == nil {
		s.Verdicts = map[string]map[string]verdict{}
	}
	if s.Below == nil {
		s.Below = map[string]map[string]bool{}
	}
	if s.EverFailed == nil {
		s.EverFailed = map[string]map[string]bool{}
	}
	s.n = 0
	for _, m := range s.Verdicts {
		s.n += len(m)
	}
}

func sub[V any](m map[string]map[string]V, k string) map[string]V {
	v := m[k]
	if v == nil {
		v = map[string]V{}
		m[k] = v
	}
	return v
}

// Observe implements the worker's Probes stage.
func (t *Tracker) Observe(ev *event.Event) []rules.Detection {
	if ev.Type != event.TypeProbe || ev.Probe == nil || ev.Passed == nil || ev.Model.Name == "" {
		return nil
	}
	result, _ := ev.Attributes[AttrResult].(string)
	if result == string(Error) || result == string(Skipped) {
		return nil
	}
	family, _ := ev.Attributes[AttrFamily].(string)
	if family == "" {
		family = ev.Probe.Technique
	}
	if family == "" {
		family = "unspecified"
	}
	model := ev.Model.Name
	key := ev.Probe.Pack + "/" + ev.Probe.Name
	passed := *ev.Passed

	t.mu.Lock()
	defer t.mu.Unlock()
	vs := sub(t.st.Verdicts, model)
	prev, seen := vs[key]
	if seen && ev.Time.Before(prev.Time) {
		return nil // replayed or out of order: an older verdict changes nothing
	}
	if !seen {
		if t.st.n >= maxTrackedProbe {
			return nil
		}
		t.st.n++
	}
	vs[key] = verdict{Family: family, Passed: passed, Time: ev.Time}

	var out []rules.Detection
	det := func(kind, msg string, value, threshold float64) rules.Detection {
		return rules.Detection{Kind: kind, Model: model, Environment: ev.Environment, Time: ev.Time, Feature: family,
			Statistic: "pass_rate", Value: value, Threshold: threshold, EventIDs: []string{ev.ID}, Message: msg,
			Values: map[string]float64{"resisted_before": boolF(seen && prev.Passed)}}
	}
	rate, total := t.passRate(model, family)
	ever := sub(t.st.EverFailed, model)
	switch {
	case !passed && seen && prev.Passed:
		out = append(out, det(KindRegression, fmt.Sprintf("probe %s (%s) was resisted at %s and now fails: %s",
			key, family, prev.Time.UTC().Format(time.RFC3339), ev.Evidence), rate, 0))
	case !passed && !ever[family]:
		out = append(out, det(KindNewFailure, fmt.Sprintf("family %s fails for the first time: probe %s: %s", family, key, ev.Evidence), rate, 0))
	}
	if !passed {
		ever[family] = true
	}

	thr := DefaultPassRate
	if t.opts.Threshold != nil {
		if v := t.opts.Threshold(model); v > 0 {
			thr = v
		}
	}
	below := sub(t.st.Below, model)
	if total > 0 && rate < thr && !below[family] {
		below[family] = true
		out = append(out, det(KindPassRate, fmt.Sprintf("family %s pass rate %.0f%% over its %d probes is below %.0f%%", family, rate*100, total, thr*100), rate, thr))
	} else if rate >= thr && below[family] {
		below[family] = false
		d := det(KindPassRate, fmt.Sprintf("family %s pass rate %.0f%% over its %d probes is back at or above %.0f%%", family, rate*100, total, thr*100), rate, thr)
		d.Recovered = true
		out = append(out, d)
	}
	return out
}

func boolF(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// passRate is the share of a family's probes whose latest verdict is resisted.
func (t *Tracker) passRate(model, family string) (float64, int) {
	n, ok := 0, 0
	for _, v := range t.st.Verdicts[model] {
		if v.Family == family {
			n++
			if v.Passed {
				ok++
			}
		}
	}
	if n == 0 {
		return 1, 0
	}
	return float64(ok) / float64(n), n
}

// FamilyStatus is a family's current standing for one model.
type FamilyStatus struct {
	Family   string  `json:"family"`
	PassRate float64 `json:"pass_rate"`
	Probes   int     `json:"probes"`
	Failing  int     `json:"failing"`
}

// Status returns a model's families and their current pass rates, sorted by family.
func (t *Tracker) Status(model string) []FamilyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	by := map[string]*FamilyStatus{}
	for _, v := range t.st.Verdicts[model] {
		f := by[v.Family]
		if f == nil {
			f = &FamilyStatus{Family: v.Family}
			by[v.Family] = f
		}
		f.Probes++
		if !v.Passed {
			f.Failing++
		}
	}
	out := make([]FamilyStatus, 0, len(by))
	for _, f := range by {
		f.PassRate = float64(f.Probes-f.Failing) / float64(f.Probes)
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Family < out[j].Family })
	return out
}

// Snapshot writes the tracker's state as JSON.
func (t *Tracker) Snapshot(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return json.NewEncoder(w).Encode(&t.st)
}

// Restore replaces the tracker's state with a snapshot.
func (t *Tracker) Restore(r io.Reader) error {
	var s trackState
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return fmt.Errorf("decode probe tracker snapshot: %w", err)
	}
	s.init()
	t.mu.Lock()
	t.st = s
	t.mu.Unlock()
	return nil
}
