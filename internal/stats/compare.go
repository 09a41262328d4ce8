package stats

import (
	"math"
)

// FeatureDrift is the comparison of a current window's profile with the
// frozen baseline profile of one feature. Fields that do not apply to the
// feature's kind are NaN (PSI, JS and chi-square apply to both kinds; KS
// and Wasserstein to numeric features only).
type FeatureDrift struct {
	Kind        Kind            `json:"kind"`
	NBaseline   uint64          `json:"n_baseline"`
	NCurrent    uint64          `json:"n_current"`
	PSI         float64         `json:"psi"`
	JS          JS              `json:"js"`
	KS          KSResult        `json:"ks"`
	Wasserstein float64         `json:"wasserstein_normalized"`
	ChiSquare   ChiSquareResult `json:"chi_square"`
}

// Compare evaluates cur against base (same kind, same frozen bins).
func Compare(base, cur *Profile) (FeatureDrift, error) {
	if base.Kind != cur.Kind || len(base.Bins) != len(cur.Bins) {
		return FeatureDrift{}, ErrMismatch
	}
	fd := FeatureDrift{
		Kind:        base.Kind,
		NBaseline:   base.Observed(),
		NCurrent:    cur.Observed(),
		PSI:         math.NaN(),
		Wasserstein: math.NaN(),
		KS:          KSResult{D: math.NaN(), P: math.NaN(), PExact: math.NaN(), PAsymp: math.NaN(), PKolmogorov: math.NaN(), PStephens: math.NaN()},
		ChiSquare:   ChiSquareResult{Statistic: math.NaN(), P: math.NaN()},
	}
	if fd.NBaseline == 0 || fd.NCurrent == 0 {
		return fd, ErrEmpty
	}
	rb := make([]float64, len(base.Bins))
	cb := make([]float64, len(cur.Bins))
	for i := range rb {
		rb[i] = float64(base.Bins[i])
		cb[i] = float64(cur.Bins[i])
	}
	fd.PSI = PSI(Proportions(rb), Proportions(cb))
	fd.JS = JensenShannon(rb, cb)
	fd.ChiSquare = ChiSquareContingency(rb, cb)
	if base.Kind == Numeric && base.sketch != nil && cur.sketch != nil {
		if ks, err := KSSketch(base.sketch, cur.sketch); err == nil {
			fd.KS = ks
		}
		fd.Wasserstein = WassersteinSketch(base.sketch, cur.sketch) / math.Max(base.Moments.StdDev(), 0.001)
	}
	return fd, nil
}

// Verdict applies the DRIFT.md alert rules to a comparison. wRule is the
// Wasserstein baseline + 2σ threshold (NaN or +Inf disables that rule).
type Verdict struct {
	PSI         bool `json:"psi"`
	KS          bool `json:"ks"`
	JS          bool `json:"js"`
	Wasserstein bool `json:"wasserstein"`
	ChiSquare   bool `json:"chi_square"`
}

// Any reports whether any rule fired.
func (v Verdict) Any() bool { return v.PSI || v.KS || v.JS || v.Wasserstein || v.ChiSquare }

// Judge applies the thresholds. The KS rule needs a current window of at
// least KSMinWindow observations; the PSI and Jensen–Shannon rules need the
// difference of the binned counts to be beyond chance (chi-square p < ChanceP).
func (fd FeatureDrift) Judge(wassersteinThreshold float64) Verdict {
	beyondChance := fd.ChiSquare.P < ChanceP
	return Verdict{
		PSI:         fd.PSI > PSIThreshold && beyondChance,
		KS:          fd.Kind == Numeric && fd.KS.D > KSThreshold && fd.NCurrent >= KSMinWindow,
		JS:          fd.JS.Distance > JSThreshold && beyondChance,
		Wasserstein: fd.Kind == Numeric && !math.IsNaN(wassersteinThreshold) && fd.Wasserstein > wassersteinThreshold,
		ChiSquare:   fd.Kind == Categorical && fd.ChiSquare.P < ChiSquarePThreshold,
	}
}
