package analyze

import (
	"testing"
)

// TestFalseAlarmRate runs unchanged traffic through many windows: numeric
// features (PSI, KS with the minimum window, JS, Wasserstein
// baseline + 2σ) must stay silent, and the chi-square rule on categorical
// features must fire at about its nominal rate (it is a p < 0.05 test,
// so ~5% of windows per categorical feature) — no more.
func TestFalseAlarmRate(t *testing.T) {
	const seeds, windows = 12, 4
	catFires := 0
	for seed := range uint64(seeds) {
		a, _ := newTestAnalyzer(t, nil)
		g := newGen(seed+100, "m")
		for range 1000 {
			a.Observe(g.next(), nil)
		}
		for range windows * 1000 {
			for _, d := range a.Observe(g.next(), nil) {
				if d.Recovered {
					continue // the all-clear of an earlier chi-square firing
				}
				if d.Statistic != "chi2_p" || len(d.Values) == 0 {
					t.Errorf("seed %d: false alarm: %s", seed, d.Message)
					continue
				}
				catFires++
			}
		}
	}
	// Two categorical features (country, prediction) per window.
	trials := float64(seeds * windows * 2)
	if r := float64(catFires) / trials; r > 0.12 {
		t.Errorf("chi-square false-alarm rate %.3f over %v trials, want ≈ 0.05", r, trials)
	} else {
		t.Logf("chi-square false-alarm rate %.3f over %v feature-windows", r, trials)
	}
	// A stricter p-value removes them.
	a, _ := newTestAnalyzer(t, func(o *Options) { o.ChiSquareP = 1e-4 })
	g := newGen(7, "m")
	for range 6000 {
		if d := a.Observe(g.next(), nil); len(d) > 0 && d[0].Kind != KindBaseline {
			t.Errorf("with p < 1e-4: %s", d[0].Message)
		}
	}
}
