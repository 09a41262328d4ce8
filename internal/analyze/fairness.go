package analyze

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/stats"
)

// fairWindow accumulates group outcomes per protected attribute.
type fairWindow struct {
	From   time.Time                      `json:"from"`
	N      int                            `json:"n"`
	Groups []map[string]*stats.GroupStats `json:"groups"` // index = Options.Protected
}

func (a *Analyzer) fairWin(m *modelState, t time.Time) *fairWindow {
	if m.Fair == nil || len(m.Fair.Groups) != len(a.opts.Protected) {
		m.Fair = &fairWindow{From: t, Groups: make([]map[string]*stats.GroupStats, len(a.opts.Protected))}
		for i := range m.Fair.Groups {
			m.Fair.Groups[i] = map[string]*stats.GroupStats{}
		}
	}
	return m.Fair
}

func (a *Analyzer) group(groups map[string]*stats.GroupStats, name string) *stats.GroupStats {
	g := groups[name]
	if g == nil {
		if len(groups) >= a.opts.MaxGroups {
			a.drop("fairness_group")
			name = "_other"
			if g = groups[name]; g != nil {
				return g
			}
		}
		g = &stats.GroupStats{}
		groups[name] = g
	}
	return g
}

func (a *Analyzer) fairPrediction(m *modelState, ev *event.Event) {
	w := a.fairWin(m, ev.Time)
	if w.N == 0 {
		w.From = ev.Time
	}
	w.N++
	pos := isPositive(ev.Response.Prediction, a.opts.PositiveLabel)
	for i, attr := range a.opts.Protected {
		g := attrString(ev.Attributes[attr])
		if g == "" {
			continue
		}
		a.group(w.Groups[i], g).AddPrediction(pos)
	}
}

func (a *Analyzer) fairLabel(m *modelState, p *pending, actual bool) {
	w := a.fairWin(m, time.Time{})
	for i, g := range p.Groups {
		if g == "" || i >= len(w.Groups) {
			continue
		}
		a.group(w.Groups[i], g).AddLabel(p.Positive, actual, p.Score)
	}
}

// fairnessCheck evaluates and resets a model's fairness window when it is
// complete.
func (a *Analyzer) fairnessCheck(m *modelState, now0 time.Time, out []Detection) []Detection {
	w := m.Fair
	if w == nil || w.N < a.opts.FairnessMinEvents || (now0.Sub(w.From) < a.opts.DriftWindow && w.N < a.opts.DriftWindowEvents) {
		return out
	}
	if m.LastFair == nil {
		m.LastFair = map[string]stats.FairnessResult{}
	}
	windows := windowString(w.From, now0, w.N)
	for i, attr := range a.opts.Protected {
		r := stats.Fairness(w.Groups[i], a.opts.Privileged[attr])
		prev, hadPrev := m.LastFair[attr]
		m.LastFair[attr] = r
		violations := r.Violations()
		if hadPrev {
			// A metric that violated its threshold last window and is computed within it now.
			for _, v := range prev.Violations() {
				if val, thr := fairnessValue(r, v); !slices.Contains(violations, v) && !math.IsNaN(val) {
					out = append(out, Detection{Kind: KindFairness, Model: m.Name, Time: now0, Feature: attr, Statistic: v,
						Value: val, Threshold: thr, Windows: windows, Recovered: true,
						Message: fmt.Sprintf("model %s fairness on %q recovered: %s %.3f", m.Name, attr, v, val)})
				}
			}
		}
		for _, v := range violations {
			val, thr := fairnessValue(r, v)
			vals := map[string]float64{}
			for k, x := range map[string]float64{"demographic_parity_ratio": r.ParityRatio, "demographic_parity_min_max": r.ParityMinMax,
				"disparate_impact": r.DisparateImpact, "delta_tpr": r.DeltaTPR, "delta_fpr": r.DeltaFPR, "calibration_gap": r.CalibrationGap} {
				if !math.IsNaN(x) {
					vals[k] = x
				}
			}
			out = append(out, Detection{
				Kind: KindFairness, Model: m.Name, Time: now0, Feature: attr, Statistic: v, Value: val, Threshold: thr,
				Values: vals, Windows: windows,
				Message: fmt.Sprintf("model %s fairness on %q: %s %.3f (privileged %q, group %q)", m.Name, attr, v, val, r.Privileged, r.ParityGroup),
			})
		}
	}
	m.Fair = nil
	return out
}

// fairnessValue returns a fairness metric's value in r and the threshold it is judged against.
func fairnessValue(r stats.FairnessResult, metric string) (val, thr float64) {
	switch metric {
	case "demographic_parity":
		val, thr = r.ParityRatio, stats.ParityLow
		if val > 1 {
			thr = stats.ParityHigh
		}
	case "disparate_impact":
		val, thr = r.DisparateImpact, stats.DisparateImpactMin
	case "equalized_odds":
		val, thr = r.EqualizedOdds, stats.EqualizedOddsMax
	case "calibration":
		val, thr = r.CalibrationGap, stats.CalibrationGapMax
	default:
		val = math.NaN()
	}
	return val, thr
}
