package stats

import (
	"math/rand/v2"
	"testing"
)

// TestBinRulesIgnoreChance: a window drawn from the baseline's own distribution — 20 discrete
// values, like the lengths of a help desk's 20 usual questions — passes JS distance 0.1 or
// PSI 0.2 now and then by chance alone (baseline 1,000, window 500); those windows are not
// drift. A real change of the mix still is.
func TestBinRulesIgnoreChance(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	weights := make([]float64, 20)
	for i := range weights {
		weights[i] = 1 + float64(i%5) // uneven, like real question popularity
	}
	draw := func(w []float64) float64 {
		var sum float64
		for _, x := range w {
			sum += x
		}
		u := r.Float64() * sum
		for i, x := range w {
			if u -= x; u < 0 {
				return float64(40 + 3*i)
			}
		}
		return float64(40 + 3*(len(w)-1))
	}
	sample := func(w []float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = draw(w)
		}
		return out
	}
	profile := func(bins NumericBins, xs []float64) *Profile {
		p := NewProfile(Numeric, bins.Len(), false)
		for _, x := range xs {
			p.AddNumber(x, bins.Index(x))
		}
		return p
	}
	const trials = 400
	rawJS, rawPSI, judged := 0, 0, 0
	for range trials {
		base := sample(weights, 1000)
		bins := NewNumericBins(base)
		fd, err := Compare(profile(bins, base), profile(bins, sample(weights, 500)))
		if err != nil {
			t.Fatal(err)
		}
		if fd.JS.Distance > JSThreshold {
			rawJS++
		}
		if fd.PSI > PSIThreshold {
			rawPSI++
		}
		if v := fd.Judge(1e9); v.JS || v.PSI {
			judged++
		}
	}
	t.Logf("%d windows of unchanged data: JS > %.1f in %d, PSI > %.1f in %d, judged drifted %d", trials, JSThreshold, rawJS, PSIThreshold, rawPSI, judged)
	if rawJS < trials/50 {
		t.Fatalf("chance alone passed the JS threshold in only %d of %d windows: the test no longer exercises the guard", rawJS, trials)
	}
	if judged > trials/200 {
		t.Errorf("unchanged data judged drifted by PSI or JS in %d of %d windows", judged, trials)
	}

	// The same window sizes with a real change of the mix: the popular values swap with rare ones.
	shifted := make([]float64, 20)
	for i := range shifted {
		shifted[i] = weights[len(weights)-1-i]
		if i < 5 {
			shifted[i] *= 2.5
		}
	}
	base := sample(weights, 1000)
	bins := NewNumericBins(base)
	fd, err := Compare(profile(bins, base), profile(bins, sample(shifted, 500)))
	if err != nil {
		t.Fatal(err)
	}
	if v := fd.Judge(1e9); !v.JS || !v.PSI {
		t.Errorf("a changed mix not judged drifted by PSI and JS: %+v (psi %.3f, js %.3f, chi2 p %.2g)", v, fd.PSI, fd.JS.Distance, fd.ChiSquare.P)
	}
}
