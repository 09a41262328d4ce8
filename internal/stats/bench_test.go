package stats

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkKS2Samp(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x := make([]float64, n)
			y := make([]float64, n)
			for i := range x {
				x[i], y[i] = r.NormFloat64(), r.NormFloat64()+0.05
			}
			for b.Loop() {
				_, _ = KS2Samp(x, y)
			}
		})
	}
}

func BenchmarkProfileAddNumber(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	base := make([]float64, 1000)
	for i := range base {
		base[i] = r.NormFloat64()
	}
	bins := NewNumericBins(base)
	p := NewProfile(Numeric, bins.Len(), false)
	x := 0.3
	for b.Loop() {
		p.AddNumber(x, bins.Index(x))
		x += 0.001
	}
}

func BenchmarkCompareNumeric(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 3))
	base := make([]float64, 5000)
	for i := range base {
		base[i] = r.NormFloat64()
	}
	bins := NewNumericBins(base)
	bp := NewProfile(Numeric, bins.Len(), false)
	cp := NewProfile(Numeric, bins.Len(), false)
	for _, x := range base {
		bp.AddNumber(x, bins.Index(x))
		y := r.NormFloat64() + 0.2
		cp.AddNumber(y, bins.Index(y))
	}
	for b.Loop() {
		_, _ = Compare(bp, cp)
	}
}
