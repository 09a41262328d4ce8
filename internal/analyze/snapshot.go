package analyze

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/lru"
	"github.com/warden-ai/warden/internal/stats"
)

const snapshotVersion = 1

// ErrSnapshot is wrapped by Restore errors for unusable snapshots.
var ErrSnapshot = errors.New("analyze: bad snapshot")

type pendingEntry struct {
	ID string   `json:"id"`
	P  *pending `json:"p"`
}

type snapshot struct {
	Version   int                       `json:"version"`
	Taken     time.Time                 `json:"taken"`
	LastEvent time.Time                 `json:"last_event"`
	Models    map[string]*modelState    `json:"models"`
	Consumers map[string]*consumerState `json:"consumers"`
	Pairs     []uint64                  `json:"pairs"` // least recently seen first
	// ModelOrder and ConsumerOrder list the names least recently seen first, so eviction
	// order survives a restart (absent in older snapshots: those names count as oldest).
	ModelOrder    []string          `json:"model_order,omitempty"`
	ConsumerOrder []string          `json:"consumer_order,omitempty"`
	Pending       []pendingEntry    `json:"pending"` // oldest first
	Dropped       map[string]uint64 `json:"dropped"`
}

// restoreOrder rebuilds an LRU order from a snapshot's list: names missing from the list first
// (sorted), then the list's names that are in the table.
func restoreOrder[V any](o *lru.Order[string], table map[string]V, order []string) {
	listed := make(map[string]bool, len(order))
	for _, k := range order {
		listed[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(table)) {
		if !listed[k] {
			o.Touch(k)
		}
	}
	for _, k := range order {
		if _, ok := table[k]; ok {
			o.Touch(k)
		}
	}
}

// unregistered counts the models of a snapshot that are not in the inventory.
func (a *Analyzer) unregistered(models map[string]*modelState) int {
	n := 0
	for name := range models {
		if !a.registeredModel(name) {
			n++
		}
	}
	return n
}

// unregisteredConsumers counts the consumers of a snapshot that hold no key.
func (a *Analyzer) unregisteredConsumers(cs map[string]*consumerState) int {
	n := 0
	for name := range cs {
		if !a.registeredConsumer(name) {
			n++
		}
	}
	return n
}

// Snapshot writes the analyzer's state (baselines, windows, usage
// history, pending labels, counters) as JSON. LastEvent in the snapshot is
// the newest event time observed; the caller records its own log position
// beside it and replays the events after it following Restore.
func (a *Analyzer) Snapshot(w io.Writer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := snapshot{
		Version: snapshotVersion, Taken: a.opts.Now(), LastEvent: a.lastEvent,
		Models: a.models, Consumers: a.consumers, Dropped: a.dropped,
		Pairs: a.pairs.Keys(), ModelOrder: a.modelLRU.Keys(), ConsumerOrder: a.consumerLRU.Keys(),
	}
	n := len(a.pendRing)
	for i := range n {
		id := a.pendRing[(a.pendHead+i)%n]
		if p, ok := a.pending[id]; id != "" && ok {
			s.Pending = append(s.Pending, pendingEntry{ID: id, P: &p})
		}
	}
	if err := json.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("analyze: write snapshot: %w", err)
	}
	return nil
}

// LastEventTime is the newest event time observed (or restored).
func (a *Analyzer) LastEventTime() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastEvent
}

// Restore replaces the analyzer's state with a snapshot written by
// Snapshot. On error the current state is left unchanged.
func (a *Analyzer) Restore(r io.Reader) error {
	var s snapshot
	dec := json.NewDecoder(r)
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSnapshot, s.Version, snapshotVersion)
	}
	if a.unregistered(s.Models) > a.opts.MaxModels || a.unregisteredConsumers(s.Consumers) > a.opts.MaxConsumers {
		return fmt.Errorf("%w: %d models / %d consumers exceed the configured limits", ErrSnapshot, len(s.Models), len(s.Consumers))
	}
	for name, m := range s.Models {
		if err := sanitizeModel(name, m); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
	a.lastEvent = s.LastEvent
	a.models = s.Models
	if a.models == nil {
		a.models = map[string]*modelState{}
	}
	for k, c := range s.Consumers {
		if c != nil {
			a.consumers[k] = c
		}
	}
	restoreOrder(a.modelLRU, a.models, s.ModelOrder)
	restoreOrder(a.consumerLRU, a.consumers, s.ConsumerOrder)
	for _, k := range s.Pairs {
		a.pairs.Touch(k)
	}
	for _, e := range s.Pending {
		if e.P == nil || e.ID == "" {
			continue
		}
		if old := a.pendRing[a.pendHead]; old != "" {
			delete(a.pending, old)
		}
		a.pendRing[a.pendHead] = e.ID
		a.pendHead = (a.pendHead + 1) % len(a.pendRing)
		a.pending[e.ID] = *e.P
	}
	for k, v := range s.Dropped {
		a.dropped[k] = v
	}
	a.met.models.Set(float64(len(a.models)))
	a.met.consumers.Set(float64(len(a.consumers)))
	return nil
}

// sanitizeModel checks the invariants the analyzer relies on.
func sanitizeModel(name string, m *modelState) error {
	if m == nil {
		return fmt.Errorf("%w: model %q is null", ErrSnapshot, name)
	}
	m.Name = name
	if m.Series == nil {
		m.Series = map[string]*series{}
	}
	if m.Versions == nil {
		m.Versions = map[string]*versionState{}
	}
	for k, s := range m.Series {
		if s == nil {
			delete(m.Series, k)
			continue
		}
		for i, r := range s.Windows {
			if r == nil || r.Width != int64(windowSpecs[i].Width/subBuckets) {
				s.Windows[i] = &ring{Width: int64(windowSpecs[i].Width / subBuckets)}
			}
		}
	}
	for k, v := range m.Versions {
		if v == nil {
			delete(m.Versions, k)
			continue
		}
		v.Version = k
		if v.Collect != nil {
			c := v.Collect
			if c.Kinds == nil || c.Num == nil || c.Seen == nil || c.Cat == nil || c.Nulls == nil {
				v.Collect = newCollector()
			}
		}
		for _, b := range v.Baselines {
			if b == nil {
				return fmt.Errorf("%w: model %q version %q: null baseline", ErrSnapshot, name, k)
			}
			for fname, f := range b.Features {
				if !validFeature(f) {
					delete(b.Features, fname)
				}
			}
		}
		if v.Collect == nil && v.active() == nil {
			v.Collect = newCollector()
		}
		if w := v.Window; w != nil {
			b := v.active()
			if b == nil || !windowMatches(w, b) {
				v.Window = nil
			}
		}
	}
	if m.Fair != nil {
		for _, g := range m.Fair.Groups {
			for k, x := range g {
				if x == nil {
					delete(g, k)
				}
			}
		}
	}
	return nil
}

func validFeature(f *baselineFeature) bool {
	if f == nil || f.Profile == nil || f.Profile.Kind != f.Kind {
		return false
	}
	switch f.Kind {
	case stats.Numeric:
		return f.Num != nil && f.Num.Len() == len(f.Profile.Bins)
	case stats.Categorical:
		return f.Cat != nil && f.Cat.Len() == len(f.Profile.Bins)
	}
	return false
}

func windowMatches(w *driftWindow, b *Baseline) bool {
	if len(w.Profiles) != len(b.Features) {
		return false
	}
	for name, f := range b.Features {
		p := w.Profiles[name]
		if p == nil || p.Kind != f.Kind || len(p.Bins) != f.nbins() {
			return false
		}
	}
	return true
}
