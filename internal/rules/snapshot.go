package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// snapshotVersion is bumped when the snapshot layout changes; Restore rejects other versions.
const snapshotVersion = 1

// snapshot is the long-lived engine state: what the stateful helpers learned (first-seen values,
// actor baselines, last values), the suppression windows and the groups whose alert fired and has
// not cleared yet (so that it can still auto-resolve after a restart). Aggregation windows are
// short (minutes) and are rebuilt from the live stream after a restart. Open was added without a
// version bump: older snapshots simply have none.
type snapshot struct {
	Version    int                     `json:"version"`
	Clock      time.Time               `json:"clock"`
	Seen       []seenSnap              `json:"seen,omitempty"`
	Baselines  []baseSnap              `json:"baselines,omitempty"`
	Last       []kv                    `json:"last,omitempty"`
	Suppressed map[string][]untilEntry `json:"suppressed,omitempty"` // rule id → entries
	Open       map[string][]openSnap   `json:"open,omitempty"`       // rule id → fired, not cleared
	Hours      []hourSnap              `json:"hours,omitempty"`
	// DetOpen: rule id → dedup keys of detection alerts awaiting the detector's recovery, with
	// the figures they were raised on (since 2026-12-06; older entries have none).
	DetOpen map[string][]detOpenSnap `json:"det_open,omitempty"`
	// Windows: rule id → aggregation windows, least recently used first. Written since
	// partition hand-over (docs/SCALE-OUT.md): a worker that takes over a partition resumes the
	// counts instead of rebuilding them. Older snapshots have none (windows rebuild live).
	Windows map[string][]groupSnap `json:"windows,omitempty"`
}

// groupSnap is one aggregation window of a rule (a group's buckets, values, steps, ids).
type groupSnap struct {
	Key      string        `json:"k"`
	Model    string        `json:"model,omitempty"`
	Env      string        `json:"env,omitempty"`
	Actor    string        `json:"actor,omitempty"`
	Labels   []string      `json:"labels,omitempty"`
	First    time.Time     `json:"first"`
	Pending  time.Time     `json:"pending,omitzero"`
	BaseN    int           `json:"base_n,omitempty"`
	BaseMean float64       `json:"base_mean,omitempty"`
	Sampled  time.Time     `json:"sampled,omitzero"`
	Buckets  [][3]int64    `json:"buckets,omitempty"` // index, matched, total
	Values   []untilEntry  `json:"values,omitempty"`  // distinct value → last seen
	Steps    [][]time.Time `json:"steps,omitempty"`
	IDs      []string      `json:"ids,omitempty"`
	IDTimes  []time.Time   `json:"id_times,omitempty"`
}

func snapGroup(g *group) groupSnap {
	s := groupSnap{Key: g.key, Model: g.model, Env: g.env, Actor: g.actor, Labels: append([]string(nil), g.labels...),
		First: g.first, Pending: g.pending, BaseN: g.baseN, BaseMean: g.baseMean, Sampled: g.sampled,
		IDs: append([]string(nil), g.ids...), IDTimes: append([]time.Time(nil), g.idTimes...)}
	for _, b := range g.buckets {
		s.Buckets = append(s.Buckets, [3]int64{b.idx, int64(b.matched), int64(b.total)})
	}
	for _, k := range slices.Sorted(maps.Keys(g.values)) {
		s.Values = append(s.Values, untilEntry{k, g.values[k]})
	}
	for _, st := range g.steps {
		s.Steps = append(s.Steps, append([]time.Time(nil), st...))
	}
	return s
}

func (s groupSnap) group() *group {
	g := &group{key: s.Key, model: s.Model, env: s.Env, actor: s.Actor, labels: s.Labels, first: s.First, pending: s.Pending,
		baseN: s.BaseN, baseMean: s.BaseMean, sampled: s.Sampled, steps: s.Steps}
	if len(s.IDs) == len(s.IDTimes) && len(s.IDs) <= maxIDs {
		g.ids, g.idTimes = s.IDs, s.IDTimes
	}
	for _, b := range s.Buckets {
		g.buckets = append(g.buckets, bucket{idx: b[0], matched: int(b[1]), total: int(b[2])})
	}
	if len(s.Values) > 0 {
		g.values = make(map[string]time.Time, len(s.Values))
		for _, v := range s.Values[max(0, len(s.Values)-maxValues):] {
			g.values[v.Key] = v.Until
		}
	}
	return g
}

type detOpenSnap struct {
	Key       string             `json:"k"`
	At        time.Time          `json:"at"`
	Raised    bool               `json:"raised,omitempty"`
	Value     float64            `json:"value,omitempty"`
	Threshold float64            `json:"threshold,omitempty"`
	Values    map[string]float64 `json:"values,omitempty"`
}

type openSnap struct {
	Key string    `json:"k"` // group key; the alert's dedup key is "<rule id>|<key>"
	At  time.Time `json:"at"`
}

type hourSnap struct {
	Key   string    `json:"k"`
	First time.Time `json:"first"`
	N     int       `json:"n"`
	Slots []uint16  `json:"slots"`
}

type seenSnap struct {
	Key    string    `json:"k"`
	First  time.Time `json:"first"`
	Values []string  `json:"v"`
}

type baseSnap struct {
	Key  string  `json:"k"`
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
}

type kv struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

type untilEntry struct {
	Key   string    `json:"k"`
	Until time.Time `json:"until"`
}

// Snapshot writes the engine's long-lived state as JSON, least recently used entries first, so
// that Restore rebuilds the same LRU order.
func (e *Engine) Snapshot(w io.Writer) error {
	e.mu.Lock()
	s := snapshot{Version: snapshotVersion, Clock: e.clock, Suppressed: map[string][]untilEntry{}, Open: map[string][]openSnap{}}
	eachOldest(e.st.seen, func(k string, v *seenEntry) {
		s.Seen = append(s.Seen, seenSnap{Key: k, First: v.first, Values: append([]string(nil), v.values...)})
	})
	eachOldest(e.st.base, func(k string, v *baseEntry) {
		s.Baselines = append(s.Baselines, baseSnap{Key: k, N: v.n, Mean: v.mean})
	})
	eachOldest(e.st.last, func(k, v string) { s.Last = append(s.Last, kv{k, v}) })
	eachOldest(e.st.hours, func(k string, v *hourEntry) {
		s.Hours = append(s.Hours, hourSnap{Key: k, First: v.first, N: v.n, Slots: append([]uint16(nil), v.slots[:]...)})
	})
	for _, r := range e.rules {
		eachOldest(r.suppressed, func(k string, t time.Time) {
			if t.After(e.clock) {
				s.Suppressed[r.ID] = append(s.Suppressed[r.ID], untilEntry{k, t})
			}
		})
		if r.open != nil {
			eachOldest(r.open, func(k string, o *openEntry) { s.Open[r.ID] = append(s.Open[r.ID], openSnap{k, o.at}) })
		}
		if r.groups != nil && r.groups.len() > 0 {
			if s.Windows == nil {
				s.Windows = map[string][]groupSnap{}
			}
			eachOldest(r.groups, func(_ string, g *group) { s.Windows[r.ID] = append(s.Windows[r.ID], snapGroup(g)) })
		}
		if r.detOpen != nil {
			if s.DetOpen == nil {
				s.DetOpen = map[string][]detOpenSnap{}
			}
			eachOldest(r.detOpen, func(k string, o *detRaise) {
				s.DetOpen[r.ID] = append(s.DetOpen[r.ID], detOpenSnap{Key: k, At: o.at, Raised: o.known, Value: o.value, Threshold: o.threshold, Values: o.values})
			})
		}
	}
	e.mu.Unlock()
	if err := json.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("rules snapshot: %w", err)
	}
	return nil
}

// Restore loads a Snapshot into the engine, replacing its long-lived state. Suppression and open
// entries of rules the engine no longer has (or that no longer resolve) are ignored; caps apply as
// entries are added. A restored open group is judged for clearing only once a whole timespan has
// passed after the snapshot's clock, when its window has been rebuilt from the live stream.
func (e *Engine) Restore(r io.Reader) error {
	var s snapshot
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("rules restore: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("rules restore: snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := newFuncState(e.opts.LearningPeriod, e.opts.BaselineMinSamples, e.opts.MaxKeys, e.st.dropped)
	for _, x := range s.Seen {
		vals := x.Values
		if len(vals) > maxSeenValues {
			vals = vals[len(vals)-maxSeenValues:]
		}
		for i, v := range vals {
			vals[i] = digestValue(v) // snapshots written before values were hashed
		}
		st.seen.put(x.Key, &seenEntry{first: x.First, values: vals})
	}
	for _, x := range s.Baselines {
		st.base.put(x.Key, &baseEntry{n: x.N, mean: x.Mean})
	}
	for _, x := range s.Last {
		st.last.put(x.Key, digestValue(x.Value))
	}
	for _, x := range s.Hours {
		h := &hourEntry{first: x.First, n: x.N}
		copy(h.slots[:], x.Slots)
		st.hours.put(x.Key, h)
	}
	// The CEL bindings close over e.st: copy the restored stores into it rather than replacing it.
	e.st.seen, e.st.base, e.st.last, e.st.hours = st.seen, st.base, st.last, st.hours
	for _, c := range e.rules {
		c.suppressed = newLRU[time.Time](e.opts.MaxGroups, nil)
		for _, x := range s.Suppressed[c.ID] {
			c.suppressed.put(x.Key, x.Until)
		}
	}
	if s.Clock.After(e.clock) {
		e.clock = s.Clock
	}
	for _, c := range e.rules {
		if c.groups == nil {
			continue
		}
		ruleID := c.ID
		c.groups = newLRU[*group](e.opts.MaxGroups, func() { e.m.dropped.WithLabelValues("window:" + ruleID).Inc() })
		for _, x := range s.Windows[c.ID] {
			if (len(x.Steps) != 0 && len(x.Steps) != len(c.steps)) || (len(x.Buckets) != 0 && len(x.Buckets) != nBuckets) {
				continue // the rule changed since the snapshot: its window rebuilds live
			}
			c.groups.put(x.Key, x.group())
		}
	}
	for _, c := range e.rules {
		if c.detOpen != nil {
			for _, x := range s.DetOpen[c.ID] {
				c.detOpen.put(x.Key, &detRaise{at: x.At, known: x.Raised, value: x.Value, threshold: x.Threshold, values: x.Values})
			}
		}
		if c.open == nil {
			continue
		}
		ruleID := c.ID
		c.open = newLRU[*openEntry](e.opts.MaxGroups, func() { e.m.dropped.WithLabelValues("open:" + ruleID).Inc() })
		for _, x := range s.Open[c.ID] {
			c.open.put(x.Key, &openEntry{at: x.At, notBefore: e.clock.Add(c.agg.Timespan)})
		}
		c.groups.each(func(k string, g *group) {
			g.open = nil
			if n, ok := c.open.items[k]; ok {
				g.open = n.val
			}
		})
	}
	return nil
}

func eachOldest[V any](l *lru[V], f func(string, V)) {
	for n := l.tail; n != nil; n = n.prev {
		f(n.key, n.val)
	}
}
