package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat"
)

func TestVectorsFairness(t *testing.T) {
	fv := loadVectors(t).Fairness
	in := fv.Inputs
	groups := map[string]*GroupStats{}
	for i := range in.YTrue {
		g := groups[in.Group[i]]
		if g == nil {
			g = &GroupStats{}
			groups[in.Group[i]] = g
		}
		g.AddPrediction(in.YPred[i] == 1)
		g.AddLabel(in.YPred[i] == 1, in.YTrue[i] == 1, in.YScore[i])
	}
	r := Fairness(groups, "A")
	for name, want := range fv.PerGroup {
		got := r.Groups[name]
		check(t, name+" selection", got.SelectionRate, want.SelectionRate, 1e-12)
		check(t, name+" tpr", got.TPR, want.TPR, 1e-12)
		check(t, name+" fpr", got.FPR, want.FPR, 1e-12)
		check(t, name+" ece", got.ECE, want.ECE, 1e-9)
	}
	check(t, "parity ratio", r.ParityRatio, fv.DI, 1e-12)
	check(t, "parity min/max", r.ParityMinMax, fv.DPRatioMinMax, 1e-12)
	check(t, "disparate impact", r.DisparateImpact, fv.DI, 1e-12)
	check(t, "equalized odds", r.EqualizedOdds, fv.EOWorst, 1e-12)
	check(t, "calibration gap", r.CalibrationGap, fv.CalGap, 1e-9)
	if r.Privileged != "A" || r.ParityGroup != "B" {
		t.Errorf("privileged %q parity group %q", r.Privileged, r.ParityGroup)
	}
	want := []string{"demographic_parity", "disparate_impact", "equalized_odds", "calibration"}
	if got := r.Violations(); !slices.Equal(got, want) {
		t.Errorf("violations %v, want %v", got, want)
	}
	// Without a configured privileged group the highest selection rate
	// is the reference: still A here.
	if r2 := Fairness(groups, ""); r2.Privileged != "A" || r2.DisparateImpact != r.DisparateImpact {
		t.Errorf("auto privileged: %+v", r2)
	}
	// Merging split halves gives the same result.
	a, b := &GroupStats{}, &GroupStats{}
	for i := range 10 {
		dst := a
		if i%2 == 1 {
			dst = b
		}
		dst.AddPrediction(in.YPred[i] == 1)
		dst.AddLabel(in.YPred[i] == 1, in.YTrue[i] == 1, in.YScore[i])
	}
	a.Merge(b)
	if !closeTo(a.ECE(), float64(fv.PerGroup["A"].ECE), 1e-9) || a.TPR() != groups["A"].TPR() {
		t.Errorf("merged group differs: ece %v tpr %v", a.ECE(), a.TPR())
	}
}

func TestFairnessNoLabels(t *testing.T) {
	g := map[string]*GroupStats{"x": {}, "y": {}}
	for range 10 {
		g["x"].AddPrediction(true)
		g["y"].AddPrediction(false)
	}
	g["y"].AddPrediction(true)
	r := Fairness(g, "x")
	if !math.IsNaN(r.EqualizedOdds) || !math.IsNaN(r.CalibrationGap) {
		t.Errorf("odds/calibration without labels: %+v", r)
	}
	if !closeTo(r.DisparateImpact, 1.0/11, 1e-12) {
		t.Errorf("DI = %v", r.DisparateImpact)
	}
}

func TestVectorsLatencySketch(t *testing.T) {
	lv := loadVectors(t).Latency
	if len(lv.Inputs) != 200 {
		t.Fatalf("latency inputs: %d", len(lv.Inputs))
	}
	// Split across two "replicas" and merge, as the live metrics do.
	a, b := NewSketch(), NewSketch()
	for i, v := range lv.Inputs {
		s := a
		if i%3 == 0 {
			s = b
		}
		if err := s.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.MergeWith(b); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]float64{"p50": 0.50, "p95": 0.95, "p99": 0.99} {
		want := lv.Percentiles[name]
		got, err := a.GetValueAtQuantile(q)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := float64(want.Interval[0]), float64(want.Interval[1])
		if got < lo || got > hi {
			t.Errorf("%s = %v, outside [%v, %v]", name, got, lo, hi)
		}
	}
}

func TestMomentsMergeMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 1001)
	for i := range x {
		x[i] = r.NormFloat64()*3 + 10
	}
	var whole, left, right Moments
	for i, v := range x {
		whole.Add(v)
		if i < 317 {
			left.Add(v)
		} else {
			right.Add(v)
		}
	}
	left.Merge(right)
	mean, variance := stat.PopMeanVariance(x, nil)
	for _, m := range []Moments{whole, left} {
		if !closeTo(m.Mean, mean, 1e-12) || !closeTo(m.Variance(), variance, 1e-10) || m.N != 1001 {
			t.Errorf("moments %+v, want mean %v var %v", m, mean, variance)
		}
		if m.Min != slices.Min(x) || m.Max != slices.Max(x) {
			t.Errorf("min/max %v %v", m.Min, m.Max)
		}
	}
}

func TestKSSketchEqualsBucketedExact(t *testing.T) {
	for _, v := range loadVectors(t).Drift {
		if v.KS == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			sa, sb := NewSketch(), NewSketch()
			var ba, bb []float64
			for _, x := range v.Reference {
				_ = sa.Add(x)
				ba = append(ba, BucketValue(x))
			}
			for _, x := range v.Current {
				_ = sb.Add(x)
				bb = append(bb, BucketValue(x))
			}
			got, err := KSSketch(sa, sb)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := KS2Samp(ba, bb)
			if !closeTo(got.D, want.D, 1e-12) {
				t.Errorf("sketch D = %v, bucketed exact D = %v", got.D, want.D)
			}
			// Bucketing merges only values within 2α of each other, so
			// the sketch D stays close to the raw D for these samples.
			if math.Abs(got.D-float64(v.KS.D)) > 0.05 {
				t.Errorf("sketch D = %v, raw D = %v", got.D, v.KS.D)
			}
			check(t, "p kolmogorov", got.PKolmogorov, jf(KolmogorovSF(math.Sqrt(got.EffectiveN())*got.D)), 1e-15)
			// W1 from sketches is within α relative of the exact W1 of
			// the samples (every value moves by at most α·|x|).
			w := WassersteinSketch(sa, sb)
			exact := Wasserstein(v.Reference, v.Current)
			var bound float64
			for _, x := range append(slices.Clone(v.Reference), v.Current...) {
				bound = math.Max(bound, math.Abs(x))
			}
			if math.Abs(w-exact) > 2*SketchAlpha*bound {
				t.Errorf("sketch W1 = %v, exact %v", w, exact)
			}
		})
	}
}

func TestProfileCompareAndMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := make([]float64, 5000)
	for i := range base {
		base[i] = r.NormFloat64()
	}
	bins := NewNumericBins(base)
	if bins.Len() != 10 {
		t.Fatalf("decile bins: %d", bins.Len())
	}
	mk := func(shift float64, n int) *Profile {
		p := NewProfile(Numeric, bins.Len(), true)
		for range n {
			x := r.NormFloat64() + shift
			p.AddNumber(x, bins.Index(x))
		}
		return p
	}
	bp := NewProfile(Numeric, bins.Len(), true)
	for _, x := range base {
		bp.AddNumber(x, bins.Index(x))
	}
	same := mk(0, 1000)
	shifted := mk(1, 1000)
	fs, err := Compare(bp, same)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Judge(0.3).Any() {
		t.Errorf("unchanged data judged drifted: %+v", fs)
	}
	fd, err := Compare(bp, shifted)
	if err != nil {
		t.Fatal(err)
	}
	v := fd.Judge(0.3)
	if !v.PSI || !v.KS || !v.JS || !v.Wasserstein {
		t.Errorf("shift by 1σ not detected: %+v %+v", v, fd)
	}
	// Merge two halves equals the whole.
	h1, h2 := mk(0, 500), mk(0, 500)
	whole := h1.Clone()
	if err := whole.Merge(h2); err != nil {
		t.Fatal(err)
	}
	if whole.Observed() != 1000 || whole.Moments.N != 1000 || whole.Sketch().GetCount() != 1000 {
		t.Errorf("merged counts: %d %v %v", whole.Observed(), whole.Moments.N, whole.Sketch().GetCount())
	}
	if d := whole.Distinct(); d < 980 || d > 1020 {
		t.Errorf("HLL distinct = %d, want ≈1000", d)
	}
	// Round trip through JSON.
	b, err := json.Marshal(whole)
	if err != nil {
		t.Fatal(err)
	}
	var back Profile
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Observed() != 1000 || back.Distinct() != whole.Distinct() || back.Quantile(0.5) != whole.Quantile(0.5) {
		t.Errorf("round trip lost data")
	}
	// Non-finite and null accounting.
	p := NewProfile(Numeric, bins.Len(), false)
	p.AddNumber(math.NaN(), 0)
	p.AddNumber(math.Inf(1), 0)
	p.AddNull()
	if p.Count != 3 || p.NonFinite != 2 || p.Nulls != 1 || p.Observed() != 0 {
		t.Errorf("accounting: %+v", p)
	}
	if _, err := Compare(bp, p); err == nil {
		t.Error("compare with empty window: want error")
	}
}

func TestCategoricalBins(t *testing.T) {
	c := NewCategoricalBins(map[string]uint64{"a": 5, "b": 9, "c": 1, "d": 9}, 2)
	if !slices.Equal(c.Keys, []string{"b", "d"}) || c.Len() != 3 {
		t.Fatalf("keys %v", c.Keys)
	}
	if c.Index("d") != 1 || c.Index("a") != 2 || c.Index("new") != 2 {
		t.Errorf("index: d=%d a=%d new=%d", c.Index("d"), c.Index("a"), c.Index("new"))
	}
	v := NewNumericBins([]float64{1, 2, 2, 3, math.NaN()})
	if !slices.Equal(v.Values, []float64{1, 2, 3}) || v.Index(2) != 1 || v.Index(2.5) != 3 || v.Len() != 4 {
		t.Errorf("per-value bins %+v", v)
	}
}

func TestWassersteinRule(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	base := make([]float64, 2000)
	for i := range base {
		base[i] = r.NormFloat64()
	}
	rule := NewWassersteinRule(base, 100, 10)
	if rule.ChunkSize != 100 || rule.Threshold <= rule.Mean || rule.Mean <= 0 {
		t.Fatalf("rule %+v", rule)
	}
	shifted := make([]float64, 100)
	for i := range shifted {
		shifted[i] = r.NormFloat64() + 1
	}
	if NormalizedWasserstein(base, shifted) <= rule.Threshold {
		t.Errorf("shift not above %v", rule.Threshold)
	}
	if small := NewWassersteinRule(base[:50], 100, 10); small.ChunkSize != 5 {
		t.Errorf("chunk shrink: %+v", small)
	}
	if share, drift := DatasetDrift(3, 6); share != 0.5 || !drift {
		t.Errorf("dataset drift 3/6 = %v %v", share, drift)
	}
}

func TestKolmogorovEdges(t *testing.T) {
	if KolmogorovSF(0) != 1 || KolmogorovSF(10) > 1e-80 || KolmogorovSF(-1) != 1 {
		t.Error("limits")
	}
	// Continuity across the series switch at x = 1.
	if d := math.Abs(KolmogorovSF(1-1e-12) - KolmogorovSF(1+1e-12)); d > 1e-10 {
		t.Errorf("discontinuity %g", d)
	}
	for _, n := range []int{5, 10, 40} {
		for _, d := range []float64{0.5, 0.6, 0.7} {
			a := 1 - mtwCDF(n, d)
			b := 2 * smirnovSF(n, d)
			if !closeTo(a, b, 1e-9) {
				t.Errorf("n=%d d=%v: MTW %v, Smirnov %v", n, d, a, b)
			}
		}
	}
	if p := KolmogorovNSF(1000, 0.05); math.Abs(p-0.0135) > 0.002 {
		t.Errorf("large-n approximation %v", p)
	}
}
