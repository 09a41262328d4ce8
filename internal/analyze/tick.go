package analyze

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/stats"
)

// Tick runs the periodic evaluations at now: drift windows that reached
// their duration, time-based baseline freezing, fairness windows,
// hour-of-week volume, daily cost, latency, error-rate and silence checks
// of every model, and consumers' volume. Call it every few seconds; it is
// idempotent within a period.
func (a *Analyzer) Tick(now time.Time) []Detection {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Detection
	for _, name := range slices.Sorted(maps.Keys(a.models)) {
		out = a.tickModel(a.models[name], now, out)
	}
	for _, name := range slices.Sorted(maps.Keys(a.consumers)) {
		out = a.volumeCheck(&a.consumers[name].Volume, "", name, now, out)
	}
	clear(a.active)
	a.met.detected(out)
	return out
}

// TickActive runs the per-model evaluations of Tick for the models that saw events since the
// last Tick or TickActive only: cheap enough to run a fraction of a second after events arrive,
// so that window detections (latency, error and refusal rate, fairness) are judged at once
// while Tick keeps its slower cadence for everything else.
func (a *Analyzer) TickActive(now time.Time) []Detection {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Detection
	for _, name := range slices.Sorted(maps.Keys(a.active)) {
		if m := a.models[name]; m != nil {
			out = a.tickModel(m, now, out)
		}
	}
	clear(a.active)
	a.met.detected(out)
	return out
}

// tickModel is Tick's evaluation of one model; it runs under mu.
func (a *Analyzer) tickModel(m *modelState, now time.Time, out []Detection) []Detection {
	days := time.Duration(a.opts.BaselineDays) * 24 * time.Hour
	for _, vk := range slices.Sorted(maps.Keys(m.Versions)) {
		v := m.Versions[vk]
		if c := v.Collect; c != nil && c.N >= a.opts.BaselineMinEvents && now.Sub(v.FirstSeen) >= days {
			m.Seq++
			b := c.freeze(baselineID(m.Name, v.Version, m.Seq), m.Name, v.Version, "auto", a.opts.Now())
			a.install(v, b)
			out = append(out, Detection{Kind: KindBaseline, Model: m.Name, Version: v.Version, Time: now, BaselineID: b.ID,
				Value: float64(b.Events), Windows: windowString(b.From, b.To, b.Events),
				Message: fmt.Sprintf("baseline %s frozen from %d events after %d days", b.ID, b.Events, a.opts.BaselineDays)})
		}
		if w := v.Window; w != nil && w.N >= a.opts.DriftMinWindow && now.Sub(w.From) >= a.opts.DriftWindow {
			out = a.evaluate(m, v, now, out)
		}
	}
	out = a.fairnessCheck(m, now, out)
	out = a.volumeCheck(&m.Volume, m.Name, "", now, out)
	out = a.costCheck(m, now, out)
	out = a.opsCheck(m, now, out)
	out = a.downCheck(m, now, out)
	return out
}

// opsCheck fires error-rate, latency and refusal-rate detections over the 5-minute window of
// each model × version × environment series, reports their recovery when the window is judged
// clear again, and updates the per-model gauges.
func (a *Analyzer) opsCheck(m *modelState, now time.Time, out []Detection) []Detection {
	const w5 = 1 // index of "5m" in windowSpecs
	var all counters
	ns := now.UnixNano()
	for _, k := range slices.Sorted(maps.Keys(m.Series)) {
		s := m.Series[k]
		if s.InputClass != "" {
			continue
		}
		c, _ := s.Windows[w5].sum(ns)
		all.merge(&c)
		judged := c.N >= minOpsRequests
		fire := func(d Detection) {
			if s.Active == nil {
				s.Active = map[string]Detection{}
			}
			s.Active[d.Kind] = d
			if now.Sub(s.LastFired[d.Kind]) < windowSpecs[w5].Width {
				return
			}
			if s.LastFired == nil {
				s.LastFired = map[string]time.Time{}
			}
			s.LastFired[d.Kind] = now
			out = append(out, d)
		}
		// clear reports the recovery of an active kind: with enough requests the condition is
		// judged false; with none in the window there is nothing left to be slow or failing.
		clear := func(kind string, value float64, msg string) {
			d, ok := s.Active[kind]
			if !ok || !(judged || c.N == 0) {
				return
			}
			delete(s.Active, kind)
			d.Recovered, d.Time, d.Value, d.EventIDs = true, now, value, nil
			d.Values = map[string]float64{}
			d.Message = fmt.Sprintf("model %s %s", m.Name, msg)
			out = append(out, d)
		}
		er := 0.0
		if c.N > 0 {
			er = c.Errors / c.N
		}
		if judged && er > errorRateThreshold {
			fire(Detection{Kind: KindErrorRate, Model: m.Name, Version: s.Version, Environment: s.Environment,
				Time: now, Statistic: "error_rate", Value: er, Threshold: errorRateThreshold, Windows: "5m",
				Values:  map[string]float64{"requests": c.N, "errors": c.Errors},
				Message: fmt.Sprintf("model %s error rate %.1f%% over 5m (%.0f requests)", m.Name, 100*er, c.N)})
		} else {
			clear(KindErrorRate, er, fmt.Sprintf("error rate back to %.1f%% over 5m (%.0f requests)", 100*er, c.N))
		}
		v := m.Versions[s.Version]
		var b *Baseline
		if v != nil {
			b = v.active()
		}
		if b == nil {
			continue
		}
		a.latencyCheck(b, &c, judged, fire, clear, m.Name, s, now)
		if b.Events > 0 {
			base := b.Refusals / float64(b.Events)
			thr := max(minRefusalRate, refusalFactor*base)
			rr := 0.0
			if c.N > 0 {
				rr = c.Refusals / c.N
			}
			if judged && rr > thr {
				fire(Detection{Kind: KindRefusalRate, Model: m.Name, Version: s.Version, Environment: s.Environment,
					Time: now, Statistic: "refusal_rate", Value: rr, Threshold: thr, Windows: "5m", BaselineID: b.ID,
					Values:  map[string]float64{"baseline_rate": base, "requests": c.N, "refusals": c.Refusals},
					Message: fmt.Sprintf("model %s refused %.0f of %.0f requests over 5m (%.1f%%; baseline %.1f%%)", m.Name, c.Refusals, c.N, 100*rr, 100*base)})
			} else {
				clear(KindRefusalRate, rr, fmt.Sprintf("refusal rate back to %.1f%% over 5m", 100*rr))
			}
		}
	}
	a.met.requests.WithLabelValues(m.Name).Set(all.N)
	if all.N > 0 {
		a.met.errRate.WithLabelValues(m.Name).Set(all.Errors / all.N)
	}
	if p := quantile(all.Latency.DDSketch, 0.95); p != nil {
		a.met.p95.WithLabelValues(m.Name).Set(*p)
	}
	return out
}

// latencyCheck compares a series' 5-minute P95 latency with twice its baseline P95.
func (a *Analyzer) latencyCheck(b *Baseline, c *counters, judged bool, fire func(Detection), clear func(string, float64, string), model string, s *series, now time.Time) {
	f := b.Features[FeatLatency]
	if f == nil || f.Kind != stats.Numeric {
		return
	}
	base := f.Profile.Quantile(0.95)
	if base <= 0 {
		return
	}
	p95 := quantile(c.Latency.DDSketch, 0.95)
	if judged && p95 != nil && *p95 > latencyFactor*base {
		fire(Detection{Kind: KindLatency, Model: model, Version: s.Version, Environment: s.Environment,
			Time: now, Statistic: "latency_p95_ms", Value: *p95, Threshold: latencyFactor * base, Windows: "5m", BaselineID: b.ID,
			Values:  map[string]float64{"baseline_p95_ms": base, "requests": c.N},
			Message: fmt.Sprintf("model %s P95 latency %.0f ms over 5m is above 2× the baseline %.0f ms", model, *p95, base)})
		return
	}
	if judged && p95 == nil {
		return // requests without latency: not judged
	}
	v := 0.0
	if p95 != nil {
		v = *p95
	}
	clear(KindLatency, v, fmt.Sprintf("P95 latency back to %.0f ms over 5m (baseline %.0f ms)", v, base))
}
