package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/scan/dense"
	"github.com/warden-ai/warden/internal/scan/linear"
)

// The second stage reads structural features of instructions addressed to
// a model and the first stage's calibrated scores (scan.Stage2FeatureNames)
// and predicts the injection and jailbreak labels. It is trained and
// calibrated leave-one-source-out like the first stage: the inputs of a
// source's texts come from the first-stage model trained without that
// source, so the second stage learns how far to trust first-stage scores
// on text it never saw.
var (
	stage2Heads = []string{"injection", "jailbreak"}
	stage2Opts  = dense.TrainOptions{Hidden: 32, Epochs: 20, Batch: 64, LR: 0.003, L2: 1e-3, Seed: 1}
	// stage2Seeds networks (seeds Seed, Seed+1, …) are averaged into one
	// (dense.Average): a single network's held-out recall moved by ±0.1 with
	// the seed.
	stage2Seeds = 3
)

// stage2Data holds every source's second-stage inputs (nil: no score).
type stage2Data struct {
	x map[*source][][]float64
}

// stage2Inputs computes the inputs of every input-role text with the
// engine of its fold (first stage trained without its source, calibrated).
func (p *pipeline) stage2Inputs(modelFor func(*source) *linear.Model, cal []platt) (*stage2Data, error) {
	d := &stage2Data{x: map[*source][][]float64{}}
	for _, s := range p.srcs {
		inj, harm := split(modelFor(s), cal)
		e, err := scan.New(scan.Options{MaxDecodeDepth: 3, Weights: map[string][]byte{"injection.wlm": inj, "harmful.wlm": harm, "structure.json": {}, "harmreq.json": {}}})
		if err != nil {
			return nil, err
		}
		xs := make([][]float64, len(s.items))
		for i, it := range s.items {
			if it.role == scan.Input {
				xs[i] = e.Stage2Inputs(it.text, it.role)
			}
		}
		d.x[s] = xs
	}
	return d, nil
}

func stage2Labels(it item) []int8 { return []int8{it.y[hInj], it.y[hJail]} }

// trainStage2 fits the second stage on every trainable source except skip.
func (p *pipeline) trainStage2(d *stage2Data, skip *source) *dense.Model {
	var ex []dense.Example
	for _, s := range p.srcs {
		if s == skip || s.evalOnly {
			continue
		}
		w := min(3, max(0.5, 600/float64(len(s.items))))
		for i, it := range s.items {
			x := d.x[s][i]
			if x == nil {
				continue
			}
			l := stage2Labels(it)
			if l[0] < 0 && l[1] < 0 || sharesWith(it, skip) {
				continue
			}
			ex = append(ex, dense.Example{X: x, Labels: l, Weight: w})
		}
	}
	var ms []*dense.Model
	for k := range stage2Seeds {
		o := stage2Opts
		o.Seed += uint64(k)
		ms = append(ms, dense.Train(scan.Stage2FeatureNames(), stage2Heads, ex, o))
	}
	m, err := dense.Average(ms...)
	if err != nil {
		panic(err) // same data, features and heads: cannot differ
	}
	return m
}

// stage2Result is the leave-one-source-out outcome of the second stage.
type stage2Result struct {
	models map[*source]*dense.Model // per fold (nil key: trained on everything), calibrated
	cal    []platt
	prob   map[*source][][2]float64 // held-out calibrated probabilities (-1: no score)
}

// runStage2 trains the second stage per fold, calibrates it on the pooled
// held-out logits and returns the calibrated fold models.
func (p *pipeline) runStage2(d *stage2Data) *stage2Result {
	r := &stage2Result{models: map[*source]*dense.Model{}, prob: map[*source][][2]float64{}}
	var folds []*source
	for _, s := range p.srcs {
		if !s.evalOnly {
			folds = append(folds, s)
		}
	}
	folds = append(folds, nil)
	trained := make([]*dense.Model, len(folds))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, min(2, runtime.GOMAXPROCS(0))))
	for i, s := range folds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			trained[i] = p.trainStage2(d, s)
		})
	}
	wg.Wait()
	for i, s := range folds {
		r.models[s] = trained[i]
	}
	modelFor := func(s *source) *dense.Model {
		if m, ok := r.models[s]; ok {
			return m
		}
		return r.models[nil]
	}
	nh := len(stage2Heads)
	zs := make([][]float64, nh)
	ys := make([][]bool, nh)
	logits := map[*source][][]float64{}
	for _, s := range p.srcs {
		m := modelFor(s)
		scratch := make([]float64, m.ScratchSize())
		ls := make([][]float64, len(s.items))
		for i, it := range s.items {
			x := d.x[s][i]
			if x == nil {
				continue
			}
			z := make([]float64, nh)
			m.Logits(z, x, scratch)
			ls[i] = z
			l := stage2Labels(it)
			for h := range nh {
				if l[h] >= 0 {
					zs[h] = append(zs[h], z[h])
					ys[h] = append(ys[h], l[h] == 1)
				}
			}
		}
		logits[s] = ls
	}
	r.cal = make([]platt, nh)
	for h := range nh {
		// fitPlatt takes logits of probabilities; these already are logits.
		r.cal[h] = fitPlatt(zs[h], ys[h])
		r.cal[h].off = r.cal[h].a < minSlope
		p.log("scantrain: stage 2 head %s: Platt a=%.3f b=%.3f over %d held-out texts\n", stage2Heads[h], r.cal[h].a, r.cal[h].b, len(zs[h]))
	}
	for s, m := range r.models {
		r.models[s] = calibrateStage2(m, r.cal)
	}
	for _, s := range p.srcs {
		ps := make([][2]float64, len(s.items))
		for i, z := range logits[s] {
			ps[i] = [2]float64{-1, -1}
			if z == nil {
				continue
			}
			for h := range nh {
				if !r.cal[h].off {
					ps[i][h] = dense.Sigmoid(r.cal[h].a*z[h] + r.cal[h].b)
				} else {
					ps[i][h] = 0
				}
			}
		}
		r.prob[s] = ps
	}
	return r
}

func calibrateStage2(m *dense.Model, cal []platt) *dense.Model {
	c := m.Clone()
	for h, pl := range cal {
		if pl.off {
			c.Disable(h)
		} else {
			c.Calibrate(h, pl.a, pl.b)
		}
	}
	return c
}

// reportStage2 prints the second stage alone, per held-out source: the
// share of texts at or above the flag threshold chosen (as for the engine)
// on the other benign sources for 1% FPR each.
func (p *pipeline) reportStage2(w io.Writer, r *stage2Result) {
	score := func(s *source, i int) float64 {
		v := r.prob[s][i]
		return max(v[0], v[1])
	}
	thr := func(skip *source) float64 {
		var negs [][]float64
		for _, s := range p.srcs {
			if s == skip {
				continue
			}
			var v []float64
			for i, it := range s.items {
				if !it.pos && it.role == scan.Input {
					v = append(v, score(s, i))
				}
			}
			if len(v) >= minNeg {
				negs = append(negs, v)
			}
		}
		for t := 0.30; t < 0.995; t += 0.01 {
			worst := 0.0
			for _, v := range negs {
				n := 0
				for _, x := range v {
					if x >= t {
						n++
					}
				}
				worst = max(worst, float64(n)/float64(len(v)))
			}
			if worst <= flagFPR {
				return t
			}
		}
		return 0.995
	}
	fmt.Fprintln(w, "| source | texts | n | stage-2 rate [95% CI] | threshold |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, s := range p.srcs {
		t := thr(s)
		for _, pos := range []bool{true, false} {
			k, n := 0, 0
			for i, it := range s.items {
				if it.pos != pos || it.role != scan.Input {
					continue
				}
				n++
				if score(s, i) >= t {
					k++
				}
			}
			if n == 0 {
				continue
			}
			what := "negatives (FPR)"
			if pos {
				what = "positives (recall)"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %.2f |\n", s.name, what, n, rate(k, n), t)
		}
	}
}

// stage2Importance prints the all-sources logistic weights of a
// no-hidden-layer fit, for reading which features carry the decision.
func (p *pipeline) stage2Importance(w io.Writer, d *stage2Data) {
	o := stage2Opts
	o.Hidden = 0
	var ex []dense.Example
	for _, s := range p.srcs {
		if s.evalOnly {
			continue
		}
		wt := min(3, max(0.5, 600/float64(len(s.items))))
		for i, it := range s.items {
			if x := d.x[s][i]; x != nil {
				ex = append(ex, dense.Example{X: x, Labels: stage2Labels(it), Weight: wt})
			}
		}
	}
	m := dense.Train(scan.Stage2FeatureNames(), stage2Heads, ex, o)
	idx := make([]int, len(m.Features))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(m.W2[0][idx[a]]) > math.Abs(m.W2[0][idx[b]]) })
	for _, i := range idx {
		fmt.Fprintf(w, "  %-18s inj %+.3f  jail %+.3f\n", m.Features[i], m.W2[0][i], m.W2[1][i])
	}
}

// simulateUnion prints a quick approximation of the engine's verdict on
// the injection sources: the prompt_injection/jailbreak category thresholds
// over signature and first-stage classifier scores, plus the second stage
// with its own threshold chosen so that the union stays within the FPR
// target on every other benign source (as thresholds() does).
func (p *pipeline) simulateUnion(w io.Writer, d *stage2Data, r *stage2Result) {
	for _, target := range []float64{flagFPR, stage2FPR, 0.03, 0.04} {
		addMax := target
		if target == flagFPR {
			addMax = flagFPR / 2
		}
		fmt.Fprintf(w, "  union ≤ %.0f%%:", 100*target)
		p.simulateUnionAt(w, d, r, target, addMax)
	}
}

// simulateUnionAt is simulateUnion for one union FPR target.
func (p *pipeline) simulateUnionAt(w io.Writer, d *stage2Data, r *stage2Result, target, addMax float64) {
	names := scan.Stage2FeatureNames()
	col := func(n string) int { return slices.Index(names, n) }
	si, sj, ci, cj := col("sig_injection"), col("sig_jailbreak"), col("clf_injection"), col("clf_jailbreak")
	base := func(s *source, i int) (float64, float64) {
		x := d.x[s][i]
		if x == nil {
			return 0, 0
		}
		return max(x[si], dense.Sigmoid(x[ci])), max(x[sj], dense.Sigmoid(x[cj]))
	}
	s2 := func(s *source, i int) (float64, float64) { return max(0, r.prob[s][i][0]), max(0, r.prob[s][i][1]) }
	grid := func(f func(t float64) bool) float64 {
		for t := 0.30; t < 0.995; t += 0.01 {
			if f(t) {
				return t
			}
		}
		return 0.995
	}
	negSets := func(skip *source) (out [][]int, srcs []*source) {
		for _, s := range p.srcs {
			if s == skip {
				continue
			}
			var v []int
			for i, it := range s.items {
				if !it.pos && it.role == scan.Input {
					v = append(v, i)
				}
			}
			if len(v) >= minNeg {
				out = append(out, v)
				srcs = append(srcs, s)
			}
		}
		return
	}
	worst, worstName := 0.0, ""
	for _, s := range p.srcs {
		ns, nsrc := negSets(s)
		rates := func(hit func(*source, int) bool) []float64 {
			var out []float64
			for k, v := range ns {
				n := 0
				for _, i := range v {
					if hit(nsrc[k], i) {
						n++
					}
				}
				out = append(out, float64(n)/float64(len(v)))
			}
			return out
		}
		below := func(rs []float64, lim float64) bool {
			for _, r := range rs {
				if r > lim {
					return false
				}
			}
			return true
		}
		ti := grid(func(t float64) bool {
			return below(rates(func(s *source, i int) bool { a, _ := base(s, i); return a >= t }), flagFPR)
		})
		tj := grid(func(t float64) bool {
			return below(rates(func(s *source, i int) bool { _, b := base(s, i); return b >= t }), flagFPR)
		})
		b0 := func(s *source, i int) bool { a, b := base(s, i); return a >= ti || b >= tj }
		r0 := rates(b0)
		t2 := grid(func(t float64) bool {
			r1 := rates(func(s *source, i int) bool { a, b := s2(s, i); return b0(s, i) || max(a, b) >= t })
			for k := range r1 {
				if r1[k] > max(target, r0[k]) || r1[k]-r0[k] > addMax {
					return false
				}
			}
			return true
		})
		type cnt struct{ k, n int }
		per := map[string]*cnt{}
		var order []string
		kn, nn := 0, 0
		for i, it := range s.items {
			if it.role != scan.Input {
				continue
			}
			a, b := s2(s, i)
			hit := b0(s, i) || max(a, b) >= t2
			if it.pos {
				for _, k := range []string{s.name, s.name + "/" + it.slice} {
					if k == s.name+"/" {
						continue
					}
					if per[k] == nil {
						per[k] = &cnt{}
						order = append(order, k)
					}
					per[k].n++
					if hit {
						per[k].k++
					}
				}
			} else {
				nn++
				if hit {
					kn++
				}
			}
		}
		if slices.Contains([]string{"deepset-pi", "garak-injection", "bipia", "giskard-injections", "proventra-agent-injections", "asb-agent-attacks", "jailbreakbench-artifacts", "gptfuzz", "harmbench"}, s.name) {
			for _, k := range order {
				name := strings.TrimPrefix(strings.TrimPrefix(k, "jailbreakbench-artifacts/jailbreak:"), "-")
				name = name[:min(9, len(name))]
				fmt.Fprintf(w, " %s %.3f", name, float64(per[k].k)/float64(per[k].n))
			}
		}
		if nn >= 50 && float64(kn)/float64(nn) > worst {
			worst, worstName = float64(kn)/float64(nn), s.name
		}
		if nn >= 50 && float64(kn)/float64(nn) > 0.01 {
			fmt.Fprintf(w, " [%s FPR %.3f]", s.name[:min(12, len(s.name))], float64(kn)/float64(nn))
		}
	}
	fmt.Fprintf(w, " | worst FPR %.3f (%s)\n", worst, worstName)
}
