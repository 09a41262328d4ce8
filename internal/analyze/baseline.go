package analyze

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/stats"
)

// Limits of baseline collection.
const (
	maxBaselineValues   = 10000 // raw numeric values kept per feature
	maxBaselineDistinct = 10000 // distinct categories counted per feature
	maxBaselinesKept    = 5     // per model version
	wassersteinChunks   = 10
)

// collector gathers raw feature values until a baseline is frozen.
type collector struct {
	N       int                          `json:"n"`
	From    time.Time                    `json:"from"`
	To      time.Time                    `json:"to"`
	Kinds   map[string]stats.Kind        `json:"kinds"`
	Num     map[string][]float64         `json:"num"`
	Seen    map[string]int               `json:"seen"` // numeric values offered (reservoir)
	Cat     map[string]map[string]uint64 `json:"cat"`
	Nulls   map[string]uint64            `json:"nulls"`
	Labeled float64                      `json:"labeled"`
	Correct float64                      `json:"correct"`
	// Refusals counts outputs the refusal scanner flagged.
	Refusals float64 `json:"refusals"`
	rng      *rand.Rand
}

func newCollector() *collector {
	return &collector{
		Kinds: map[string]stats.Kind{}, Num: map[string][]float64{}, Seen: map[string]int{},
		Cat: map[string]map[string]uint64{}, Nulls: map[string]uint64{},
	}
}

// add records one feature value; it returns false when the feature limit
// dropped it.
func (c *collector) add(name string, v value, maxFeatures int) bool {
	k, ok := c.Kinds[name]
	if !ok {
		if v.kind == 0 {
			c.Nulls[name]++ // remembered only once the feature has a type
			return true
		}
		if len(c.Kinds) >= maxFeatures {
			return false
		}
		k = v.kind
		c.Kinds[name] = k
	}
	if v.kind != k {
		c.Nulls[name]++
		return true
	}
	switch k {
	case stats.Numeric:
		if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
			c.Nulls[name]++
			return true
		}
		c.Seen[name]++
		vals := c.Num[name]
		if len(vals) < maxBaselineValues {
			c.Num[name] = append(vals, v.x)
		} else {
			// Reservoir sampling keeps a uniform sample of the window.
			if c.rng == nil {
				c.rng = rand.New(rand.NewPCG(uint64(c.N), 0x9e3779b97f4a7c15))
			}
			if j := c.rng.IntN(c.Seen[name]); j < maxBaselineValues {
				vals[j] = v.x
			}
		}
	case stats.Categorical:
		m := c.Cat[name]
		if m == nil {
			m = map[string]uint64{}
			c.Cat[name] = m
		}
		if _, ok := m[v.s]; ok || len(m) < maxBaselineDistinct {
			m[v.s]++
		}
	}
	return true
}

// baselineFeature is one feature of a frozen baseline.
type baselineFeature struct {
	Kind    stats.Kind             `json:"kind"`
	Num     *stats.NumericBins     `json:"num_bins,omitempty"`
	Cat     *stats.CategoricalBins `json:"cat_bins,omitempty"`
	Profile *stats.Profile         `json:"profile"`
	// Values are the baseline's numeric values mapped to their sketch
	// buckets, for the Wasserstein baseline + 2σ rule (computed on the
	// same bucketing the live sketches use).
	Values []float64                     `json:"values,omitempty"`
	rules  map[int]stats.WassersteinRule // cache by chunk size
}

func (f *baselineFeature) nbins() int {
	if f.Kind == stats.Numeric {
		return f.Num.Len()
	}
	return f.Cat.Len()
}

func (f *baselineFeature) observe(p *stats.Profile, v value) {
	switch {
	case v.kind == 0 || v.kind != f.Kind:
		p.AddNull()
	case f.Kind == stats.Numeric:
		p.AddNumber(v.x, f.Num.Index(v.x))
	default:
		p.AddCategory(v.s, f.Cat.Index(v.s))
	}
}

func (f *baselineFeature) wassersteinRule(n int) stats.WassersteinRule {
	if f.rules == nil {
		f.rules = map[int]stats.WassersteinRule{}
	}
	if r, ok := f.rules[n]; ok {
		return r
	}
	r := stats.NewWassersteinRule(f.Values, n, wassersteinChunks)
	if len(f.rules) > 16 {
		clear(f.rules)
	}
	f.rules[n] = r
	return r
}

// Baseline is a frozen reference profile of one model version.
type Baseline struct {
	ID       string                      `json:"id"`
	Model    string                      `json:"model"`
	Version  string                      `json:"version"`
	Source   string                      `json:"source"` // auto | explicit
	From     time.Time                   `json:"from"`
	To       time.Time                   `json:"to"`
	Created  time.Time                   `json:"created"`
	Events   int                         `json:"events"`
	Features map[string]*baselineFeature `json:"features"`
	Labeled  float64                     `json:"labeled"`
	Correct  float64                     `json:"correct"`
	Refusals float64                     `json:"refusals"`
}

// BaselineInfo describes a stored baseline.
type BaselineInfo struct {
	ID       string    `json:"id"`
	Model    string    `json:"model"`
	Version  string    `json:"version"`
	Source   string    `json:"source"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Created  time.Time `json:"created"`
	Events   int       `json:"events"`
	Features []string  `json:"features"`
	Accuracy *float64  `json:"accuracy"`
	Active   bool      `json:"active"`
}

func (b *Baseline) info(active bool) BaselineInfo {
	return BaselineInfo{
		ID: b.ID, Model: b.Model, Version: b.Version, Source: b.Source, From: b.From, To: b.To,
		Created: b.Created, Events: b.Events, Features: slices.Sorted(maps.Keys(b.Features)),
		Accuracy: rate(b.Correct, b.Labeled), Active: active,
	}
}

// freeze turns collected values into a baseline.
func (c *collector) freeze(id, model, version, source string, created time.Time) *Baseline {
	b := &Baseline{
		ID: id, Model: model, Version: version, Source: source, From: c.From, To: c.To,
		Created: created, Events: c.N, Features: map[string]*baselineFeature{},
		Labeled: c.Labeled, Correct: c.Correct, Refusals: c.Refusals,
	}
	for name, kind := range c.Kinds {
		f := &baselineFeature{Kind: kind}
		switch kind {
		case stats.Numeric:
			vals := c.Num[name]
			if len(vals) == 0 {
				continue
			}
			bins := stats.NewNumericBins(vals)
			f.Num = &bins
			f.Profile = stats.NewProfile(kind, bins.Len(), false)
			f.Values = make([]float64, len(vals))
			for i, x := range vals {
				f.Profile.AddNumber(x, bins.Index(x))
				f.Values[i] = stats.BucketValue(x)
			}
		case stats.Categorical:
			counts := c.Cat[name]
			if len(counts) == 0 {
				continue
			}
			bins := stats.NewCategoricalBins(counts, stats.DefaultTopK)
			f.Cat = &bins
			f.Profile = stats.NewProfile(kind, bins.Len(), false)
			for _, k := range slices.Sorted(maps.Keys(counts)) {
				f.Profile.AddCategoryN(k, bins.Index(k), counts[k])
			}
		default:
			continue
		}
		f.Profile.AddNulls(c.Nulls[name])
		b.Features[name] = f
	}
	return b
}

func baselineID(model, version string, seq int) string {
	v := version
	if v == "" {
		v = "-"
	}
	return fmt.Sprintf("bl-%s-%s-%d", model, v, seq)
}
