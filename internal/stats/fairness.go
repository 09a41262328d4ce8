package stats

import (
	"maps"
	"math"
	"slices"
)

// Fairness thresholds of DRIFT.md.
const (
	ParityLow          = 0.8
	ParityHigh         = 1.25
	DisparateImpactMin = 0.8
	EqualizedOddsMax   = 0.1
	CalibrationGapMax  = 0.05
	calibrationBins    = 10
)

// GroupStats accumulates the outcomes of one protected group. It is
// mergeable (field-wise sums).
type GroupStats struct {
	N         float64 `json:"n"`        // predictions
	Selected  float64 `json:"selected"` // positive predictions
	Positives float64 `json:"positives"`
	TP        float64 `json:"tp"`
	Negatives float64 `json:"negatives"`
	FP        float64 `json:"fp"`
	// Calibration bins: count, Σ score, Σ label per equal-width bin
	// ([0,0.1], (0.1,0.2], …, (0.9,1]).
	CalN     [calibrationBins]float64 `json:"cal_n"`
	CalScore [calibrationBins]float64 `json:"cal_score"`
	CalLabel [calibrationBins]float64 `json:"cal_label"`
}

// AddPrediction records an unlabelled prediction.
func (g *GroupStats) AddPrediction(positive bool) {
	g.N++
	if positive {
		g.Selected++
	}
}

// AddLabel records the ground truth for an earlier prediction of this
// group; score (the predicted probability of the positive class) feeds the
// calibration error and is ignored when NaN or outside [0, 1].
func (g *GroupStats) AddLabel(predicted, actual bool, score float64) {
	if actual {
		g.Positives++
		if predicted {
			g.TP++
		}
	} else {
		g.Negatives++
		if predicted {
			g.FP++
		}
	}
	if score >= 0 && score <= 1 {
		b := calibrationBin(score)
		g.CalN[b]++
		g.CalScore[b] += score
		if actual {
			g.CalLabel[b]++
		}
	}
}

// calibrationBin: first bin [0, 0.1], then (l, u] (np.digitize right=True
// on the inner edges i·0.1).
func calibrationBin(s float64) int {
	b := 0
	for i := 1; i < calibrationBins; i++ {
		if float64(i)*(1.0/calibrationBins) < s {
			b = i
		}
	}
	return b
}

// Merge adds o into g.
func (g *GroupStats) Merge(o *GroupStats) {
	g.N += o.N
	g.Selected += o.Selected
	g.Positives += o.Positives
	g.TP += o.TP
	g.Negatives += o.Negatives
	g.FP += o.FP
	for i := range g.CalN {
		g.CalN[i] += o.CalN[i]
		g.CalScore[i] += o.CalScore[i]
		g.CalLabel[i] += o.CalLabel[i]
	}
}

// SelectionRate is Selected/N.
func (g *GroupStats) SelectionRate() float64 { return ratio(g.Selected, g.N) }

// TPR is TP/Positives (NaN without positives).
func (g *GroupStats) TPR() float64 { return ratio(g.TP, g.Positives) }

// FPR is FP/Negatives (NaN without negatives).
func (g *GroupStats) FPR() float64 { return ratio(g.FP, g.Negatives) }

// ECE is the expected calibration error over 10 equal-width bins
// (weight = bin share, |mean score − mean label|); NaN without scores.
func (g *GroupStats) ECE() float64 {
	var total float64
	for _, n := range g.CalN {
		total += n
	}
	if total == 0 {
		return math.NaN()
	}
	var e float64
	for i, n := range g.CalN {
		if n > 0 {
			e += n / total * math.Abs(g.CalScore[i]/n-g.CalLabel[i]/n)
		}
	}
	return e
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// GroupFairness is one group's rates.
type GroupFairness struct {
	N             float64 `json:"n"`
	SelectionRate float64 `json:"selection_rate"`
	TPR           float64 `json:"tpr"`
	FPR           float64 `json:"fpr"`
	ECE           float64 `json:"ece"`
}

// FairnessResult holds the fairness metrics of one protected attribute.
// NaN means "not computable" (for example no labels yet).
type FairnessResult struct {
	Groups map[string]GroupFairness `json:"groups"`
	// Privileged is the reference group of the ratios: the configured one,
	// or the group with the highest selection rate.
	Privileged string `json:"privileged"`
	// ParityRatio is the unprivileged/privileged selection-rate ratio
	// farthest from 1 (in log terms), for ParityGroup.
	ParityRatio float64 `json:"demographic_parity_ratio"`
	ParityGroup string  `json:"parity_group"`
	// ParityMinMax is min/max selection rate across groups.
	ParityMinMax float64 `json:"demographic_parity_min_max"`
	// DisparateImpact is the smallest unprivileged/privileged ratio.
	DisparateImpact float64 `json:"disparate_impact"`
	DeltaTPR        float64 `json:"delta_tpr"`
	DeltaFPR        float64 `json:"delta_fpr"`
	EqualizedOdds   float64 `json:"equalized_odds"`
	CalibrationGap  float64 `json:"calibration_gap"`
}

// Violations lists the DRIFT.md fairness rules that fire.
func (r FairnessResult) Violations() []string {
	var v []string
	if !math.IsNaN(r.ParityRatio) && (r.ParityRatio < ParityLow || r.ParityRatio > ParityHigh) {
		v = append(v, "demographic_parity")
	}
	if !math.IsNaN(r.DisparateImpact) && r.DisparateImpact < DisparateImpactMin {
		v = append(v, "disparate_impact")
	}
	if !math.IsNaN(r.EqualizedOdds) && r.EqualizedOdds > EqualizedOddsMax {
		v = append(v, "equalized_odds")
	}
	if !math.IsNaN(r.CalibrationGap) && r.CalibrationGap > CalibrationGapMax {
		v = append(v, "calibration")
	}
	return v
}

// Fairness computes the metrics across groups. privileged may be empty.
// Groups with no predictions are ignored.
func Fairness(groups map[string]*GroupStats, privileged string) FairnessResult {
	r := FairnessResult{
		Groups:      make(map[string]GroupFairness, len(groups)),
		ParityRatio: math.NaN(), ParityMinMax: math.NaN(), DisparateImpact: math.NaN(),
		DeltaTPR: math.NaN(), DeltaFPR: math.NaN(), EqualizedOdds: math.NaN(), CalibrationGap: math.NaN(),
	}
	names := slices.Sorted(maps.Keys(groups))
	var sel, tpr, fpr, ece []float64
	for _, name := range names {
		g := groups[name]
		if g.N == 0 && g.Positives+g.Negatives == 0 {
			continue
		}
		gf := GroupFairness{N: g.N, SelectionRate: g.SelectionRate(), TPR: g.TPR(), FPR: g.FPR(), ECE: g.ECE()}
		r.Groups[name] = gf
		if !math.IsNaN(gf.SelectionRate) {
			sel = append(sel, gf.SelectionRate)
		}
		if !math.IsNaN(gf.TPR) {
			tpr = append(tpr, gf.TPR)
		}
		if !math.IsNaN(gf.FPR) {
			fpr = append(fpr, gf.FPR)
		}
		if !math.IsNaN(gf.ECE) {
			ece = append(ece, gf.ECE)
		}
	}
	spread := func(v []float64) float64 {
		if len(v) < 2 {
			return math.NaN()
		}
		return slices.Max(v) - slices.Min(v)
	}
	if len(sel) >= 2 {
		r.ParityMinMax = ratio(slices.Min(sel), slices.Max(sel))
	}
	if _, ok := r.Groups[privileged]; !ok || math.IsNaN(r.Groups[privileged].SelectionRate) {
		privileged = ""
		best := -1.0
		for _, name := range names {
			if g, ok := r.Groups[name]; ok && g.SelectionRate > best {
				best, privileged = g.SelectionRate, name
			}
		}
	}
	r.Privileged = privileged
	if p, ok := r.Groups[privileged]; ok && p.SelectionRate > 0 {
		worst := -1.0
		for _, name := range names {
			g, ok := r.Groups[name]
			if !ok || name == privileged || math.IsNaN(g.SelectionRate) {
				continue
			}
			q := g.SelectionRate / p.SelectionRate
			if d := math.Abs(math.Log(q)); d > worst {
				worst, r.ParityRatio, r.ParityGroup = d, q, name
			}
			if math.IsNaN(r.DisparateImpact) || q < r.DisparateImpact {
				r.DisparateImpact = q
			}
		}
	}
	r.DeltaTPR, r.DeltaFPR = spread(tpr), spread(fpr)
	switch {
	case math.IsNaN(r.DeltaTPR):
		r.EqualizedOdds = r.DeltaFPR
	case math.IsNaN(r.DeltaFPR):
		r.EqualizedOdds = r.DeltaTPR
	default:
		r.EqualizedOdds = math.Max(r.DeltaTPR, r.DeltaFPR)
	}
	r.CalibrationGap = spread(ece)
	return r
}
