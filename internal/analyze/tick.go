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
// hour-of-week volume, daily cost, latency and error-rate checks. Call it
// every few seconds; it is idempotent within a period.
func (a *Analyzer) Tick(now time.Time) []Detection {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Detection
	days := time.Duration(a.opts.BaselineDays) * 24 * time.Hour
	for _, name := range slices.Sorted(maps.Keys(a.models)) {
		m := a.models[name]
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
	}
	for _, name := range slices.Sorted(maps.Keys(a.consumers)) {
		out = a.volumeCheck(&a.consumers[name].Volume, "", name, now, out)
	}
	a.met.detected(out)
	return out
}

// opsCheck fires error-rate and latency detections over the 5-minute
// window of each model × version × environment series, and updates the
// per-model gauges.
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
		if c.N < minOpsRequests {
			continue
		}
		fire := func(kind string) bool {
			if now.Sub(s.LastFired[kind]) < windowSpecs[w5].Width {
				return false
			}
			if s.LastFired == nil {
				s.LastFired = map[string]time.Time{}
			}
			s.LastFired[kind] = now
			return true
		}
		if er := c.Errors / c.N; er > errorRateThreshold && fire(KindErrorRate) {
			out = append(out, Detection{Kind: KindErrorRate, Model: m.Name, Version: s.Version, Environment: s.Environment,
				Time: now, Statistic: "error_rate", Value: er, Threshold: errorRateThreshold, Windows: "5m",
				Values:  map[string]float64{"requests": c.N, "errors": c.Errors},
				Message: fmt.Sprintf("model %s error rate %.1f%% over 5m (%.0f requests)", m.Name, 100*er, c.N)})
		}
		v := m.Versions[s.Version]
		if v == nil {
			continue
		}
		b := v.active()
		p95 := quantile(c.Latency.DDSketch, 0.95)
		if b == nil || p95 == nil {
			continue
		}
		f := b.Features[FeatLatency]
		if f == nil || f.Kind != stats.Numeric {
			continue
		}
		base := f.Profile.Quantile(0.95)
		if base > 0 && *p95 > latencyFactor*base && fire(KindLatency) {
			out = append(out, Detection{Kind: KindLatency, Model: m.Name, Version: s.Version, Environment: s.Environment,
				Time: now, Statistic: "latency_p95_ms", Value: *p95, Threshold: latencyFactor * base, Windows: "5m", BaselineID: b.ID,
				Values:  map[string]float64{"baseline_p95_ms": base, "requests": c.N},
				Message: fmt.Sprintf("model %s P95 latency %.0f ms over 5m is above 2× the baseline %.0f ms", m.Name, *p95, base)})
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
