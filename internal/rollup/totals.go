package rollup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Totals are the production traffic (probe traffic left out) of whole days, summed.
type Totals struct {
	Models []ModelTotal
	Access AccessTotal
}

// ModelTotal is one model's inference traffic over the days. LatencyP95Ms merges the days'
// sketches (1% relative accuracy; probe requests are in the sketch, a negligible share).
type ModelTotal struct {
	Model        string
	Inference    int64
	Errors       int64
	Blocked      int64
	CostUSD      float64
	LatencyP95Ms float64
}

// ErrIncomplete is returned by Totals when a day in the range was counted before access
// decisions and probe traffic were (a day file of an older version): ask the index instead.
var ErrIncomplete = errors.New("rollup: a day in the range predates access counting")

// Totals sums the days from from up to (not including) to; both must be UTC midnights. Its
// cost is one day file per day, whatever the number of events.
func (r *Rollup) Totals(from, to time.Time) (Totals, error) {
	from, to = from.UTC(), to.UTC()
	if !from.Equal(from.Truncate(24*time.Hour)) || !to.Equal(to.Truncate(24*time.Hour)) || !to.After(from) {
		return Totals{}, fmt.Errorf("rollup: totals need whole UTC days, got %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > MaxDays*24*time.Hour {
		return Totals{}, fmt.Errorf("rollup: at most %d days per query", MaxDays)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out Totals
	byModel := map[string]*ModelTotal{}
	sketches := map[string]*ddsketch.DDSketch{}
	for t := from; t.Before(to); t = t.Add(24 * time.Hour) {
		date := dateOf(t)
		d, ok := r.days[date]
		if !ok {
			if _, err := os.Stat(filepath.Join(r.opts.Dir, date+".json")); err != nil {
				continue // nothing happened that day
			}
			var err error
			if d, err = r.loadLocked(date); err != nil {
				return Totals{}, err
			}
		}
		if d.Access == nil {
			return Totals{}, ErrIncomplete
		}
		out.Access.Total += d.Access.Total
		out.Access.Allowed += d.Access.Allowed
		out.Access.Denied += d.Access.Denied
		out.Access.Compliant += d.Access.Compliant
		for name, m := range d.Models {
			mt := byModel[name]
			if mt == nil {
				mt = &ModelTotal{Model: name}
				byModel[name] = mt
			}
			mt.Inference += m.Events["inference"]
			mt.Errors += m.Errors
			mt.Blocked += m.Blocked
			mt.CostUSD += m.CostUSD
			if p := m.Probe; p != nil {
				mt.Inference -= p.Inference
				mt.Errors -= p.Errors
				mt.Blocked -= p.Blocked
				mt.CostUSD -= p.CostUSD
			}
			if sk := m.Latency.DDSketch; sk != nil && !sk.IsEmpty() {
				if sketches[name] == nil {
					sketches[name] = sk.Copy()
				} else if err := sketches[name].MergeWith(sk); err != nil {
					return Totals{}, fmt.Errorf("rollup: merge latency of %s on %s: %w", name, date, err)
				}
			}
		}
		r.evictLocked(date)
	}
	for name, mt := range byModel {
		if mt.Inference <= 0 {
			continue
		}
		if sk := sketches[name]; sk != nil {
			if v, err := sk.GetValueAtQuantile(0.95); err == nil {
				mt.LatencyP95Ms = v
			}
		}
		out.Models = append(out.Models, *mt)
	}
	slices.SortFunc(out.Models, func(a, b ModelTotal) int {
		switch {
		case a.Model < b.Model:
			return -1
		case a.Model > b.Model:
			return 1
		}
		return 0
	})
	return out, nil
}

// evictLocked drops a clean day that Totals loaded, so a long range does not stay in memory.
func (r *Rollup) evictLocked(date string) {
	today := r.opts.Now()
	if r.dirty[date] || date == dateOf(today) || date == dateOf(today.Add(-24*time.Hour)) {
		return
	}
	delete(r.days, date)
}
