package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/scan/dense"
	"github.com/warden-ai/warden/internal/scan/linear"
)

// The harm second stage reads harm cue densities (topics, request form,
// victim, evasion, talk-about cues; scan.HarmStage2FeatureNames) and the
// first stage's calibrated scores, and predicts the harmful-request label.
// Like the injection second stage it is trained and calibrated
// leave-one-source-out on the first stage's held-out outputs.
var (
	harmHeads2 = []string{"request"}
	harmOpts   = dense.TrainOptions{Hidden: 16, Epochs: 12, Batch: 64, LR: 0.003, L2: 1e-3, Seed: 1}
)

// harmDetector is the harm second stage's finding; it gets its own
// detector-keyed threshold (see harmThreshold).
const harmDetector = "harmful_request.structure"

// harmFlagFPR is the false-positive target of the harmful_request
// verdict (the category's first-stage rule and the second stage together)
// on every benign validation source. Harmful-request findings are quiet
// (they never page), so the target is looser than the 1% of the paging
// categories.
const harmFlagFPR = 0.03

// harmData holds every source's harm second-stage inputs (nil: no score).
type harmData struct {
	x map[*source][][]float64
}

// harmInputs computes the inputs of every input-role text with the engine
// of its fold (first stage trained without its source, calibrated).
func (p *pipeline) harmInputs(modelFor func(*source) *linear.Model, cal []platt) (*harmData, error) {
	x, err := p.foldInputs(modelFor, cal, (*scan.Engine).HarmStage2Inputs)
	return &harmData{x: x}, err
}

func harmLabel(it item) []int8 { return []int8{it.y[hReq]} }

// trainHarm fits the harm second stage on every trainable source except skip.
func (p *pipeline) trainHarm(d *harmData, skip *source, o dense.TrainOptions) *dense.Model {
	var ex []dense.Example
	for _, s := range p.srcs {
		if s == skip || s.evalOnly {
			continue
		}
		w := min(3, max(0.5, 600/float64(len(s.items))))
		for i, it := range s.items {
			x := d.x[s][i]
			l := harmLabel(it)
			if x == nil || l[0] < 0 {
				continue
			}
			ex = append(ex, dense.Example{X: x, Labels: l, Weight: w})
		}
	}
	if o.Hidden == 0 || harmSeeds <= 1 {
		return dense.Train(scan.HarmStage2FeatureNames(), harmHeads2, ex, o)
	}
	var ms []*dense.Model
	for k := range harmSeeds {
		ok := o
		ok.Seed = o.Seed + uint64(k)
		ms = append(ms, dense.Train(scan.HarmStage2FeatureNames(), harmHeads2, ex, ok))
	}
	m, err := dense.Average(ms...)
	if err != nil {
		panic(err) // same data, features and heads: cannot differ
	}
	return m
}

// harmSeeds is the number of networks (seeds) averaged.
const harmSeeds = 3

// harmResult is the leave-one-source-out outcome of the harm second stage.
type harmResult struct {
	models map[*source]*dense.Model // per fold (nil key: trained on everything), calibrated
	cal    platt
	prob   map[*source][]float64 // held-out calibrated probabilities (-1: no score)
}

// runHarm trains the harm second stage per fold, calibrates it on the
// pooled held-out logits and returns the calibrated fold models.
func (p *pipeline) runHarm(d *harmData, o dense.TrainOptions) *harmResult {
	r := &harmResult{models: map[*source]*dense.Model{}, prob: map[*source][]float64{}}
	var folds []*source
	for _, s := range p.srcs {
		if !s.evalOnly {
			folds = append(folds, s)
		}
	}
	folds = append(folds, nil)
	for _, s := range folds {
		r.models[s] = p.trainHarm(d, s, o)
	}
	modelFor := func(s *source) *dense.Model {
		if m, ok := r.models[s]; ok {
			return m
		}
		return r.models[nil]
	}
	var zs []float64
	var ys []bool
	logits := map[*source][]float64{}
	for _, s := range p.srcs {
		m := modelFor(s)
		scratch := make([]float64, m.ScratchSize())
		ls := make([]float64, len(s.items))
		for i, it := range s.items {
			ls[i] = math.NaN()
			x := d.x[s][i]
			if x == nil {
				continue
			}
			var z [1]float64
			m.Logits(z[:], x, scratch)
			ls[i] = z[0]
			if l := harmLabel(it); l[0] >= 0 {
				zs = append(zs, z[0])
				ys = append(ys, l[0] == 1)
			}
		}
		logits[s] = ls
	}
	r.cal = fitPlatt(zs, ys)
	r.cal.off = r.cal.a < minSlope
	p.log("scantrain: harm stage 2: Platt a=%.3f b=%.3f over %d held-out texts\n", r.cal.a, r.cal.b, len(zs))
	for s, m := range r.models {
		r.models[s] = calibrateStage2(m, []platt{r.cal})
	}
	for _, s := range p.srcs {
		ps := make([]float64, len(s.items))
		for i, z := range logits[s] {
			switch {
			case math.IsNaN(z):
				ps[i] = -1
			case r.cal.off:
				ps[i] = 0
			default:
				ps[i] = dense.Sigmoid(r.cal.a*z + r.cal.b)
			}
		}
		r.prob[s] = ps
	}
	return r
}

// harmThreshold chooses the harm second stage's threshold given the
// harmful_request category threshold in cal: the lowest at which the union
// of the category's first-stage rule and the second stage stays within
// harmFlagFPR (or within the category's own rate where that is higher) on
// every benign validation source except skip.
func (r *result) harmThreshold(cal *scan.Calibration, skip *source) {
	tc := cal.Categories[scan.CatHarmfulRequest].Flag
	var negs []negSet
	for _, s := range r.p.srcs {
		if s == skip {
			continue
		}
		var n negSet
		for i, it := range s.items {
			if it.pos || it.role != scan.Input {
				continue
			}
			o := r.out[s][i]
			n.base = append(n.base, o.cat[scan.CatHarmfulRequest] >= tc)
			n.st = append(n.st, o.hst)
		}
		if len(n.base) >= minNeg {
			negs = append(negs, n)
		}
	}
	t, worst := unionThreshold(negs, harmFlagFPR)
	cal.Categories[harmDetector] = scan.CalibratedThreshold{Flag: t, FlagFPR: max(worst, 1e-4)}
}

// negSet is one benign validation source: whether the base rule flags
// each text, and the second-stage score of each text.
type negSet struct {
	base []bool
	st   []float64
}

// unionThreshold returns the lowest threshold t (0.30…0.99 by 0.01) at
// which base ∪ (st ≥ t) stays within target (or the base's own rate where
// higher) on every set, and the worst union rate there; 1 when none does.
func unionThreshold(negs []negSet, target float64) (float64, float64) {
	for t := 0.30; t < 0.995; t += 0.01 {
		worst, ok := 0.0, true
		for _, n := range negs {
			k0, k := 0, 0
			for i := range n.base {
				if n.base[i] {
					k0++
				}
				if n.base[i] || n.st[i] >= t {
					k++
				}
			}
			fpr, fpr0 := float64(k)/float64(len(n.base)), float64(k0)/float64(len(n.base))
			if fpr > max(target, fpr0) {
				ok = false
				break
			}
			worst = max(worst, fpr)
		}
		if ok {
			return math.Round(t*100) / 100, worst
		}
	}
	return 1, 0
}

// reportHarm prints a quick estimate of the harmful_request verdict per
// held-out source for several FPR targets: the request classifier at its
// category threshold (chosen at flagFPR without the source) united with
// the harm second stage at the lowest threshold keeping the union within
// the target on every other benign validation source. The harm lexicon is
// left out (fixed threshold, few hits).
func (p *pipeline) reportHarm(w io.Writer, d *harmData, r *harmResult) {
	names := scan.HarmStage2FeatureNames()
	cr := slices.Index(names, "clf_request")
	clf := func(s *source, i int) float64 {
		if x := d.x[s][i]; x != nil {
			return dense.Sigmoid(x[cr])
		}
		return 0
	}
	negIdx := func(s *source) []int {
		var v []int
		for i, it := range s.items {
			if !it.pos && it.role == scan.Input {
				v = append(v, i)
			}
		}
		return v
	}
	catThr := func(skip *source) float64 {
		for t := 0.30; t < 0.995; t += 0.01 {
			worst := 0.0
			for _, s := range p.srcs {
				v := negIdx(s)
				if s == skip || len(v) < minNeg {
					continue
				}
				k := 0
				for _, i := range v {
					if clf(s, i) >= t {
						k++
					}
				}
				worst = max(worst, float64(k)/float64(len(v)))
			}
			if worst <= flagFPR {
				return t
			}
		}
		return 0.995
	}
	// Score grid: share of each source's input texts at or above t, for
	// reading the trade-off.
	grid := []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	fmt.Fprintf(w, "| source | texts | n |")
	for _, t := range grid {
		fmt.Fprintf(w, " ≥%.1f |", t)
	}
	fmt.Fprintln(w)
	for _, s := range p.srcs {
		for _, pos := range []bool{true, false} {
			n := 0
			ks := make([]int, len(grid))
			for i, it := range s.items {
				if it.pos != pos || it.role != scan.Input || r.prob[s][i] < 0 {
					continue
				}
				n++
				for j, t := range grid {
					if r.prob[s][i] >= t {
						ks[j]++
					}
				}
			}
			if n == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %v | %d |", s.name, pos, n)
			for j := range grid {
				fmt.Fprintf(w, " %.3f |", float64(ks[j])/float64(n))
			}
			fmt.Fprintln(w)
		}
	}
	targets := []float64{0.01, 0.02, 0.03, 0.05}
	fmt.Fprintf(w, "| source | texts | n | first stage |")
	for _, t := range targets {
		fmt.Fprintf(w, " + stage 2 at %.0f%% | thr |", 100*t)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range p.srcs {
		tc := catThr(s)
		var negs []negSet
		for _, o := range p.srcs {
			v := negIdx(o)
			if o == s || len(v) < minNeg {
				continue
			}
			var n negSet
			for _, i := range v {
				n.base = append(n.base, clf(o, i) >= tc)
				n.st = append(n.st, r.prob[o][i])
			}
			negs = append(negs, n)
		}
		var t2 []float64
		for _, t := range targets {
			th, _ := unionThreshold(negs, t)
			t2 = append(t2, th)
		}
		for _, pos := range []bool{true, false} {
			n, k0 := 0, 0
			ks := make([]int, len(targets))
			for i, it := range s.items {
				if it.pos != pos || it.role != scan.Input {
					continue
				}
				n++
				b := clf(s, i) >= tc
				if b {
					k0++
				}
				for j := range targets {
					if b || r.prob[s][i] >= t2[j] {
						ks[j]++
					}
				}
			}
			if n == 0 {
				continue
			}
			what := "negatives (FPR)"
			if pos {
				what = "positives (recall)"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.3f |", s.name, what, n, float64(k0)/float64(n))
			for j := range targets {
				fmt.Fprintf(w, " %.3f | %.2f |", float64(ks[j])/float64(n), t2[j])
			}
			fmt.Fprintln(w)
		}
	}
}

// harmImportance prints the all-sources logistic weights of a
// no-hidden-layer fit of the harm second stage.
func (p *pipeline) harmImportance(w io.Writer, d *harmData) {
	o := harmOpts
	o.Hidden = 0
	m := p.trainHarm(d, nil, o)
	idx := make([]int, len(m.Features))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(m.W2[0][idx[a]]) > math.Abs(m.W2[0][idx[b]]) })
	for _, i := range idx {
		fmt.Fprintf(w, "  %-20s %+.3f\n", m.Features[i], m.W2[0][i])
	}
}
