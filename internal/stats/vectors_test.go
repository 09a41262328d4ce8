package stats

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
)

// jf is a JSON float that also accepts "inf", "-inf" and "nan".
type jf float64

func (f *jf) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := strconv.ParseFloat(s, 64)
		*f = jf(v)
		return err
	}
	var v float64
	err := json.Unmarshal(b, &v)
	*f = jf(v)
	return err
}

type binning struct {
	Branch          string `json:"branch"`
	BinEdges        []jf   `json:"bin_edges"`
	ReferenceCounts []jf   `json:"reference_counts"`
	CurrentCounts   []jf   `json:"current_counts"`
}

type chiBlock struct {
	Statistic jf  `json:"statistic"`
	PValue    jf  `json:"pvalue"`
	DoF       int `json:"dof"`
}

type driftVector struct {
	Name        string        `json:"name"`
	FeatureType string        `json:"feature_type"`
	Reference   []float64     `json:"reference"`
	Current     []float64     `json:"current"`
	RefCounts   map[string]jf `json:"reference_counts"`
	CurCounts   map[string]jf `json:"current_counts"`
	KS          *struct {
		D         jf  `json:"statistic_D"`
		Location  jf  `json:"statistic_location"`
		Sign      int `json:"statistic_sign"`
		PAuto     jf  `json:"pvalue_auto"`
		PExact    jf  `json:"pvalue_exact"`
		PAsymp    jf  `json:"pvalue_asymp_scipy_kstwo_sf_D_round_en"`
		EN        jf  `json:"en_effective_n"`
		PKolmo    jf  `json:"pvalue_kstwobign_sf_sqrt_en_D"`
		PStephens jf  `json:"pvalue_kstwobign_stephens_corrected"`
	} `json:"ks_2samp"`
	Wasserstein *struct {
		W      jf `json:"scipy_wasserstein_distance"`
		Std    jf `json:"reference_std_ddof0"`
		Normed jf `json:"evidently_wasserstein_normed"`
	} `json:"wasserstein"`
	JS struct {
		DistE jf      `json:"js_distance_base_e"`
		Dist2 jf      `json:"js_distance_base_2"`
		DivE  jf      `json:"js_divergence_base_e"`
		Div2  jf      `json:"js_divergence_base_2"`
		Bins  binning `json:"bins"`
	} `json:"jensenshannon_evidently_binning"`
	PSI struct {
		PSI     jf      `json:"psi"`
		Binning binning `json:"binning"`
	} `json:"psi_evidently"`
	Frozen *struct {
		Cuts      []jf `json:"cut_points"`
		RefCounts []jf `json:"reference_counts"`
		CurCounts []jf `json:"current_counts"`
		PSI       jf   `json:"psi"`
		JS2       jf   `json:"js_distance_base_2_unfilled"`
	} `json:"psi_frozen_reference_deciles_project_proposal"`
	GOF         *chiBlock `json:"chisquare_evidently_goodness_of_fit"`
	Contingency *struct {
		Table [][]float64 `json:"table_rows_reference_current"`
		Yates chiBlock    `json:"yates_correction_true"`
	} `json:"chi2_contingency_2xK_alibi_nannyml_style"`
}

type vectorFile struct {
	Drift    []driftVector `json:"drift_vectors"`
	Fairness struct {
		Inputs struct {
			YTrue  []int     `json:"y_true"`
			YPred  []int     `json:"y_pred"`
			YScore []float64 `json:"y_score"`
			Group  []string  `json:"group"`
		} `json:"inputs"`
		PerGroup map[string]struct {
			SelectionRate jf `json:"selection_rate"`
			TPR           jf `json:"tpr"`
			FPR           jf `json:"fpr"`
			ECE           jf `json:"ece_10_equal_width_bins"`
		} `json:"per_group"`
		DPRatioMinMax jf `json:"fairlearn_demographic_parity_ratio_between_groups_min_over_max"`
		DI            jf `json:"aif360_disparate_impact_unpriv_over_priv"`
		EOWorst       jf `json:"fairlearn_equalized_odds_difference_worst_case"`
		CalGap        jf `json:"calibration_gap_ece_abs_difference"`
	} `json:"fairness_vector"`
	Latency struct {
		Inputs      []float64 `json:"inputs_ms"`
		Percentiles map[string]struct {
			Interval []jf `json:"ddsketch_alpha_0.01_acceptable_interval"`
			Target   jf   `json:"ddsketch_target_rank_q_times_n_minus_1"`
		} `json:"percentiles"`
	} `json:"latency_vector"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/drift_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(v.Drift) < 6 {
		t.Fatalf("only %d drift vectors", len(v.Drift))
	}
	return v
}

// close reports whether got matches want to a relative (or, near zero,
// absolute) tolerance.
func closeTo(got, want, tol float64) bool {
	if math.IsInf(want, 0) || math.IsNaN(want) {
		return got == want || (math.IsNaN(got) && math.IsNaN(want))
	}
	d := math.Abs(got - want)
	return d <= tol || d <= tol*math.Abs(want)
}

func check(t *testing.T, what string, got float64, want jf, tol float64) {
	t.Helper()
	if !closeTo(got, float64(want), tol) {
		t.Errorf("%s = %.17g, want %.17g (tol %g)", what, got, float64(want), tol)
	}
}

func floats(in []jf) []float64 {
	out := make([]float64, len(in))
	for i, v := range in {
		out[i] = float64(v)
	}
	return out
}

// categoricalCounts returns the union-of-keys counts in sorted key order.
func categoricalCounts(v driftVector) (keys []string, ref, cur []float64) {
	for k := range v.RefCounts {
		keys = append(keys, k)
	}
	for k := range v.CurCounts {
		if _, ok := v.RefCounts[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ref = append(ref, float64(v.RefCounts[k]))
		cur = append(cur, float64(v.CurCounts[k]))
	}
	return keys, ref, cur
}

func TestVectorsKS(t *testing.T) {
	for _, v := range loadVectors(t).Drift {
		if v.KS == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			r, err := KS2Samp(v.Reference, v.Current)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "D", r.D, v.KS.D, 1e-12)
			check(t, "location", r.Location, v.KS.Location, 0)
			if r.Sign != v.KS.Sign {
				t.Errorf("sign = %d, want %d", r.Sign, v.KS.Sign)
			}
			check(t, "en", r.EffectiveN(), v.KS.EN, 1e-12)
			check(t, "p exact", r.PExact, v.KS.PExact, 1e-9)
			check(t, "p auto", r.P, v.KS.PAuto, 1e-9)
			check(t, "p asymp (kstwo)", r.PAsymp, v.KS.PAsymp, 1e-9)
			check(t, "p kolmogorov", r.PKolmogorov, v.KS.PKolmo, 1e-9)
			check(t, "p stephens", r.PStephens, v.KS.PStephens, 1e-9)
		})
	}
}

func TestVectorsWasserstein(t *testing.T) {
	for _, v := range loadVectors(t).Drift {
		if v.Wasserstein == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			check(t, "W1", Wasserstein(v.Reference, v.Current), v.Wasserstein.W, 1e-9)
			sa, sb := slices.Sorted(slices.Values(v.Reference)), slices.Sorted(slices.Values(v.Current))
			check(t, "W1 sorted merge", WassersteinSorted(sa, sb), v.Wasserstein.W, 1e-9)
			check(t, "std", WassersteinNorm(v.Reference), v.Wasserstein.Std, 1e-9)
			check(t, "normed", NormalizedWasserstein(v.Reference, v.Current), v.Wasserstein.Normed, 1e-9)
		})
	}
}

func TestVectorsBatchBinsPSIJS(t *testing.T) {
	for _, v := range loadVectors(t).Drift {
		t.Run(v.Name, func(t *testing.T) {
			var edges, rc, cc []float64
			if v.FeatureType == "categorical" {
				_, rc, cc = categoricalCounts(v)
			} else {
				edges, rc, cc = BatchBins(v.Reference, v.Current)
				want := v.PSI.Binning
				if (want.Branch == "value_counts_union_of_keys") != (edges == nil) {
					t.Fatalf("branch %s, got edges %v", want.Branch, edges)
				}
				for i, e := range want.BinEdges {
					check(t, "edge", edges[i], e, 1e-12)
				}
			}
			if !slices.Equal(rc, floats(v.PSI.Binning.ReferenceCounts)) || !slices.Equal(cc, floats(v.PSI.Binning.CurrentCounts)) {
				t.Fatalf("counts ref %v cur %v, want %v %v", rc, cc, v.PSI.Binning.ReferenceCounts, v.PSI.Binning.CurrentCounts)
			}
			check(t, "batch PSI", BatchPSI(Proportions(rc), Proportions(cc)), v.PSI.PSI, 1e-9)
			js := JensenShannon(rc, cc)
			check(t, "JS distance", js.Distance, v.JS.DistE, 1e-9)
			check(t, "JS distance base2", js.Distance2, v.JS.Dist2, 1e-9)
			check(t, "JS divergence", js.Divergence, v.JS.DivE, 1e-9)
			check(t, "JS divergence base2", js.Divergence2, v.JS.Div2, 1e-9)
		})
	}
}

func TestVectorsFrozenDeciles(t *testing.T) {
	for _, v := range loadVectors(t).Drift {
		if v.Frozen == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			// The vector's proposal always uses deciles; build them the
			// same way to check the cut/bin arithmetic, then check the
			// per-value mode separately below.
			s := slices.Sorted(slices.Values(v.Reference))
			var cuts []float64
			for i := 1; i <= 9; i++ {
				cuts = append(cuts, QuantileLinear(s, float64(i)/10))
			}
			b := NumericBins{Cuts: slices.Compact(cuts)}
			if len(b.Cuts) != len(v.Frozen.Cuts) {
				t.Fatalf("cuts %v, want %v", b.Cuts, v.Frozen.Cuts)
			}
			for i := range b.Cuts {
				check(t, "cut", b.Cuts[i], v.Frozen.Cuts[i], 1e-12)
			}
			rc := make([]float64, b.Len())
			cc := make([]float64, b.Len())
			for _, x := range v.Reference {
				rc[b.Index(x)]++
			}
			for _, x := range v.Current {
				cc[b.Index(x)]++
			}
			if !slices.Equal(rc, floats(v.Frozen.RefCounts)) || !slices.Equal(cc, floats(v.Frozen.CurCounts)) {
				t.Fatalf("counts %v %v, want %v %v", rc, cc, v.Frozen.RefCounts, v.Frozen.CurCounts)
			}
			check(t, "frozen PSI", PSI(Proportions(rc), Proportions(cc)), v.Frozen.PSI, 1e-9)
			check(t, "frozen JS base2", JensenShannon(rc, cc).Distance2, v.Frozen.JS2, 1e-9)

			// Profile mode must give the same PSI on the same bins.
			if len(slices.Compact(slices.Clone(s))) > MaxValueBins {
				nb := NewNumericBins(v.Reference)
				if !slices.Equal(nb.Cuts, b.Cuts) {
					t.Errorf("NewNumericBins cuts %v, want %v", nb.Cuts, b.Cuts)
				}
			}
		})
	}
}

func TestVectorsChiSquare(t *testing.T) {
	for _, v := range loadVectors(t).Drift {
		if v.Contingency == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			tab := v.Contingency.Table
			r := ChiSquareContingency(tab[0], tab[1])
			check(t, "statistic", r.Statistic, v.Contingency.Yates.Statistic, 1e-9)
			check(t, "p", r.P, v.Contingency.Yates.PValue, 1e-9)
			if r.DoF != v.Contingency.Yates.DoF {
				t.Errorf("dof = %d, want %d", r.DoF, v.Contingency.Yates.DoF)
			}
			if v.GOF != nil {
				g := ChiSquareGOF(tab[0], tab[1])
				check(t, "GOF statistic", g.Statistic, v.GOF.Statistic, 1e-9)
				check(t, "GOF p", g.P, v.GOF.PValue, 1e-9)
			}
		})
	}
}

func TestChiSquareYates(t *testing.T) {
	// 2×2: scipy.stats.chi2_contingency([[10, 20], [20, 10]]) →
	// statistic 5.4, p 0.02013675155034633 (Yates applied, dof 1).
	r := ChiSquareContingency([]float64{10, 20}, []float64{20, 10})
	if !r.Yates || r.DoF != 1 {
		t.Fatalf("got %+v, want Yates with dof 1", r)
	}
	if !closeTo(r.Statistic, 5.4, 1e-12) || !closeTo(r.P, 0.02013675155034633, 1e-9) {
		t.Errorf("got %+v", r)
	}
}
