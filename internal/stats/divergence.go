package stats

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Default alert thresholds of DRIFT.md.
const (
	PSIThreshold          = 0.2
	JSThreshold           = 0.1
	ChiSquarePThreshold   = 0.05
	DatasetDriftThreshold = 0.5
	// ChanceP guards the bin-based rules (PSI, Jensen–Shannon): a value beyond its threshold
	// counts as drift only when the chi-square contingency test on the same frozen bins says
	// the two windows differ beyond chance (p < ChanceP). Without it, a baseline of 1,000 and
	// a window of 500 events drawn from one distribution with 20 bins pass JS distance 0.1
	// about one window in nine (8·n_eff·JSD ≈ χ²(k−1)). The level is set for the expected run
	// between false alarms, not for one test: a model with 10 features judged every 1,000
	// events runs about 10⁸ events between chance alarms. The cost: with 1,000-event windows
	// and a 1,000-event baseline over 17 bins, a JS distance needs ≈ 0.115 to count.
	ChanceP = 1e-5
	// PSIEpsilon replaces an empty bin's proportion on that side.
	PSIEpsilon = 0.0001
)

// Proportions divides counts by their sum (all zeros when the sum is 0).
func Proportions(counts []float64) []float64 {
	var s float64
	for _, c := range counts {
		s += c
	}
	p := make([]float64, len(counts))
	if s == 0 {
		return p
	}
	for i, c := range counts {
		p[i] = c / s
	}
	return p
}

// PSI is Σ (cur − ref)·ln(cur/ref) over bin proportions, an empty bin
// becoming PSIEpsilon on that side without renormalisation (the streaming
// convention of DRIFT.md).
func PSI(ref, cur []float64) float64 {
	var s float64
	for i := range ref {
		r, c := ref[i], cur[i]
		if r == 0 {
			r = PSIEpsilon
		}
		if c == 0 {
			c = PSIEpsilon
		}
		s += (c - r) * math.Log(c/r)
	}
	return s
}

// BatchPSI is Evidently's PSI on bin proportions: zeros on each side are
// replaced by 0.0001, or by min_nonzero/10⁶ when the smallest non-zero
// proportion is ≤ 0.0001.
func BatchPSI(ref, cur []float64) float64 {
	fill := func(p []float64) []float64 {
		out := slices.Clone(p)
		mn := math.Inf(1)
		for _, v := range p {
			if v != 0 && v < mn {
				mn = v
			}
		}
		eps := PSIEpsilon
		if mn <= PSIEpsilon {
			eps = mn / 1e6
		}
		for i, v := range out {
			if v == 0 {
				out[i] = eps
			}
		}
		return out
	}
	r, c := fill(ref), fill(cur)
	var s float64
	for i := range r {
		s += (r[i] - c[i]) * math.Log(r[i]/c[i])
	}
	return s
}

// JS holds the Jensen–Shannon divergence and distance in natural log and
// base 2. Distance is the alerting value (DRIFT.md).
type JS struct {
	Divergence  float64 `json:"divergence"`
	Distance    float64 `json:"distance"`
	Divergence2 float64 `json:"divergence_base2"`
	Distance2   float64 `json:"distance_base2"`
}

// JensenShannon compares two histograms (counts or proportions; each is
// normalised to sum 1, as scipy.spatial.distance.jensenshannon does). No
// epsilon is applied.
func JensenShannon(p, q []float64) JS {
	d := stat.JensenShannon(Proportions(p), Proportions(q))
	d = math.Max(d, 0)
	return JS{
		Divergence:  d,
		Distance:    math.Sqrt(d),
		Divergence2: d / math.Ln2,
		Distance2:   math.Sqrt(d / math.Ln2),
	}
}

// ChiSquareResult is a chi-square test.
type ChiSquareResult struct {
	Statistic float64 `json:"statistic"`
	P         float64 `json:"p"`
	DoF       int     `json:"dof"`
	Yates     bool    `json:"yates"`
}

// ChiSquareContingency tests the 2×K table [ref; cur] of counts for
// independence (scipy.stats.chi2_contingency), applying Yates' continuity
// correction only when dof = 1. Columns empty on both sides carry no
// information and are dropped; a category new in cur stays finite.
func ChiSquareContingency(ref, cur []float64) ChiSquareResult {
	var r, c []float64
	for i := range ref {
		if ref[i]+cur[i] > 0 {
			r = append(r, ref[i])
			c = append(c, cur[i])
		}
	}
	var nr, nc float64
	for i := range r {
		nr += r[i]
		nc += c[i]
	}
	dof := len(r) - 1
	if dof <= 0 || nr == 0 || nc == 0 {
		return ChiSquareResult{Statistic: 0, P: 1, DoF: max(dof, 0)}
	}
	total := nr + nc
	var s float64
	yates := dof == 1
	for i := range r {
		col := r[i] + c[i]
		for _, pair := range [2][2]float64{{r[i], nr}, {c[i], nc}} {
			obs, rowSum := pair[0], pair[1]
			exp := rowSum * col / total
			diff := obs - exp
			if yates {
				adj := math.Min(0.5, math.Abs(diff))
				diff = math.Copysign(math.Abs(diff)-adj, diff)
			}
			s += diff * diff / exp
		}
	}
	return ChiSquareResult{Statistic: s, P: chi2SF(s, dof), DoF: dof, Yates: yates}
}

// ChiSquareGOF is Evidently's goodness-of-fit chi-square: observed = cur
// counts, expected = ref counts scaled to the current total. An expected
// count of zero with observations gives +Inf and p = 0.
func ChiSquareGOF(ref, cur []float64) ChiSquareResult {
	var nr, nc float64
	for i := range ref {
		nr += ref[i]
		nc += cur[i]
	}
	exp := make([]float64, len(ref))
	for i := range ref {
		exp[i] = ref[i] * nc / nr
	}
	s := stat.ChiSquare(cur, exp)
	dof := len(ref) - 1
	p := 0.0
	if !math.IsInf(s, 1) {
		p = chi2SF(s, dof)
	}
	return ChiSquareResult{Statistic: s, P: p, DoF: dof}
}

func chi2SF(x float64, dof int) float64 {
	return distuv.ChiSquared{K: float64(dof)}.Survival(x)
}

// Wasserstein is W1 between two empirical samples
// (scipy.stats.wasserstein_distance).
func Wasserstein(ref, cur []float64) float64 {
	if len(ref) == 0 || len(cur) == 0 {
		return math.NaN()
	}
	return stat.WassersteinDistance(ref, cur, nil, nil)
}

// WassersteinSorted is W1 between two sorted, equally weighted samples
// (∫|F_a − F_b| dx by a merge walk, O(n+m)).
func WassersteinSorted(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN()
	}
	na, nb := float64(len(a)), float64(len(b))
	i, j := 0, 0
	var w, prev float64
	first := true
	for i < len(a) || j < len(b) {
		var x float64
		if j >= len(b) || (i < len(a) && a[i] <= b[j]) {
			x = a[i]
		} else {
			x = b[j]
		}
		if !first {
			w += math.Abs(float64(i)/na-float64(j)/nb) * (x - prev)
		}
		first = false
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		prev = x
	}
	return w
}

// WassersteinNorm is the baseline's standard deviation (ddof 0) floored at
// 0.001, the divisor of the normalised Wasserstein distance.
func WassersteinNorm(ref []float64) float64 {
	return math.Max(stat.PopStdDev(ref, nil), 0.001)
}

// NormalizedWasserstein is W1(ref, cur) / max(std(ref), 0.001).
func NormalizedWasserstein(ref, cur []float64) float64 {
	return Wasserstein(ref, cur) / WassersteinNorm(ref)
}

// WassersteinRule is the baseline + 2σ threshold of the normalised
// Wasserstein distance.
type WassersteinRule struct {
	Mean      float64 `json:"mean"`
	StdDev    float64 `json:"stddev"`
	Threshold float64 `json:"threshold"`
	Chunks    int     `json:"chunks"`
	ChunkSize int     `json:"chunk_size"`
}

// NewWassersteinRule computes the normalised W1 of `chunks` consecutive
// baseline chunks of size chunkSize against the whole baseline and returns
// mean + 2σ (ddof 0) of those values. When the baseline is shorter than
// chunks·chunkSize the chunk size shrinks to len/chunks (at least 1).
func NewWassersteinRule(baseline []float64, chunkSize, chunks int) WassersteinRule {
	if chunks <= 0 {
		chunks = 10
	}
	if chunkSize*chunks > len(baseline) {
		chunkSize = len(baseline) / chunks
	}
	if chunkSize < 1 || len(baseline) == 0 {
		return WassersteinRule{Threshold: math.Inf(1)}
	}
	norm := WassersteinNorm(baseline)
	sorted := slices.Sorted(slices.Values(baseline))
	chunk := make([]float64, chunkSize)
	vals := make([]float64, chunks)
	for i := range chunks {
		copy(chunk, baseline[i*chunkSize:(i+1)*chunkSize])
		slices.Sort(chunk)
		vals[i] = WassersteinSorted(sorted, chunk) / norm
	}
	mean, std := stat.PopMeanStdDev(vals, nil)
	return WassersteinRule{Mean: mean, StdDev: std, Threshold: mean + 2*std, Chunks: chunks, ChunkSize: chunkSize}
}

// DatasetDrift is the share of drifted features and whether it reaches
// DatasetDriftThreshold.
func DatasetDrift(drifted, total int) (share float64, drift bool) {
	if total == 0 {
		return 0, false
	}
	share = float64(drifted) / float64(total)
	return share, share >= DatasetDriftThreshold
}
