package stats

import (
	"math"
	"slices"
)

// MaxValueBins is the distinct-value limit up to which a numeric baseline
// gets one bin per value instead of deciles (DRIFT.md: "> 20 distinct").
const MaxValueBins = 20

// QuantileLinear is NumPy's default quantile (Hyndman–Fan type 7) of a
// sorted sample.
func QuantileLinear(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * q
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	t := h - float64(lo)
	a, b := sorted[lo], sorted[lo+1]
	// NumPy's _lerp: symmetric formula for exactness at both ends.
	diff := b - a
	if t >= 0.5 {
		return b - diff*(1-t)
	}
	return a + diff*t
}

// NumericBins are bins frozen from a numeric baseline. With more than
// MaxValueBins distinct baseline values they are decile bins
// (−∞,c1), [c1,c2), …, [c_last,+∞) with cuts = unique linear deciles;
// otherwise one bin per baseline value plus a last bin for unseen values.
type NumericBins struct {
	Cuts   []float64 `json:"cuts,omitempty"`   // decile mode
	Values []float64 `json:"values,omitempty"` // per-value mode (sorted)
}

// NewNumericBins freezes bins from baseline values (non-finite values are
// ignored).
func NewNumericBins(baseline []float64) NumericBins {
	s := make([]float64, 0, len(baseline))
	for _, v := range baseline {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s = append(s, v)
		}
	}
	slices.Sort(s)
	distinct := slices.Compact(slices.Clone(s))
	if len(distinct) <= MaxValueBins {
		return NumericBins{Values: distinct}
	}
	cuts := make([]float64, 0, 9)
	for i := 1; i <= 9; i++ {
		cuts = append(cuts, QuantileLinear(s, float64(i)/10))
	}
	return NumericBins{Cuts: slices.Compact(cuts)}
}

// Len is the number of bins.
func (b NumericBins) Len() int {
	if b.Values != nil || b.Cuts == nil {
		return len(b.Values) + 1
	}
	return len(b.Cuts) + 1
}

// Index is the bin of x (searchsorted right on the cuts; in per-value
// mode, unseen values map to the last bin).
func (b NumericBins) Index(x float64) int {
	if b.Values != nil || b.Cuts == nil {
		i, ok := slices.BinarySearch(b.Values, x)
		if !ok {
			return len(b.Values)
		}
		return i
	}
	// Number of cuts ≤ x; the cut list is short (≤ 9), so scan.
	i := 0
	for i < len(b.Cuts) && b.Cuts[i] <= x {
		i++
	}
	return i
}

// CategoricalBins are the top-K baseline categories plus one
// "other/unseen" bucket (index K).
type CategoricalBins struct {
	Keys  []string       `json:"keys"`
	index map[string]int // rebuilt lazily
}

// DefaultTopK is the default number of exact categorical bins.
const DefaultTopK = 32

// NewCategoricalBins keeps the k most frequent baseline categories (ties
// broken by name for determinism).
func NewCategoricalBins(counts map[string]uint64, k int) CategoricalBins {
	keys := make([]string, 0, len(counts))
	for key := range counts {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	if len(keys) > k {
		keys = keys[:k]
	}
	slices.Sort(keys)
	return CategoricalBins{Keys: keys}
}

// Len is K+1.
func (c *CategoricalBins) Len() int { return len(c.Keys) + 1 }

// Index is the bin of v; unseen categories map to the last bin.
func (c *CategoricalBins) Index(v string) int {
	if c.index == nil {
		c.index = make(map[string]int, len(c.Keys))
		for i, k := range c.Keys {
			c.index[k] = i
		}
	}
	if i, ok := c.index[v]; ok {
		return i
	}
	return len(c.Keys)
}

// BatchBins reproduces Evidently's get_binned_data for raw numeric samples
// (batch parity mode): when the reference has more than 20 distinct values,
// equal-width Sturges bins over reference ∪ current (np.histogram
// semantics, last bin closed); otherwise one bin per distinct value of the
// union. It returns the bin edges (nil in value mode) and the counts.
func BatchBins(ref, cur []float64) (edges []float64, refCounts, curCounts []float64) {
	distinct := slices.Compact(slices.Sorted(slices.Values(ref)))
	if len(distinct) <= MaxValueBins {
		keys := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(ref), cur...))))
		refCounts = make([]float64, len(keys))
		curCounts = make([]float64, len(keys))
		for _, v := range ref {
			i, _ := slices.BinarySearch(keys, v)
			refCounts[i]++
		}
		for _, v := range cur {
			i, _ := slices.BinarySearch(keys, v)
			curCounts[i]++
		}
		return nil, refCounts, curCounts
	}
	all := append(slices.Clone(ref), cur...)
	edges = sturgesEdges(all)
	return edges, histogram(ref, edges), histogram(cur, edges)
}

// sturgesEdges is np.histogram_bin_edges(x, bins="sturges").
func sturgesEdges(x []float64) []float64 {
	first, last := slices.Min(x), slices.Max(x)
	if first == last {
		first -= 0.5
		last += 0.5
	}
	ptp := slices.Max(x) - slices.Min(x)
	nb := 1
	if ptp > 0 {
		width := ptp / (math.Log2(float64(len(x))) + 1)
		nb = int(math.Ceil(ptp / width))
	}
	// np.linspace(first, last, nb+1)
	step := (last - first) / float64(nb)
	edges := make([]float64, nb+1)
	for i := range edges {
		edges[i] = float64(i)*step + first
	}
	edges[nb] = last
	return edges
}

// histogram is np.histogram(x, edges) for equal-width edges.
func histogram(x, edges []float64) []float64 {
	nb := len(edges) - 1
	counts := make([]float64, nb)
	first, last := edges[0], edges[nb]
	norm := float64(nb) / (last - first)
	for _, v := range x {
		if v < first || v > last {
			continue
		}
		i := int((v - first) * norm)
		if i == nb {
			i--
		}
		if v < edges[i] {
			i--
		} else if i != nb-1 && v >= edges[i+1] {
			i++
		}
		counts[i]++
	}
	return counts
}
