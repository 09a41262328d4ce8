package stats

import (
	"errors"
	"math"
	"slices"
	"sort"
)

// ErrEmpty is returned when a statistic needs at least one observation on
// each side.
var ErrEmpty = errors.New("stats: empty sample")

// KSMinWindow is the minimum number of current observations for the KS
// rule of DRIFT.md (below it, D > 0.1 fires by chance).
const KSMinWindow = 500

// KSThreshold is the default alert threshold on the KS statistic D.
const KSThreshold = 0.1

// maxExactN mirrors SciPy's method='auto': exact p-values up to 10,000
// observations per side, asymptotic above.
const maxExactN = 10000

// KSResult is a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	D        float64 // sup |F_ref − F_cur|
	Location float64 // observation at which D is attained
	Sign     int     // +1 when F_ref > F_cur there, −1 otherwise
	N, M     int     // sample sizes (reference, current)
	// P is the p-value SciPy's method='auto' reports: PExact when both
	// samples have ≤ 10,000 observations and the exact computation is
	// stable, otherwise PAsymp.
	P float64
	// PExact is the exact two-sided p-value (NaN when not computed).
	PExact float64
	// PAsymp is kstwo.sf(D, round(n·m/(n+m))), SciPy's 'asymp' mode.
	PAsymp float64
	// PKolmogorov is the limiting Kolmogorov tail at √(en)·D.
	PKolmogorov float64
	// PStephens is the limiting tail with Stephens' correction
	// (√en + 0.12 + 0.11/√en)·D.
	PStephens float64
}

// EffectiveN is n·m/(n+m).
func (r KSResult) EffectiveN() float64 {
	return float64(r.N) * float64(r.M) / float64(r.N+r.M)
}

// KS2Samp runs the two-sided two-sample KS test on raw samples, matching
// scipy.stats.ks_2samp. NaN values must be removed by the caller.
func KS2Samp(ref, cur []float64) (KSResult, error) {
	n1, n2 := len(ref), len(cur)
	if n1 == 0 || n2 == 0 {
		return KSResult{}, ErrEmpty
	}
	a := slices.Clone(ref)
	b := slices.Clone(cur)
	slices.Sort(a)
	slices.Sort(b)
	var (
		maxS, minS     = math.Inf(-1), math.Inf(1)
		locMax, locMin float64
	)
	eval := func(x float64) {
		c1 := float64(sort.Search(n1, func(i int) bool { return a[i] > x })) / float64(n1)
		c2 := float64(sort.Search(n2, func(i int) bool { return b[i] > x })) / float64(n2)
		d := c1 - c2
		if d > maxS {
			maxS, locMax = d, x
		}
		if d < minS {
			minS, locMin = d, x
		}
	}
	for _, x := range a {
		eval(x)
	}
	for _, x := range b {
		eval(x)
	}
	res := KSResult{N: n1, M: n2, PExact: math.NaN()}
	neg := math.Min(1, math.Max(0, -minS))
	if neg > maxS {
		res.D, res.Location, res.Sign = neg, locMin, -1
	} else {
		res.D, res.Location, res.Sign = maxS, locMax, 1
	}
	res.fillP(true)
	return res, nil
}

// KSFromD fills a result from a statistic computed elsewhere (for
// example from sketches). Exact p-values are computed only when exact is
// true and both sizes are at most 10,000.
func KSFromD(d float64, n, m int, exact bool) KSResult {
	r := KSResult{D: d, N: n, M: m, Sign: 1, PExact: math.NaN()}
	r.fillP(exact)
	return r
}

func (r *KSResult) fillP(exact bool) {
	en := r.EffectiveN()
	sen := math.Sqrt(en)
	r.PKolmogorov = KolmogorovSF(sen * r.D)
	r.PStephens = KolmogorovSF((sen + 0.12 + 0.11/sen) * r.D)
	r.PAsymp = KolmogorovNSF(int(math.RoundToEven(en)), r.D)
	r.P = r.PAsymp
	if exact && max(r.N, r.M) <= maxExactN {
		if p, ok := ksExact(r.N, r.M, r.D); ok {
			r.PExact = p
			r.P = p
		}
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ksExact is the exact two-sided p-value P(D ≥ d) of the two-sample
// statistic under H0 without ties (Hodges 1958; for n ≠ m the
// probability is propagated column by column following Viehmann 2021,
// arXiv:2102.08037, which keeps every value in [0, 1]).
func ksExact(n1, n2 int, d float64) (float64, bool) {
	g := gcd(n1, n2)
	lcm := (n1 / g) * n2
	h := int(math.RoundToEven(d * float64(lcm)))
	if h == 0 {
		return 1, true
	}
	var p float64
	if n1 == n2 {
		p = outsideSquare(n1, h)
	} else {
		p = outerInside(n1, n2, g, h)
	}
	if math.IsNaN(p) || p < 0 || p > 1 {
		return p, false
	}
	return p, true
}

// outsideSquare is P(D_{n,n} ≥ h/n) by the reflection formula
// 2 Σ_k (−1)^(k−1) C(2n, n−kh)/C(2n, n), evaluated Horner-style.
func outsideSquare(n, h int) float64 {
	var p float64
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		for j := range h {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		p = p1 * (1 - p)
	}
	return 2 * p
}

// outerInside is the share of lattice paths from (0,0) to (m,n) that
// leave the band |x/m − y/n| < h/lcm(m,n).
func outerInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	ceilDiv := func(a, b int) int { return int(math.Ceil(float64(a) / float64(b))) }
	floorDiv := func(a, b int) int { return int(math.Floor(float64(a) / float64(b))) }
	minj, maxj := 0, min(ceilDiv(h, mg), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	A := make([]float64, lenA)
	for i := range A {
		A[i] = 1
	}
	for i := minj; i < maxj; i++ {
		A[i] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(floorDiv(ng*i-h, mg)+1, 0)
		minj = min(minj, n)
		maxj = min(ceilDiv(ng*i+h, mg), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		fi := float64(i)
		for jj := range maxj - minj {
			j := float64(jj + minj)
			val = (A[jj+minj-lastminj]*fi + val*j) / (fi + j)
			A[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for t := maxj - minj; t < maxj-minj+(lastlen-curlen) && t < lenA; t++ {
				A[t] = 1
			}
		}
	}
	return A[maxj-minj-1]
}
