package lifecycle

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/httpx"
)

// RuleFeedback is one rule's alert volume and the analysts' verdicts on its alerts, over the
// alerts the manager holds (open ones and those resolved within RetainResolved).
type RuleFeedback struct {
	RuleID        string  `json:"rule_id"`
	Alerts        int     `json:"alerts"`
	Resolved      int     `json:"resolved"`
	AutoResolved  int     `json:"auto_resolved"`
	FalsePositive int     `json:"false_positive"`
	Benign        int     `json:"benign"`
	TruePositive  int     `json:"true_positive"`
	FPRatio       float64 `json:"false_positive_ratio"` // false_positive / (false_positive + benign + true_positive); 0 without verdicts
	// FPModels and FPActors count the false positives by model and by actor (for tuning).
	FPModels map[string]int `json:"false_positive_models,omitempty"`
	FPActors map[string]int `json:"false_positive_actors,omitempty"`
}

// Verdicts is the number of resolutions that carried a reason.
func (f RuleFeedback) Verdicts() int { return f.FalsePositive + f.Benign + f.TruePositive }

// Feedback returns the per-rule alert volume and verdicts, sorted by rule id.
func (m *Manager) Feedback() []RuleFeedback {
	m.mu.Lock()
	by := map[string]*RuleFeedback{}
	for _, e := range m.alerts {
		a := &e.A
		f := by[a.RuleID]
		if f == nil {
			f = &RuleFeedback{RuleID: a.RuleID}
			by[a.RuleID] = f
		}
		f.Alerts++
		if a.State != alert.Resolved {
			continue
		}
		f.Resolved++
		switch a.ResolveReason {
		case alert.FalsePositive:
			f.FalsePositive++
			if f.FPModels == nil {
				f.FPModels, f.FPActors = map[string]int{}, map[string]int{}
			}
			if a.Model != "" {
				f.FPModels[a.Model]++
			}
			if a.Actor != "" {
				f.FPActors[a.Actor]++
			}
		case alert.Benign:
			f.Benign++
		case alert.TruePositive:
			f.TruePositive++
		default:
			if a.ResolvedBy == "warden" {
				f.AutoResolved++
			}
		}
	}
	m.mu.Unlock()
	out := make([]RuleFeedback, 0, len(by))
	for _, id := range slices.Sorted(maps.Keys(by)) {
		f := by[id]
		if n := f.Verdicts(); n > 0 {
			f.FPRatio = float64(f.FalsePositive) / float64(n)
		}
		out = append(out, *f)
	}
	return out
}

// Proposal is a tuning suggestion drawn from false-positive history, for a human to accept.
type Proposal struct {
	RuleID string `json:"rule_id"`
	// Kind: silence (a silence matching where the false positives come from) or review (the
	// false positives are spread out: the rule's threshold or condition needs a person).
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	// Matchers and Command, for silences: the matchers and the CLI command that creates it.
	Matchers string `json:"matchers,omitempty"`
	Command  string `json:"command,omitempty"`
	// Exception is a CEL condition to add to the rule's exceptions instead of a silence.
	Exception string `json:"exception,omitempty"`
}

// Tuning thresholds: a rule is proposed for tuning after this many verdicts with at least this
// false-positive ratio; a model or actor is "where they come from" with this share of them.
const (
	tuneMinVerdicts = 5
	tuneMinRatio    = 0.5
	tuneShare       = 0.8
)

// Tune proposes suppressions and reviews from false-positive history: for each rule with at
// least 5 verdicts of which at least half were false positives, a silence (and the equivalent
// rule exception) when 80% of them come from one model or one actor, otherwise a review.
func Tune(fb []RuleFeedback) []Proposal {
	var out []Proposal
	for _, f := range fb {
		if f.Verdicts() < tuneMinVerdicts || f.FPRatio < tuneMinRatio {
			continue
		}
		why := fmt.Sprintf("%d of %d verdicts were false positives (%.0f%%)", f.FalsePositive, f.Verdicts(), 100*f.FPRatio)
		if model, n := top(f.FPModels); float64(n) >= tuneShare*float64(f.FalsePositive) && model != "" {
			mt := fmt.Sprintf("rule=%q,model=%q", f.RuleID, model)
			out = append(out, Proposal{RuleID: f.RuleID, Kind: "silence", Reason: fmt.Sprintf("%s; %d of them on model %s", why, n, model),
				Matchers: mt, Command: fmt.Sprintf("warden alerts silence add --matchers '%s' --duration 168h --comment 'tuning: false positives'", mt),
				Exception: fmt.Sprintf("event.model == %q", model)})
			continue
		}
		if actor, n := top(f.FPActors); float64(n) >= tuneShare*float64(f.FalsePositive) && actor != "" {
			out = append(out, Proposal{RuleID: f.RuleID, Kind: "silence", Reason: fmt.Sprintf("%s; %d of them by %s", why, n, actor),
				Exception: fmt.Sprintf("actor.id == %q", actor)})
			continue
		}
		out = append(out, Proposal{RuleID: f.RuleID, Kind: "review", Reason: why + ", spread over models and actors: raise the rule's threshold or narrow its condition"})
	}
	return out
}

func top(m map[string]int) (string, int) {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	best, n := "", 0
	for _, k := range keys {
		if m[k] > n {
			best, n = k, m[k]
		}
	}
	return best, n
}

func (m *Manager) getFeedback(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) > 0 {
		for k := range r.URL.Query() {
			return &FieldError{Field: k, Msg: "unknown parameter"}
		}
	}
	fb := m.Feedback()
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"rules": fb, "proposals": Tune(fb)})
	return nil
}

// Collector exposes the per-rule alert volume, verdicts and false-positive ratio to Prometheus.
func (m *Manager) Collector() prometheus.Collector { return feedbackCollector{m} }

var (
	descAlerts   = prometheus.NewDesc("warden_alerts_by_rule", "Alerts held by the alert manager (open, and resolved within the retention), by rule.", []string{"rule"}, nil)
	descVerdicts = prometheus.NewDesc("warden_alert_verdicts", "Resolved alerts by the analyst's verdict (false_positive, benign, true_positive), by rule.", []string{"rule", "reason"}, nil)
	descFPRatio  = prometheus.NewDesc("warden_alert_false_positive_ratio", "False positives among the resolved alerts that carry a verdict, by rule.", []string{"rule"}, nil)
)

type feedbackCollector struct{ m *Manager }

func (feedbackCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAlerts
	ch <- descVerdicts
	ch <- descFPRatio
}

func (c feedbackCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.m.Feedback() {
		ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(f.Alerts), f.RuleID)
		for reason, n := range map[string]int{alert.FalsePositive: f.FalsePositive, alert.Benign: f.Benign, alert.TruePositive: f.TruePositive} {
			ch <- prometheus.MustNewConstMetric(descVerdicts, prometheus.GaugeValue, float64(n), f.RuleID, reason)
		}
		if f.Verdicts() > 0 {
			ch <- prometheus.MustNewConstMetric(descFPRatio, prometheus.GaugeValue, f.FPRatio, f.RuleID)
		}
	}
}
