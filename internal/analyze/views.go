package analyze

import (
	"maps"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/stats"
)

// SeriesMetrics is the live metrics of one model × version × environment
// (× input class).
type SeriesMetrics struct {
	Version     string          `json:"version"`
	Environment string          `json:"environment"`
	InputClass  string          `json:"input_class,omitempty"`
	Windows     []WindowMetrics `json:"windows"`
}

// ModelMetrics is the JSON body of GET /v1/models/{name}/metrics.
type ModelMetrics struct {
	Model     string          `json:"model"`
	FirstSeen time.Time       `json:"first_seen"`
	AsOf      time.Time       `json:"as_of"`
	Series    []SeriesMetrics `json:"series"`
}

// ModelMetrics returns the live metrics of a model at the analyzer's
// clock; ok is false for an unknown model.
func (a *Analyzer) ModelMetrics(name string) (ModelMetrics, bool) {
	now := a.opts.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.models[name]
	if m == nil {
		return ModelMetrics{}, false
	}
	out := ModelMetrics{Model: name, FirstSeen: m.FirstSeen, AsOf: now}
	for _, k := range slices.Sorted(maps.Keys(m.Series)) {
		s := m.Series[k]
		sm := SeriesMetrics{Version: s.Version, Environment: s.Environment, InputClass: s.InputClass}
		for i, spec := range windowSpecs {
			c, covered := s.Windows[i].sum(now.UnixNano())
			sm.Windows = append(sm.Windows, viewWindow(spec.Name, c, covered))
		}
		out.Series = append(out.Series, sm)
	}
	return out, true
}

// Thresholds is the rule set applied to drift windows.
type Thresholds struct {
	PSI            float64 `json:"psi"`
	KSD            float64 `json:"ks_d"`
	KSMinWindow    int     `json:"ks_min_window"`
	JSDistance     float64 `json:"js_distance"`
	Wasserstein    string  `json:"wasserstein"`
	ChiSquareP     float64 `json:"chi2_p"`
	DatasetShare   float64 `json:"dataset_drift_share"`
	MinWindow      int     `json:"min_window"`
	WindowEvents   int     `json:"window_events"`
	WindowDuration string  `json:"window_duration"`
}

// VersionDrift is the drift state of one model version.
type VersionDrift struct {
	Version        string       `json:"version"`
	BaselineID     string       `json:"baseline_id,omitempty"`
	Status         string       `json:"status"` // collecting | monitoring
	BaselineEvents int          `json:"baseline_events"`
	Collected      int          `json:"collected,omitempty"`
	WindowEvents   int          `json:"window_events"`
	WindowFrom     *time.Time   `json:"window_from,omitempty"`
	Last           *DriftReport `json:"last,omitempty"`
}

// FairnessView is the latest fairness result of one protected attribute,
// with NaN values removed.
type FairnessView struct {
	Attribute  string                         `json:"attribute"`
	Values     map[string]*float64            `json:"values"`
	Groups     map[string]map[string]*float64 `json:"groups"`
	Privileged string                         `json:"privileged"`
	Violations []string                       `json:"violations"`
}

// ModelDrift is the JSON body of GET /v1/models/{name}/drift.
type ModelDrift struct {
	Model      string         `json:"model"`
	Thresholds Thresholds     `json:"thresholds"`
	Versions   []VersionDrift `json:"versions"`
	Fairness   []FairnessView `json:"fairness,omitempty"`
}

// ModelDrift returns the drift state of a model: per version the baseline
// id, the current window and the latest evaluation (values, thresholds,
// windows); ok is false for an unknown model.
func (a *Analyzer) ModelDrift(name string) (ModelDrift, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.models[name]
	if m == nil {
		return ModelDrift{}, false
	}
	out := ModelDrift{Model: name, Thresholds: Thresholds{
		PSI: stats.PSIThreshold, KSD: stats.KSThreshold, KSMinWindow: stats.KSMinWindow, JSDistance: stats.JSThreshold,
		Wasserstein: "mean + 2σ of 10 baseline chunks of the window's size", ChiSquareP: a.opts.ChiSquareP,
		DatasetShare: stats.DatasetDriftThreshold, MinWindow: a.opts.DriftMinWindow, WindowEvents: a.opts.DriftWindowEvents,
		WindowDuration: a.opts.DriftWindow.String(),
	}}
	for _, vk := range slices.Sorted(maps.Keys(m.Versions)) {
		v := m.Versions[vk]
		vd := VersionDrift{Version: v.Version, BaselineID: v.Active, Status: "monitoring", Last: v.Last}
		if v.Collect != nil {
			vd.Status, vd.Collected = "collecting", v.Collect.N
		}
		if b := v.active(); b != nil {
			vd.BaselineEvents = b.Events
		}
		if w := v.Window; w != nil && w.N > 0 {
			vd.WindowEvents = w.N
			from := w.From
			vd.WindowFrom = &from
		}
		out.Versions = append(out.Versions, vd)
	}
	for _, attr := range slices.Sorted(maps.Keys(m.LastFair)) {
		r := m.LastFair[attr]
		fv := FairnessView{Attribute: attr, Privileged: r.Privileged, Violations: r.Violations(),
			Values: map[string]*float64{
				"demographic_parity_ratio": num(r.ParityRatio), "demographic_parity_min_max": num(r.ParityMinMax),
				"disparate_impact": num(r.DisparateImpact), "delta_tpr": num(r.DeltaTPR), "delta_fpr": num(r.DeltaFPR),
				"equalized_odds": num(r.EqualizedOdds), "calibration_gap": num(r.CalibrationGap),
			},
			Groups: map[string]map[string]*float64{},
		}
		for g, gf := range r.Groups {
			fv.Groups[g] = map[string]*float64{"n": num(gf.N), "selection_rate": num(gf.SelectionRate),
				"tpr": num(gf.TPR), "fpr": num(gf.FPR), "ece": num(gf.ECE)}
		}
		out.Fairness = append(out.Fairness, fv)
	}
	return out, true
}
