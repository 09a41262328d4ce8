package quality

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/rules"
)

// Detection kinds the Tracker reports.
const (
	KindQualityDrop  = detection.KindQualityDrop  // the judge's mean relevance or faithfulness fell
	KindFeedbackDrop = detection.KindFeedbackDrop // users' mean rating fell
)

// Tracker defaults.
const (
	DefaultBaseline = 30  // scores that form a model's baseline (the first ones seen)
	DefaultWindow   = 20  // recent scores compared with it
	DefaultDrop     = 0.2 // absolute drop of the mean (on 0..1) that alerts
	maxModels       = 10_000
)

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	// Drop returns a model's alerting drop (default DefaultDrop).
	Drop func(model string) float64
	// Baseline and Window override DefaultBaseline and DefaultWindow.
	Baseline, Window int
}

// Tracker follows judge scores and user ratings per model.
type Tracker struct {
	opts TrackerOptions
	mu   sync.Mutex
	st   map[string]map[string]*metric // model → metric name → state
}

// metric is one score stream: a frozen baseline mean and a ring of recent values.
type metric struct {
	BaseSum float64   `json:"base_sum"`
	BaseN   int       `json:"base_n"`
	Recent  []float64 `json:"recent"`
	Next    int       `json:"next"`
	Low     bool      `json:"low"` // a drop was reported and has not recovered
}

// NewTracker returns an empty tracker.
func NewTracker(opts TrackerOptions) *Tracker {
	if opts.Baseline <= 0 {
		opts.Baseline = DefaultBaseline
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	return &Tracker{opts: opts, st: map[string]map[string]*metric{}}
}

// Metric names.
const (
	mRelevance    = "relevance"
	mFaithfulness = "faithfulness"
	mRating       = "user_rating"
)

// Observe takes feedback events: the judge's scores and users' ratings.
func (t *Tracker) Observe(ev *event.Event) []rules.Detection {
	if ev.Type != event.TypeFeedback || ev.Model.Name == "" {
		return nil
	}
	vals := map[string]float64{}
	if ev.Actor.ServiceAccount == JudgeAccount {
		if v, ok := ev.Attributes[AttrRelevance].(float64); ok {
			vals[mRelevance] = v
		}
		if v, ok := ev.Attributes[AttrFaithfulness].(float64); ok {
			vals[mFaithfulness] = v
		}
	} else if ev.Rating != nil {
		vals[mRating] = float64(*ev.Rating+1) / 2 // -1, 0, 1 → 0, 0.5, 1
	}
	if len(vals) == 0 {
		return nil
	}
	drop := DefaultDrop
	if t.opts.Drop != nil {
		if d := t.opts.Drop(ev.Model.Name); d > 0 {
			drop = d
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := t.st[ev.Model.Name]
	if ms == nil {
		if len(t.st) >= maxModels {
			return nil
		}
		ms = map[string]*metric{}
		t.st[ev.Model.Name] = ms
	}
	var out []rules.Detection
	for _, name := range []string{mRelevance, mFaithfulness, mRating} {
		v, ok := vals[name]
		if !ok {
			continue
		}
		m := ms[name]
		if m == nil {
			m = &metric{}
			ms[name] = m
		}
		if m.BaseN < t.opts.Baseline {
			m.BaseSum += v
			m.BaseN++
			continue
		}
		if len(m.Recent) < t.opts.Window {
			m.Recent = append(m.Recent, v)
		} else {
			m.Recent[m.Next] = v
			m.Next = (m.Next + 1) % t.opts.Window
		}
		if len(m.Recent) < t.opts.Window {
			continue
		}
		base, recent := m.BaseSum/float64(m.BaseN), mean(m.Recent)
		switch {
		case recent < base-drop && !m.Low:
			m.Low = true
			kind, what := KindQualityDrop, "judge "+name
			if name == mRating {
				kind, what = KindFeedbackDrop, "user rating"
			}
			out = append(out, rules.Detection{Kind: kind, Model: ev.Model.Name, Version: ev.Model.Version, Environment: ev.Environment,
				Time: ev.Time, Feature: name, Statistic: "mean", Value: recent, Threshold: base - drop,
				Values: map[string]float64{"baseline": base, "drop": drop}, EventIDs: []string{ev.ID},
				Message: fmt.Sprintf("%s %.2f over the last %d is below the baseline %.2f by more than %.2f", what, recent, len(m.Recent), base, drop)})
		case recent >= base-drop/2 && m.Low:
			// Back within half the drop of the baseline: the all-clear of the same identity.
			m.Low = false
			kind, what := KindQualityDrop, "judge "+name
			if name == mRating {
				kind, what = KindFeedbackDrop, "user rating"
			}
			out = append(out, rules.Detection{Kind: kind, Model: ev.Model.Name, Version: ev.Model.Version, Environment: ev.Environment,
				Time: ev.Time, Feature: name, Statistic: "mean", Value: recent, Threshold: base - drop, Recovered: true,
				EventIDs: []string{ev.ID}, Message: fmt.Sprintf("%s %.2f over the last %d is back near the baseline %.2f", what, recent, len(m.Recent), base)})
		}
	}
	return out
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// MetricStatus is one score stream of a model.
type MetricStatus struct {
	Metric   string   `json:"metric"`
	Baseline *float64 `json:"baseline"` // null until the baseline is complete
	Recent   *float64 `json:"recent"`   // mean of the recent window (null before any)
	Samples  int      `json:"samples"`
	Low      bool     `json:"low"`
}

// Status returns a model's score streams.
func (t *Tracker) Status(model string) []MetricStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []MetricStatus{}
	for name, m := range t.st[model] {
		s := MetricStatus{Metric: name, Samples: m.BaseN + len(m.Recent), Low: m.Low}
		if m.BaseN >= t.opts.Baseline {
			b := m.BaseSum / float64(m.BaseN)
			s.Baseline = &b
		}
		if len(m.Recent) > 0 {
			r := mean(m.Recent)
			s.Recent = &r
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metric < out[j].Metric })
	return out
}

// Snapshot writes the state as JSON.
func (t *Tracker) Snapshot(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return json.NewEncoder(w).Encode(t.st)
}

// Restore replaces the state with a snapshot.
func (t *Tracker) Restore(r io.Reader) error {
	st := map[string]map[string]*metric{}
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("decode quality tracker snapshot: %w", err)
	}
	t.mu.Lock()
	t.st = st
	t.mu.Unlock()
	return nil
}
