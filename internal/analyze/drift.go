package analyze

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/stats"
)

// driftWindow is the current (tumbling) window compared with the active
// baseline.
type driftWindow struct {
	From     time.Time                 `json:"from"`
	To       time.Time                 `json:"to"`
	N        int                       `json:"n"`
	Profiles map[string]*stats.Profile `json:"profiles"`
	Labeled  float64                   `json:"labeled"`
	Correct  float64                   `json:"correct"`
	slots    map[string]slot           // feature → baseline feature and profile
}

type slot struct {
	f *baselineFeature
	p *stats.Profile
}

func newDriftWindow(b *Baseline) *driftWindow {
	w := &driftWindow{Profiles: make(map[string]*stats.Profile, len(b.Features))}
	for name, f := range b.Features {
		w.Profiles[name] = stats.NewProfile(f.Kind, f.nbins(), false)
	}
	return w
}

// FeatureReport is the drift evaluation of one feature.
type FeatureReport struct {
	Feature    string              `json:"feature"`
	Kind       string              `json:"kind"`
	NBaseline  uint64              `json:"n_baseline"`
	NCurrent   uint64              `json:"n_current"`
	Values     map[string]*float64 `json:"values"`
	Thresholds map[string]float64  `json:"thresholds"`
	Fired      []string            `json:"fired,omitempty"`
	Drifted    bool                `json:"drifted"`
}

// DriftReport is the latest drift evaluation of a model version.
type DriftReport struct {
	BaselineID   string          `json:"baseline_id"`
	Baseline     string          `json:"baseline_window"`
	Current      string          `json:"current_window"`
	Evaluated    time.Time       `json:"evaluated"`
	NCurrent     int             `json:"n_current"`
	Features     []FeatureReport `json:"features"`
	Drifted      []string        `json:"drifted_features"`
	DatasetShare float64         `json:"dataset_drift_share"`
	DatasetDrift bool            `json:"dataset_drift"`
	Accuracy     *float64        `json:"accuracy"`
	BaseAccuracy *float64        `json:"baseline_accuracy"`
	// ConceptDrift: accuracy fell below the baseline's by more than 0.05 (at least 100 labels).
	ConceptDrift bool `json:"concept_drift"`
}

func (a *Analyzer) observeDrift(m *modelState, v *versionState, ev *event.Event, maxScore float64, out []Detection) []Detection {
	if v.Collect != nil {
		if !a.collect(v.Collect, ev, maxScore) {
			v.Dropped++
			a.drop("feature")
		}
		c := v.Collect
		days := time.Duration(a.opts.BaselineDays) * 24 * time.Hour
		if c.N >= a.opts.BaselineEvents || (c.N >= a.opts.BaselineMinEvents && ev.Time.Sub(v.FirstSeen) >= days) {
			m.Seq++
			b := c.freeze(baselineID(m.Name, v.Version, m.Seq), m.Name, v.Version, "auto", a.opts.Now())
			a.install(v, b)
			out = append(out, Detection{
				Kind: KindBaseline, Model: m.Name, Version: v.Version, Time: ev.Time, BaselineID: b.ID,
				Value: float64(b.Events), Windows: windowString(b.From, b.To, b.Events),
				Message: fmt.Sprintf("baseline %s frozen from %d events", b.ID, b.Events),
			})
		}
		return out
	}
	b := v.active()
	if b == nil {
		return out
	}
	if v.Window == nil {
		v.Window = newDriftWindow(b)
	}
	w := v.Window
	if w.N == 0 || ev.Time.Before(w.From) {
		w.From = ev.Time
	}
	if ev.Time.After(w.To) {
		w.To = ev.Time
	}
	w.N++
	if w.slots == nil {
		w.slots = make(map[string]slot, len(b.Features))
		for name, f := range b.Features {
			w.slots[name] = slot{f, w.Profiles[name]}
		}
	}
	seen := 0
	eachFeature(ev, maxScore, func(name string, val value) {
		if s, ok := w.slots[name]; ok {
			seen++
			s.f.observe(s.p, val)
		}
	})
	want := len(w.Profiles)
	if _, ok := w.Profiles[FeatLabel]; ok {
		want-- // labels arrive with feedback, not with the inference
	}
	if seen < want {
		// Rare path: baseline features absent from this event are nulls.
		present := make(map[string]bool, seen)
		eachFeature(ev, maxScore, func(name string, _ value) { present[name] = true })
		for name, p := range w.Profiles {
			if name != FeatLabel && !present[name] {
				p.AddNull()
			}
		}
	}
	if w.N >= a.opts.DriftWindowEvents {
		out = a.evaluate(m, v, ev.Time, out)
	}
	return out
}

func (a *Analyzer) labelDrift(v *versionState, label string, hasPred, correct bool) {
	if v.Collect != nil {
		v.Collect.add(FeatLabel, catVal(label), a.opts.MaxFeatures+1)
		if hasPred {
			v.Collect.Labeled++
			if correct {
				v.Collect.Correct++
			}
		}
		return
	}
	b := v.active()
	if b == nil || v.Window == nil {
		return
	}
	if f := b.Features[FeatLabel]; f != nil {
		f.observe(v.Window.Profiles[FeatLabel], catVal(label))
	}
	if hasPred {
		v.Window.Labeled++
		if correct {
			v.Window.Correct++
		}
	}
}

func windowString(from, to time.Time, n int) string {
	return fmt.Sprintf("%s..%s (n=%d)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), n)
}

// evaluate compares the current window with the baseline, records the
// report, returns detections and starts a new window.
func (a *Analyzer) evaluate(m *modelState, v *versionState, now time.Time, out []Detection) []Detection {
	b := v.active()
	w := v.Window
	if b == nil || w == nil || w.N < a.opts.DriftMinWindow {
		return out
	}
	rep := &DriftReport{
		BaselineID: b.ID, Baseline: windowString(b.From, b.To, b.Events), Current: windowString(w.From, w.To, w.N),
		Evaluated: now, NCurrent: w.N, Accuracy: rate(w.Correct, w.Labeled), BaseAccuracy: rate(b.Correct, b.Labeled),
	}
	windows := "baseline " + rep.Baseline + " vs current " + rep.Current
	evaluated := 0
	for _, name := range slices.Sorted(maps.Keys(b.Features)) {
		f := b.Features[name]
		cur := w.Profiles[name]
		fd, err := stats.Compare(f.Profile, cur)
		if err != nil {
			continue // empty side: nothing to compare
		}
		minN := uint64(a.opts.DriftMinWindow)
		if name == FeatLabel {
			minN = minLabels
		}
		if fd.NCurrent < minN {
			continue
		}
		evaluated++
		wRule := math.NaN()
		fr := FeatureReport{Feature: name, Kind: f.Kind.String(), NBaseline: fd.NBaseline, NCurrent: fd.NCurrent,
			Values: map[string]*float64{}, Thresholds: map[string]float64{}}
		fr.Values["psi"] = num(fd.PSI)
		fr.Thresholds["psi"] = stats.PSIThreshold
		fr.Values["js_distance"] = num(fd.JS.Distance)
		fr.Values["js_divergence"] = num(fd.JS.Divergence)
		fr.Values["js_distance_base2"] = num(fd.JS.Distance2)
		fr.Thresholds["js_distance"] = stats.JSThreshold
		if f.Kind == stats.Numeric {
			rule := f.wassersteinRule(int(fd.NCurrent))
			wRule = rule.Threshold
			fr.Values["ks_d"] = num(fd.KS.D)
			fr.Values["ks_p"] = num(fd.KS.PKolmogorov)
			fr.Thresholds["ks_d"] = stats.KSThreshold
			fr.Values["wasserstein"] = num(fd.Wasserstein)
			fr.Thresholds["wasserstein"] = wRule
		} else {
			fr.Thresholds["chi2_p"] = a.opts.ChiSquareP
		}
		// The chi-square test on the frozen bins is reported for both kinds: it is what says
		// whether a PSI or JS value beyond its threshold is beyond chance (stats.ChanceP).
		fr.Values["chi2"] = num(fd.ChiSquare.Statistic)
		fr.Values["chi2_p"] = num(fd.ChiSquare.P)
		verdict := fd.Judge(wRule)
		verdict.ChiSquare = f.Kind == stats.Categorical && fd.ChiSquare.P < a.opts.ChiSquareP
		type fired struct {
			stat     string
			val, thr float64
		}
		var fs []fired
		if verdict.PSI {
			fs = append(fs, fired{"psi", fd.PSI, stats.PSIThreshold})
		}
		if verdict.KS {
			fs = append(fs, fired{"ks_d", fd.KS.D, stats.KSThreshold})
		}
		if verdict.JS {
			fs = append(fs, fired{"js_distance", fd.JS.Distance, stats.JSThreshold})
		}
		if verdict.Wasserstein {
			fs = append(fs, fired{"wasserstein", fd.Wasserstein, wRule})
		}
		if verdict.ChiSquare {
			fs = append(fs, fired{"chi2_p", fd.ChiSquare.P, a.opts.ChiSquareP})
		}
		for _, x := range fs {
			fr.Fired = append(fr.Fired, x.stat)
		}
		fr.Drifted = len(fs) > 0
		rep.Features = append(rep.Features, fr)
		if !fr.Drifted {
			continue
		}
		rep.Drifted = append(rep.Drifted, name)
		kind := KindDrift
		switch name {
		case FeatPrediction:
			kind = KindPredictionDrift
		case FeatLabel:
			kind = KindLabelDrift
		}
		vals := map[string]float64{}
		for k, p := range fr.Values {
			if p != nil {
				vals[k] = *p
			}
		}
		out = append(out, Detection{
			Kind: kind, Model: m.Name, Version: v.Version, Time: now, Feature: name,
			Statistic: fs[0].stat, Value: fs[0].val, Threshold: fs[0].thr, Values: vals,
			Windows: windows, BaselineID: b.ID,
			Message: fmt.Sprintf("%s drift on %q: %s %.4g beyond %.4g (fired: %v)", m.Name, name, fs[0].stat, fs[0].val, fs[0].thr, fr.Fired),
		})
	}
	rep.DatasetShare, rep.DatasetDrift = stats.DatasetDrift(len(rep.Drifted), evaluated)
	if rep.DatasetDrift && evaluated >= 2 {
		out = append(out, Detection{
			Kind: KindDatasetDrift, Model: m.Name, Version: v.Version, Time: now, Statistic: "drift_share",
			Value: rep.DatasetShare, Threshold: stats.DatasetDriftThreshold, Windows: windows, BaselineID: b.ID,
			Values:  map[string]float64{"drifted": float64(len(rep.Drifted)), "features": float64(evaluated)},
			Message: fmt.Sprintf("%s dataset drift: %d of %d features drifted %v", m.Name, len(rep.Drifted), evaluated, rep.Drifted),
		})
	}
	// Concept drift: accuracy degradation against the baseline.
	conceptJudged := rep.Accuracy != nil && rep.BaseAccuracy != nil && w.Labeled >= minLabels && b.Labeled >= minLabels
	if conceptJudged && *rep.Accuracy < *rep.BaseAccuracy-conceptDrop {
		rep.ConceptDrift = true
		out = append(out, Detection{
			Kind: KindConceptDrift, Model: m.Name, Version: v.Version, Time: now, Statistic: "accuracy",
			Value: *rep.Accuracy, Threshold: *rep.BaseAccuracy - conceptDrop, Windows: windows, BaselineID: b.ID,
			Values:  map[string]float64{"baseline_accuracy": *rep.BaseAccuracy, "labels": w.Labeled},
			Message: fmt.Sprintf("%s accuracy %.3f fell below baseline %.3f − %.2f", m.Name, *rep.Accuracy, *rep.BaseAccuracy, conceptDrop),
		})
	}
	out = recoveredDrift(v.Last, rep, conceptJudged, evaluated, Detection{Model: m.Name, Version: v.Version, Time: now,
		Windows: windows, BaselineID: b.ID}, out)
	v.Last = rep
	v.Window = newDriftWindow(b)
	a.met.drift(m.Name, rep)
	return out
}

// recoveredDrift reports, against the previous evaluation prev, the drift conditions that held
// then and were judged clear now: a feature evaluated again within every threshold, dataset
// drift with at least two features evaluated, concept drift with enough labels. id carries the
// model, version, time, windows and baseline of the current evaluation.
func recoveredDrift(prev, cur *DriftReport, conceptJudged bool, evaluated int, id Detection, out []Detection) []Detection {
	if prev == nil {
		return out
	}
	id.Recovered = true
	for _, pf := range prev.Features {
		if !pf.Drifted || len(pf.Fired) == 0 {
			continue
		}
		i := slices.IndexFunc(cur.Features, func(f FeatureReport) bool { return f.Feature == pf.Feature })
		if i < 0 || cur.Features[i].Drifted {
			continue // not judged this window, or still drifted
		}
		d := id
		d.Kind = KindDrift
		switch pf.Feature {
		case FeatPrediction:
			d.Kind = KindPredictionDrift
		case FeatLabel:
			d.Kind = KindLabelDrift
		}
		d.Feature, d.Statistic = pf.Feature, pf.Fired[0]
		if p := cur.Features[i].Values[d.Statistic]; p != nil {
			d.Value = *p
		}
		d.Threshold = cur.Features[i].Thresholds[d.Statistic]
		d.Message = fmt.Sprintf("%s drift on %q recovered: every statistic within its threshold", id.Model, pf.Feature)
		out = append(out, d)
	}
	if prev.DatasetDrift && !cur.DatasetDrift && evaluated >= 2 {
		d := id
		d.Kind, d.Statistic, d.Value, d.Threshold = KindDatasetDrift, "drift_share", cur.DatasetShare, stats.DatasetDriftThreshold
		d.Message = fmt.Sprintf("%s dataset drift recovered: %d of %d features drifted", id.Model, len(cur.Drifted), evaluated)
		out = append(out, d)
	}
	if prev.ConceptDrift && !cur.ConceptDrift && conceptJudged {
		d := id
		d.Kind, d.Statistic, d.Value = KindConceptDrift, "accuracy", *cur.Accuracy
		d.Threshold = *cur.BaseAccuracy - conceptDrop
		d.Message = fmt.Sprintf("%s accuracy recovered to %.3f (baseline %.3f)", id.Model, *cur.Accuracy, *cur.BaseAccuracy)
		out = append(out, d)
	}
	return out
}
