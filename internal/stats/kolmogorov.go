package stats

import (
	"math"
)

// KolmogorovSF is the survival function of the limiting Kolmogorov
// distribution (SciPy's kstwobign.sf): P(K > x) where K = lim √n·D_n.
func KolmogorovSF(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return math.NaN()
	case x <= 0:
		return 1
	case x < 1:
		// CDF series, fast for small x: √(2π)/x Σ exp(−(2k−1)²π²/(8x²)).
		var s float64
		f := -math.Pi * math.Pi / (8 * x * x)
		for k := 1; k < 100; k++ {
			t := math.Exp(float64((2*k-1)*(2*k-1)) * f)
			s += t
			if t < 1e-18*s {
				break
			}
		}
		return 1 - math.Sqrt(2*math.Pi)/x*s
	default:
		// Alternating tail series: 2 Σ (−1)^(k−1) exp(−2k²x²).
		var s float64
		sign := 1.0
		for k := 1; k < 100; k++ {
			t := math.Exp(-2 * float64(k*k) * x * x)
			s += sign * t
			if t < 1e-18 {
				break
			}
			sign = -sign
		}
		return math.Min(1, math.Max(0, 2*s))
	}
}

// KolmogorovNSF is the survival function of the exact one-sample
// two-sided Kolmogorov distribution (SciPy's kstwo.sf): P(D_n ≥ d).
//
// For n ≤ 140 the value is exact up to rounding (Ruben–Gambino at the
// edges, twice the exact Smirnov tail for d ≥ 0.5, otherwise the
// Marsaglia–Tsang–Wang matrix method). For larger n it returns the
// Stephens-corrected limiting distribution, whose relative error is a few
// parts in a thousand.
func KolmogorovNSF(n int, d float64) float64 {
	if math.IsNaN(d) || n <= 0 {
		return math.NaN()
	}
	if d >= 1 {
		return 0
	}
	if d <= 0 {
		return 1
	}
	fn := float64(n)
	t := fn * d
	if t <= 1 {
		if t <= 0.5 {
			return 1
		}
		// CDF = n!/n^n · (2t−1)^n.
		cdf := 1.0
		for i := 1; i <= n; i++ {
			cdf *= float64(i) / fn * (2*t - 1)
		}
		return clamp01(1 - cdf)
	}
	if t >= fn-1 {
		return clamp01(2 * math.Pow(1-d, fn))
	}
	if d >= 0.5 {
		return clamp01(2 * smirnovSF(n, d))
	}
	if n > 140 {
		sn := math.Sqrt(fn)
		return KolmogorovSF((sn + 0.12 + 0.11/sn) * d)
	}
	return clamp01(1 - mtwCDF(n, d))
}

// smirnovSF is the exact one-sided tail P(D⁺_n ≥ d) (Birnbaum–Tingey).
func smirnovSF(n int, d float64) float64 {
	fn := float64(n)
	lgN, _ := math.Lgamma(fn + 1)
	var s float64
	for j := 0; j <= int(math.Floor(fn*(1-d))); j++ {
		fj := float64(j)
		a := 1 - d - fj/fn
		b := d + fj/fn
		if a <= 0 {
			continue
		}
		lgJ, _ := math.Lgamma(fj + 1)
		lgNJ, _ := math.Lgamma(fn - fj + 1)
		s += math.Exp(lgN - lgJ - lgNJ + (fn-fj)*math.Log(a) + (fj-1)*math.Log(b))
	}
	return d * s
}

// mtwCDF computes P(D_n < d) with the method of Marsaglia, Tsang and Wang,
// "Evaluating Kolmogorov's distribution", J. Stat. Software 8(18), 2003.
func mtwCDF(n int, d float64) float64 {
	fn := float64(n)
	k := int(fn*d) + 1
	m := 2*k - 1
	h := float64(k) - fn*d
	H := make([]float64, m*m)
	for i := range m {
		for j := range m {
			if i-j+1 >= 0 {
				H[i*m+j] = 1
			}
		}
	}
	for i := range m {
		H[i*m] -= math.Pow(h, float64(i+1))
		H[(m-1)*m+i] -= math.Pow(h, float64(m-i))
	}
	if 2*h-1 > 0 {
		H[(m-1)*m] += math.Pow(2*h-1, float64(m))
	}
	for i := range m {
		for j := range m {
			if i-j+1 > 0 {
				for g := 1; g <= i-j+1; g++ {
					H[i*m+j] /= float64(g)
				}
			}
		}
	}
	Q, eQ := matPow(H, m, n)
	s := Q[(k-1)*m+k-1]
	for i := 1; i <= n; i++ {
		s = s * float64(i) / fn
		if s < 1e-140 {
			s *= 1e140
			eQ -= 140
		}
	}
	return s * math.Pow(10, float64(eQ))
}

func matMul(a, b []float64, m int) []float64 {
	c := make([]float64, m*m)
	for i := range m {
		for k := range m {
			aik := a[i*m+k]
			if aik == 0 {
				continue
			}
			for j := range m {
				c[i*m+j] += aik * b[k*m+j]
			}
		}
	}
	return c
}

// matPow returns A^n as a matrix and a decimal exponent (value = V·10^e).
func matPow(a []float64, m, n int) ([]float64, int) {
	if n == 1 {
		return append([]float64(nil), a...), 0
	}
	v, ev := matPow(a, m, n/2)
	b := matMul(v, v, m)
	eb := 2 * ev
	if n%2 == 1 {
		b = matMul(a, b, m)
	}
	if b[(m/2)*m+m/2] > 1e140 {
		for i := range b {
			b[i] *= 1e-140
		}
		eb += 140
	}
	return b, eb
}

func clamp01(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	return math.Min(1, math.Max(0, x))
}
