package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/axiomhq/hyperloglog"
)

// Sketch parameters of DRIFT.md.
const (
	// SketchAlpha is the DDSketch relative accuracy.
	SketchAlpha = 0.01
	// SketchMaxBins bounds a DDSketch's memory (collapsing the lowest
	// buckets beyond it: with α = 1% that covers 2048 log-buckets, a
	// dynamic range of ~10¹⁷, so collapse never happens in practice).
	SketchMaxBins = 2048
	// HLLPrecision is the HyperLogLog precision (2¹⁴ registers, ~0.8%
	// standard error).
	HLLPrecision = 14
)

// NewSketch returns a DDSketch with relative accuracy SketchAlpha and at
// most SketchMaxBins buckets per sign.
func NewSketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(SketchAlpha, SketchMaxBins)
	if err != nil {
		// Only invalid constant parameters can fail.
		panic(fmt.Sprintf("stats: ddsketch: %v", err))
	}
	return s
}

func sketchMapping() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(SketchAlpha)
	if err != nil {
		panic(fmt.Sprintf("stats: ddsketch mapping: %v", err))
	}
	return m
}

// Moments are streaming count, mean, second central moment, min and max
// (Welford), mergeable with Chan et al.'s parallel formula.
type Moments struct {
	N    float64 `json:"n"`
	Mean float64 `json:"mean"`
	M2   float64 `json:"m2"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Add adds one finite observation.
func (m *Moments) Add(x float64) {
	if m.N == 0 {
		m.Min, m.Max = x, x
	} else {
		m.Min = math.Min(m.Min, x)
		m.Max = math.Max(m.Max, x)
	}
	m.N++
	d := x - m.Mean
	m.Mean += d / m.N
	m.M2 += d * (x - m.Mean)
}

// Merge folds o into m.
func (m *Moments) Merge(o Moments) {
	switch {
	case o.N == 0:
		return
	case m.N == 0:
		*m = o
		return
	}
	n := m.N + o.N
	d := o.Mean - m.Mean
	m.Mean += d * o.N / n
	m.M2 += o.M2 + d*d*m.N*o.N/n
	m.N = n
	m.Min = math.Min(m.Min, o.Min)
	m.Max = math.Max(m.Max, o.Max)
}

// Variance is the population variance (ddof 0).
func (m Moments) Variance() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return m.M2 / m.N
}

// StdDev is the population standard deviation (ddof 0).
func (m Moments) StdDev() float64 { return math.Sqrt(m.Variance()) }

// Kind is a feature's type.
type Kind uint8

// Feature kinds.
const (
	Numeric Kind = iota + 1
	Categorical
)

func (k Kind) String() string {
	switch k {
	case Numeric:
		return "numeric"
	case Categorical:
		return "categorical"
	}
	return "unknown"
}

// Profile is a mergeable summary of one feature over one window: counts in
// frozen bins, moments, a DDSketch (numeric) and optionally a HyperLogLog.
// The zero value is not usable; build with NewProfile.
type Profile struct {
	Kind      Kind
	Count     uint64 // observations offered, including nulls
	Nulls     uint64
	NonFinite uint64
	Moments   Moments
	Bins      []uint64 // len = bins.Len() of the frozen bins
	sketch    *ddsketch.DDSketch
	hll       *hyperloglog.Sketch
}

// NewProfile returns an empty profile with nbins frozen bins. withHLL adds
// a distinct-count sketch (16 KiB when dense).
func NewProfile(kind Kind, nbins int, withHLL bool) *Profile {
	p := &Profile{Kind: kind, Bins: make([]uint64, nbins)}
	if kind == Numeric {
		p.sketch = NewSketch()
	}
	if withHLL {
		p.hll = hyperloglog.New14()
	}
	return p
}

// AddNull records a missing value.
func (p *Profile) AddNull() {
	p.Count++
	p.Nulls++
}

// AddNulls records n missing values.
func (p *Profile) AddNulls(n uint64) {
	p.Count += n
	p.Nulls += n
}

// AddCategoryN records n observations of category v in bin.
func (p *Profile) AddCategoryN(v string, bin int, n uint64) {
	if n == 0 {
		return
	}
	p.Count += n
	if bin >= 0 && bin < len(p.Bins) {
		p.Bins[bin] += n
	}
	if p.hll != nil {
		p.hll.Insert([]byte(v))
	}
}

// AddNumber records a numeric observation in bin (from the frozen
// NumericBins). Non-finite values are counted and otherwise ignored.
func (p *Profile) AddNumber(x float64, bin int) {
	p.Count++
	if math.IsNaN(x) || math.IsInf(x, 0) {
		p.NonFinite++
		return
	}
	p.Moments.Add(x)
	if p.sketch != nil {
		_ = p.sketch.Add(x) // fails only for non-finite values, excluded above
	}
	if bin >= 0 && bin < len(p.Bins) {
		p.Bins[bin]++
	}
	if p.hll != nil {
		p.hll.InsertHash(mix64(math.Float64bits(x)))
	}
}

// AddCategory records a categorical observation in bin (from the frozen
// CategoricalBins).
func (p *Profile) AddCategory(v string, bin int) {
	p.Count++
	if bin >= 0 && bin < len(p.Bins) {
		p.Bins[bin]++
	}
	if p.hll != nil {
		p.hll.Insert([]byte(v))
	}
}

// mix64 is the splitmix64 finaliser, used to hash float bits for HLL.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ErrMismatch is returned when merging or comparing incompatible profiles.
var ErrMismatch = errors.New("stats: profiles are not compatible")

// Merge folds o into p (same kind, same frozen bins).
func (p *Profile) Merge(o *Profile) error {
	if p.Kind != o.Kind || len(p.Bins) != len(o.Bins) {
		return ErrMismatch
	}
	p.Count += o.Count
	p.Nulls += o.Nulls
	p.NonFinite += o.NonFinite
	p.Moments.Merge(o.Moments)
	for i, c := range o.Bins {
		p.Bins[i] += c
	}
	if p.sketch != nil && o.sketch != nil {
		if err := p.sketch.MergeWith(o.sketch); err != nil {
			return fmt.Errorf("merge sketch: %w", err)
		}
	}
	if o.hll != nil {
		if p.hll == nil {
			p.hll = o.hll.Clone()
		} else if err := p.hll.Merge(o.hll); err != nil {
			return fmt.Errorf("merge hll: %w", err)
		}
	}
	return nil
}

// Clone returns a deep copy.
func (p *Profile) Clone() *Profile {
	c := *p
	c.Bins = slices.Clone(p.Bins)
	if p.sketch != nil {
		c.sketch = p.sketch.Copy()
	}
	if p.hll != nil {
		c.hll = p.hll.Clone()
	}
	return &c
}

// Observed is the number of binned observations (finite numbers or
// categories).
func (p *Profile) Observed() uint64 {
	var n uint64
	for _, c := range p.Bins {
		n += c
	}
	return n
}

// Distinct estimates the number of distinct values (0 without HLL).
func (p *Profile) Distinct() uint64 {
	if p.hll == nil {
		return 0
	}
	return p.hll.Estimate()
}

// Quantile returns the value at quantile q from the sketch (NaN when empty
// or categorical).
func (p *Profile) Quantile(q float64) float64 {
	if p.sketch == nil || p.sketch.IsEmpty() {
		return math.NaN()
	}
	v, err := p.sketch.GetValueAtQuantile(q)
	if err != nil {
		return math.NaN()
	}
	return v
}

// Sketch exposes the DDSketch (nil for categorical profiles).
func (p *Profile) Sketch() *ddsketch.DDSketch { return p.sketch }

type profileJSON struct {
	Kind      Kind     `json:"kind"`
	Count     uint64   `json:"count"`
	Nulls     uint64   `json:"nulls"`
	NonFinite uint64   `json:"non_finite"`
	Moments   Moments  `json:"moments"`
	Bins      []uint64 `json:"bins"`
	Sketch    []byte   `json:"sketch,omitempty"`
	HLL       []byte   `json:"hll,omitempty"`
}

// MarshalJSON encodes the profile, sketches included.
func (p *Profile) MarshalJSON() ([]byte, error) {
	j := profileJSON{Kind: p.Kind, Count: p.Count, Nulls: p.Nulls, NonFinite: p.NonFinite, Moments: p.Moments, Bins: p.Bins}
	if p.sketch != nil {
		p.sketch.Encode(&j.Sketch, false)
	}
	if p.hll != nil {
		b, err := p.hll.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode hll: %w", err)
		}
		j.HLL = b
	}
	return json.Marshal(j)
}

// MaxProfileBins bounds the number of bins accepted when decoding.
const MaxProfileBins = 1 << 16

// UnmarshalJSON decodes a profile written by MarshalJSON.
func (p *Profile) UnmarshalJSON(b []byte) error {
	var j profileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode profile: %w", err)
	}
	if j.Kind != Numeric && j.Kind != Categorical {
		return fmt.Errorf("decode profile: kind %d: %w", j.Kind, ErrMismatch)
	}
	if len(j.Bins) > MaxProfileBins {
		return fmt.Errorf("decode profile: %d bins exceeds %d", len(j.Bins), MaxProfileBins)
	}
	np := Profile{Kind: j.Kind, Count: j.Count, Nulls: j.Nulls, NonFinite: j.NonFinite, Moments: j.Moments, Bins: j.Bins}
	if j.Kind == Numeric {
		np.sketch = NewSketch()
		if len(j.Sketch) > 0 {
			if err := np.sketch.DecodeAndMergeWith(j.Sketch); err != nil {
				return fmt.Errorf("decode profile sketch: %w", err)
			}
		}
	}
	if len(j.HLL) > 0 {
		np.hll = hyperloglog.New14()
		if err := np.hll.UnmarshalBinary(j.HLL); err != nil {
			return fmt.Errorf("decode profile hll: %w", err)
		}
	}
	*p = np
	return nil
}

// sketchCDF is a DDSketch's bucket-level distribution: ascending bucket
// values with cumulative counts.
type sketchCDF struct {
	x   []float64
	cum []float64
	n   float64
}

func newSketchCDF(s *ddsketch.DDSketch) sketchCDF {
	type vc struct{ v, c float64 }
	var pts []vc
	s.ForEach(func(v, c float64) bool {
		pts = append(pts, vc{v, c})
		return false
	})
	slices.SortFunc(pts, func(a, b vc) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	out := sketchCDF{x: make([]float64, 0, len(pts)), cum: make([]float64, 0, len(pts))}
	for _, p := range pts {
		if l := len(out.x); l > 0 && out.x[l-1] == p.v {
			out.cum[l-1] += p.c
			out.n += p.c
			continue
		}
		out.n += p.c
		out.x = append(out.x, p.v)
		out.cum = append(out.cum, out.n)
	}
	return out
}

// walkCDFs calls f(x, next, Fa, Fb) for every point x of the union of both
// grids, with both CDFs evaluated at x and next the following grid point
// (+Inf at the end).
func walkCDFs(a, b sketchCDF, f func(x, next, fa, fb float64)) {
	i, j := 0, 0
	var fa, fb float64
	for i < len(a.x) || j < len(b.x) {
		var x float64
		switch {
		case j >= len(b.x) || (i < len(a.x) && a.x[i] < b.x[j]):
			x = a.x[i]
		default:
			x = b.x[j]
		}
		for i < len(a.x) && a.x[i] <= x {
			fa = a.cum[i] / a.n
			i++
		}
		for j < len(b.x) && b.x[j] <= x {
			fb = b.cum[j] / b.n
			j++
		}
		next := math.Inf(1)
		if i < len(a.x) {
			next = a.x[i]
		}
		if j < len(b.x) && b.x[j] < next {
			next = b.x[j]
		}
		f(x, next, fa, fb)
	}
}

// KSSketch computes the KS statistic between two sketches by evaluating
// both CDFs on the union of their bucket grids; the p-values use the
// Kolmogorov tail at n·m/(n+m) (no exact p-value from sketches). Both
// sketches must share the same index mapping (as NewSketch guarantees):
// the result then equals the exact KS statistic of the two samples with
// every value replaced by its bucket's representative value.
func KSSketch(ref, cur *ddsketch.DDSketch) (KSResult, error) {
	if ref == nil || cur == nil || ref.IsEmpty() || cur.IsEmpty() {
		return KSResult{}, ErrEmpty
	}
	a, b := newSketchCDF(ref), newSketchCDF(cur)
	var d, loc float64
	sign := 1
	walkCDFs(a, b, func(x, _, fa, fb float64) {
		if diff := math.Abs(fa - fb); diff > d {
			d, loc = diff, x
			sign = 1
			if fa < fb {
				sign = -1
			}
		}
	})
	r := KSFromD(d, int(math.Round(a.n)), int(math.Round(b.n)), false)
	r.Location, r.Sign = loc, sign
	return r, nil
}

// WassersteinSketch is W1 between two sketches' bucket-level
// distributions: ∫|F_ref − F_cur| over the union grid.
func WassersteinSketch(ref, cur *ddsketch.DDSketch) float64 {
	if ref == nil || cur == nil || ref.IsEmpty() || cur.IsEmpty() {
		return math.NaN()
	}
	var w float64
	walkCDFs(newSketchCDF(ref), newSketchCDF(cur), func(x, next, fa, fb float64) {
		if !math.IsInf(next, 1) {
			w += math.Abs(fa-fb) * (next - x)
		}
	})
	return w
}

// BucketValue is the representative value of x's sketch bucket (what a
// sketch made by NewSketch reports for x).
func BucketValue(x float64) float64 {
	m := sketchMapping()
	if x == 0 {
		return 0
	}
	if x < 0 {
		return -m.Value(m.Index(-x))
	}
	return m.Value(m.Index(x))
}
