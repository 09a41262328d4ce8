package stats

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzProfileUnmarshal feeds arbitrary snapshot bytes to the profile
// decoder: it must return an error or a usable profile, never panic.
func FuzzProfileUnmarshal(f *testing.F) {
	p := NewProfile(Numeric, 4, true)
	for i := range 50 {
		p.AddNumber(float64(i), i%4)
	}
	good, _ := json.Marshal(p)
	c := NewProfile(Categorical, 3, false)
	c.AddCategory("a", 0)
	goodCat, _ := json.Marshal(c)
	f.Add(good)
	f.Add(goodCat)
	f.Add([]byte(`{"kind":1,"bins":[1,2],"sketch":"AAAA"}`))
	f.Add([]byte(`{"kind":2,"hll":"AQID"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q Profile
		if err := json.Unmarshal(b, &q); err != nil {
			return
		}
		q.AddNumber(1, 0)
		q.AddCategory("x", 0)
		_ = q.Quantile(0.5)
		_ = q.Distinct()
		if _, err := json.Marshal(&q); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

// FuzzKS checks invariants of the KS test on arbitrary small samples.
func FuzzKS(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, []byte{2, 3, 4, 5, 6})
	f.Add([]byte{0}, []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) == 0 || len(b) == 0 || len(a) > 200 || len(b) > 200 {
			return
		}
		x := make([]float64, len(a))
		y := make([]float64, len(b))
		for i, v := range a {
			x[i] = float64(v % 32)
		}
		for i, v := range b {
			y[i] = float64(v % 32)
		}
		r, err := KS2Samp(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if r.D < 0 || r.D > 1 || math.IsNaN(r.P) || r.P < 0 || r.P > 1 {
			t.Fatalf("D=%v P=%v", r.D, r.P)
		}
		if r.PKolmogorov < 0 || r.PKolmogorov > 1 || r.PAsymp < 0 || r.PAsymp > 1 {
			t.Fatalf("p-values %+v", r)
		}
	})
}
