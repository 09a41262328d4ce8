package analyze

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// hourly is a ring of hourly counts over four weeks, for hour-of-week
// volume baselines.
type hourly struct {
	Counts  [hoursKept]uint32 `json:"counts"`
	Hour    int64             `json:"hour"`  // absolute hour of the newest slot
	First   int64             `json:"first"` // absolute hour of the first observation
	Started bool              `json:"started"`
	Fired   int64             `json:"fired"`   // hour of the last spike reported
	Checked int64             `json:"checked"` // last completed hour checked for a drop
	// Open is the hour of the spike or drop last reported and not yet recovered (0: none): a
	// later completed hour within the threshold reports the recovery.
	Open int64 `json:"open,omitempty"`
}

const (
	hoursKept      = 4 * 168
	minVolumePeers = 6
	minSpikeCount  = 20
)

func (h *hourly) add(t time.Time) {
	hr := t.Unix() / 3600
	if !h.Started {
		h.Started, h.First, h.Hour, h.Fired, h.Checked = true, hr, hr, -1, hr
	}
	if hr > h.Hour {
		for x := h.Hour + 1; x <= hr && x <= h.Hour+hoursKept; x++ {
			h.Counts[x%hoursKept] = 0
		}
		h.Hour = hr
	}
	if hr <= h.Hour-hoursKept {
		return
	}
	if hr < h.First {
		h.First = hr // an older event (replay, late delivery) extends the history
	}
	if c := &h.Counts[hr%hoursKept]; *c < math.MaxUint32 {
		*c++
	}
}

func (h *hourly) count(hr int64) float64 {
	if hr > h.Hour || hr <= h.Hour-hoursKept || hr < h.First {
		return 0
	}
	return float64(h.Counts[hr%hoursKept])
}

// peers are the counts of the same hour of week (±1 hour) in the previous
// three weeks that lie after the first observation.
func (h *hourly) peers(hr int64) []float64 {
	var out []float64
	for w := int64(1); w <= 3; w++ {
		for d := int64(-1); d <= 1; d++ {
			p := hr - w*168 + d
			if p >= h.First && p > h.Hour-hoursKept {
				out = append(out, h.count(p))
			}
		}
	}
	return out
}

// robustZ is (x − median)/(1.4826·MAD), with the scale floored at
// max(1, √median) so a perfectly regular history does not make every
// small change infinite.
func robustZ(x float64, peers []float64) (z, median, scale float64) {
	s := slices.Clone(peers)
	slices.Sort(s)
	median = medianSorted(s)
	dev := make([]float64, len(s))
	for i, v := range s {
		dev[i] = math.Abs(v - median)
	}
	slices.Sort(dev)
	scale = math.Max(1.4826*medianSorted(dev), math.Max(1, math.Sqrt(median)))
	return (x - median) / scale, median, scale
}

func medianSorted(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// daily keeps per-day cost for the trailing average.
type daily struct {
	Cost    [8]float64 `json:"cost"`
	Day     int64      `json:"day"`
	First   int64      `json:"first"`
	Started bool       `json:"started"`
	Fired   int64      `json:"fired"`
	// Open: a spike was reported and its recovery not yet (the day it fired is Fired).
	Open bool `json:"open,omitempty"`
}

func (d *daily) add(t time.Time, v float64) {
	day := t.Unix() / 86400
	if !d.Started {
		d.Started, d.First, d.Day, d.Fired = true, day, day, -1
	}
	if day > d.Day {
		for x := d.Day + 1; x <= day && x <= d.Day+8; x++ {
			d.Cost[x%8] = 0
		}
		d.Day = day
	}
	if day <= d.Day-8 {
		return
	}
	if day < d.First {
		d.First = day
	}
	d.Cost[day%8] += v
}

// trailing is the average daily cost of the 7 complete days before day
// (only days after the first observation); ok is false with < 3 days.
func (d *daily) trailing(day int64) (avg float64, ok bool) {
	var sum float64
	n := 0
	for x := day - 7; x < day; x++ {
		if x > d.First && x > d.Day-8 && x <= d.Day {
			sum += d.Cost[x%8]
			n++
		}
	}
	if n < 3 {
		return 0, false
	}
	return sum / float64(n), true
}

func (d *daily) today(day int64) float64 {
	if day != d.Day {
		return 0
	}
	return d.Cost[day%8]
}

// usage updates volume/cost and returns shadow-AI and new-consumer
// detections for an inference event.
func (a *Analyzer) usage(m *modelState, ev *event.Event, consumer string, out []Detection) []Detection {
	m.Volume.add(ev.Time)
	if ev.CostUSD != nil && *ev.CostUSD > 0 && !math.IsInf(*ev.CostUSD, 0) {
		m.Cost.add(ev.Time, *ev.CostUSD)
	}
	day := ev.Time.Unix() / 86400
	if a.opts.Inventory != nil && m.ShadowDay != day+1 {
		if _, known := a.opts.Inventory(m.Name); !known {
			m.ShadowDay = day + 1
			out = append(out, Detection{
				Kind: KindShadowAI, Model: m.Name, Version: ev.Model.Version, Environment: envOf(ev), Consumer: consumer,
				Time: ev.Time, Statistic: "model_not_in_inventory", EventIDs: idList(ev),
				Message: fmt.Sprintf("traffic to model %q, which is not in the inventory", m.Name),
			})
		}
	}
	if consumer == "" {
		return out
	}
	c := a.consumers[consumer]
	if c == nil {
		if len(a.consumers) >= a.opts.MaxConsumers {
			if victim, ok := a.consumerLRU.Oldest(a.registeredConsumer); ok {
				delete(a.consumers, victim)
				a.consumerLRU.Remove(victim)
				a.drop("consumer_evicted")
			} else if !a.registeredConsumer(consumer) {
				a.drop("consumer")
			}
		}
		if len(a.consumers) < a.opts.MaxConsumers || a.registeredConsumer(consumer) {
			c = &consumerState{FirstSeen: ev.Time}
			a.consumers[consumer] = c
			a.met.consumers.Set(float64(len(a.consumers)))
		}
	}
	if c != nil {
		a.consumerLRU.Touch(consumer)
		c.Volume.add(ev.Time)
		if a.opts.KnownConsumer != nil && c.ShadowDay != day+1 && !a.opts.KnownConsumer(consumer) {
			c.ShadowDay = day + 1
			out = append(out, Detection{
				Kind: KindShadowAI, Model: m.Name, Version: ev.Model.Version, Environment: envOf(ev), Consumer: consumer,
				Time: ev.Time, Statistic: "unregistered_consumer", EventIDs: idList(ev),
				Message: fmt.Sprintf("consumer %q is not registered", consumer),
			})
		}
	}
	k := pairKey(m.Name, consumer)
	if !a.pairs.Contains(k) {
		if a.pairs.Len() >= 10*a.opts.MaxConsumers {
			// The least recently seen pair goes; if it comes back it counts as new again.
			if victim, ok := a.pairs.Oldest(nil); ok {
				a.pairs.Remove(victim)
				a.drop("model_consumer_evicted")
			}
		}
		a.pairs.Touch(k)
		if m.hasBaseline() {
			out = append(out, Detection{
				Kind: KindNewConsumer, Model: m.Name, Version: ev.Model.Version, Environment: envOf(ev), Consumer: consumer,
				Time: ev.Time, EventIDs: idList(ev),
				Message: fmt.Sprintf("first request from consumer %q to model %q", consumer, m.Name),
			})
		}
	} else {
		a.pairs.Touch(k)
	}
	return out
}

func (m *modelState) hasBaseline() bool {
	for _, v := range m.Versions {
		if v.Active != "" {
			return true
		}
	}
	return false
}

func idList(ev *event.Event) []string {
	if ev.ID == "" {
		return nil
	}
	return []string{ev.ID}
}

// volumeCheck evaluates one hourly ring at now.
func (a *Analyzer) volumeCheck(h *hourly, model, consumer string, now time.Time, out []Detection) []Detection {
	if !h.Started {
		return out
	}
	hr := now.Unix() / 3600
	mk := func(x, z, med, scale float64, hour int64, dir string) Detection {
		who := "model " + model
		if consumer != "" {
			who = "consumer " + consumer
		}
		return Detection{
			Kind: KindVolume, Model: model, Consumer: consumer, Time: now, Statistic: "robust_z_hour_of_week",
			Value: z, Threshold: a.opts.VolumeZ, Windows: time.Unix(hour*3600, 0).UTC().Format(time.RFC3339) + " (1h)",
			Values:  map[string]float64{"count": x, "median": med, "scale": scale},
			Message: fmt.Sprintf("%s volume %s: %.0f requests this hour vs hour-of-week median %.0f (z=%.1f)", who, dir, x, med, z),
		}
	}
	// Spike in the current (partial) hour: report as soon as it crosses.
	if p := h.peers(hr); len(p) >= minVolumePeers && h.Fired != hr {
		x := h.count(hr)
		if z, med, scale := robustZ(x, p); z > a.opts.VolumeZ && x >= minSpikeCount {
			h.Fired, h.Open = hr, hr
			out = append(out, mk(x, z, med, scale, hr, "spike"))
		}
	}
	// Drop: judged on completed hours only; so is the recovery of a spike or a drop.
	for done := h.Checked + 1; done < hr && done > hr-3; done++ {
		if p := h.peers(done); len(p) >= minVolumePeers {
			x := h.count(done)
			z, med, scale := robustZ(x, p)
			switch {
			case z < -a.opts.VolumeZ:
				h.Open = done
				out = append(out, mk(x, z, med, scale, done, "drop"))
			case h.Open != 0 && done > h.Open && z <= a.opts.VolumeZ:
				h.Open = 0
				d := mk(x, z, med, scale, done, "back to normal")
				d.Recovered, d.Values = true, nil
				out = append(out, d)
			}
		}
	}
	if hr-1 > h.Checked {
		h.Checked = hr - 1
	}
	return out
}

func (a *Analyzer) costCheck(m *modelState, now time.Time, out []Detection) []Detection {
	d := &m.Cost
	day := now.Unix() / 86400
	if !d.Started || d.Fired == day {
		return out
	}
	avg, ok := d.trailing(day)
	today := d.today(day)
	if !ok || avg <= 0 || today <= a.opts.CostSpikeRatio*avg {
		if d.Open && ok && avg > 0 && day > d.Fired {
			// A new day under the ratio: the spike's day is over.
			d.Open = false
			out = append(out, Detection{Kind: KindCostSpike, Model: m.Name, Time: now, Statistic: "daily_cost_ratio",
				Value: today / avg, Threshold: a.opts.CostSpikeRatio, Windows: "today vs trailing 7 days", Recovered: true,
				Message: fmt.Sprintf("model %s cost today $%.2f is back under %.0f%% of the trailing daily average $%.2f", m.Name, today, 100*a.opts.CostSpikeRatio, avg)})
		}
		return out
	}
	d.Fired, d.Open = day, true
	return append(out, Detection{
		Kind: KindCostSpike, Model: m.Name, Time: now, Statistic: "daily_cost_ratio",
		Value: today / avg, Threshold: a.opts.CostSpikeRatio, Windows: "today vs trailing 7 days",
		Values:  map[string]float64{"today_usd": today, "trailing_daily_avg_usd": avg},
		Message: fmt.Sprintf("model %s cost today $%.2f is %.0f%% of the trailing daily average $%.2f", m.Name, today, 100*today/avg, avg),
	})
}
