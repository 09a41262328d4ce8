package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/scan/linear"
)

// Calibrated categories and their false-positive targets: a category's flag
// threshold is the lowest whose false-positive rate stays within flagFPR on
// every benign validation source (≥ minNeg negatives); injections and
// jailbreaks also get a block threshold for blockFPR.
var calCats = []string{scan.CatPromptInjection, scan.CatJailbreak, scan.CatHarmfulRequest, scan.CatHarmful}

const (
	flagFPR  = 0.01
	blockFPR = 0.003
	minNeg   = 50
)

var trainOpts = linear.TrainOptions{Epochs: 4, LR: 0.2, L2: 1e-6, Seed: 1}

// pipeline holds the sources with their prepared features.
type pipeline struct {
	bits  int
	srcs  []*source
	feats map[*source][]linear.Prepared
	syn   *source // team-authored texts: trained on, never evaluated
	log   func(format string, a ...any)
	// cache, when set, is a directory for the trained fold models, keyed
	// by a fingerprint of the training data and options: a re-run that
	// changed only rule-based detectors or the report skips training.
	cache string
	// stage2Report, when set, receives the second stage's own table and the
	// run stops there (a fast loop for feature work).
	stage2Report io.Writer
	// harmReport, when set, receives the harm second stage's own table and
	// the run stops there.
	harmReport io.Writer
}

// fingerprint hashes everything training depends on.
func (p *pipeline) fingerprint() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %+v %d\n", p.bits, trainOpts, len(allHeads))
	for _, s := range append(slices.Clip(p.srcs), p.syn) {
		fmt.Fprintf(h, "%s %v %d\n", s.name, s.evalOnly, len(s.items))
		for _, it := range s.items {
			h.Write([]byte(it.text))
			for _, y := range it.y {
				h.Write([]byte{byte(y)})
			}
		}
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// trainCached is train with the fold model cached in p.cache.
func (p *pipeline) trainCached(skip *source, fp string) *linear.Model {
	if p.cache == "" {
		return p.train(skip)
	}
	name := "all"
	if skip != nil {
		name = skip.name
	}
	path := filepath.Join(p.cache, fp+"-"+name+".wlm")
	if b, err := os.ReadFile(path); err == nil {
		if m, err := linear.Load(b); err == nil {
			return m
		}
	}
	m := p.train(skip)
	if err := os.MkdirAll(p.cache, 0o700); err == nil {
		_ = os.WriteFile(path, m.Marshal(), 0o600)
	}
	return m
}

func newPipeline(d *datasets, bits int, logf func(string, ...any)) (*pipeline, error) {
	srcs, err := loadSources(d)
	if err != nil {
		return nil, err
	}
	p := &pipeline{bits: bits, srcs: srcs, feats: map[*source][]linear.Prepared{}, log: logf}
	// Carriers for the synthetic injections: short benign training texts.
	var carriers []string
	for _, s := range srcs {
		if s.kind == kindBenign && !s.evalOnly {
			for i, it := range s.items {
				if i%17 == 0 && len(it.text) < 300 {
					carriers = append(carriers, it.text)
				}
			}
		}
	}
	pos, neg := synthTexts(carriers, 3)
	syn := &source{name: "synthetic", kind: kindMixed}
	for _, t := range pos {
		y := unknown()
		y[hInj], y[hJail] = 1, 0
		if strings.Contains(t, "DAN") || strings.Contains(strings.ToLower(t), "developer mode") {
			y[hJail] = 1
		}
		syn.items = append(syn.items, item{text: t, role: scan.Input, pos: true, y: y, src: syn.name})
	}
	for _, t := range neg {
		syn.items = append(syn.items, item{text: t, role: scan.Input, y: negAll(), src: syn.name})
	}
	p.syn = syn
	var x linear.Extraction
	for _, s := range append(slices.Clip(srcs), syn) {
		fs := make([]linear.Prepared, len(s.items))
		for i, it := range s.items {
			t := it.text
			if len(t) > 4096 {
				t = t[:4096]
			}
			fs[i] = linear.Prepare(&x, norm(t), bits)
		}
		p.feats[s] = fs
	}
	n := 0
	for _, s := range srcs {
		n += len(s.items)
	}
	logf("scantrain: %d sources, %d texts (+%d team-authored training texts)\n", len(srcs), n, len(syn.items))
	return p, nil
}

// train fits the 8-head model on every trainable source except skip.
func (p *pipeline) train(skip *source) *linear.Model {
	var ex []linear.Example
	var fs []linear.Prepared
	for _, s := range append(slices.Clip(p.srcs), p.syn) {
		if s == skip || s.evalOnly {
			continue
		}
		// Source balancing: a source's texts weigh 600/n each (0.5..3), so
		// small hand-made sources count and large ones do not dominate.
		w := min(3, max(0.5, 600/float64(len(s.items))))
		for i, it := range s.items {
			ex = append(ex, linear.Example{Labels: it.y[:], Weight: w})
			fs = append(fs, p.feats[s][i])
		}
	}
	o := trainOpts
	o.Bits = p.bits
	return linear.TrainPrepared(allHeads, ex, fs, o)
}

// platt is a logistic map of a raw logit: p = sigmoid(a·z + b). off marks
// a head whose held-out scores carry no cross-source signal (slope below
// minSlope: its positives come from one source, or its held-out ranking is
// inverted); such a head ships switched off (p ≈ 0) rather than guessing.
type platt struct {
	a, b float64
	off  bool
}

const minSlope = 0.05

// fitPlatt fits a and b by damped Newton steps on (logit, label) pairs,
// with Platt's smoothed targets ((n₊+1)/(n₊+2) and 1/(n₋+2)) so separable
// heads keep a finite slope, and a step halving whenever the negative
// log-likelihood would rise (plain Newton diverges on near-separable data).
func fitPlatt(z []float64, y []bool) platt {
	var np, nn float64
	for _, v := range y {
		if v {
			np++
		} else {
			nn++
		}
	}
	tp, tn := (np+1)/(np+2), 1/(nn+2)
	target := func(i int) float64 {
		if y[i] {
			return tp
		}
		return tn
	}
	nll := func(a, b float64) float64 {
		s := 0.0
		for i := range z {
			f := a*z[i] + b
			// log(1+e^f) - t·f, computed stably
			lse := math.Max(f, 0) + math.Log1p(math.Exp(-math.Abs(f)))
			s += lse - target(i)*f
		}
		return s
	}
	a, b := 1.0, 0.0
	cur := nll(a, b)
	for range 100 {
		var ga, gb, haa, hab, hbb float64
		for i := range z {
			p := 1 / (1 + math.Exp(-(a*z[i] + b)))
			d := p - target(i)
			ga += d * z[i]
			gb += d
			w := max(p*(1-p), 1e-12)
			haa += w * z[i] * z[i]
			hab += w * z[i]
			hbb += w
		}
		haa += 1e-3
		hbb += 1e-3
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		step := 1.0
		for range 30 {
			if n := nll(a-step*da, b-step*db); n <= cur {
				a, b, cur = a-step*da, b-step*db, n
				break
			}
			step /= 2
		}
		if step*(math.Abs(da)+math.Abs(db)) < 1e-9 {
			break
		}
	}
	return platt{a: a, b: b}
}

func logit(p float64) float64 {
	p = min(max(p, 1e-6), 1-1e-6)
	return math.Log(p / (1 - p))
}

// split returns the injection.wlm and harmful.wlm models of the 8-head
// model m with the Platt maps folded into bias and scale.
func split(m *linear.Model, cal []platt) (inj, harm []byte) {
	part := func(lo, hi int) []byte {
		nh := hi - lo
		out := &linear.Model{Bits: m.Bits, Heads: m.Heads[lo:hi], W: make([]int8, (1<<m.Bits)*nh)}
		for h := lo; h < hi; h++ {
			c := cal[h]
			if c.off {
				out.Bias = append(out.Bias, -12)
				out.Scale = append(out.Scale, 0)
				continue
			}
			out.Bias = append(out.Bias, float32(c.a*float64(m.Bias[h])+c.b))
			out.Scale = append(out.Scale, float32(c.a*float64(m.Scale[h])))
		}
		all := len(m.Heads)
		for b := range 1 << m.Bits {
			copy(out.W[b*nh:b*nh+nh], m.W[b*all+lo:b*all+hi])
		}
		return out.Marshal()
	}
	return part(0, len(injHeads)), part(len(injHeads), len(allHeads))
}

// oof is a held-out text's outcome.
type oof struct {
	raw  [nHeads]float64    // uncalibrated head probabilities (best of whole text and windows)
	cat  map[string]float64 // highest score per calibrated category in the engine's findings (first stage, signatures)
	st   float64            // highest second-stage score
	hst  float64            // harm second-stage score (harmful_request.structure)
	fs   []scan.Finding
	fold *source // the source whose fold scored it
}

// result is the outcome of a leave-one-source-out run.
type result struct {
	p     *pipeline
	out   map[*source][]oof
	cal   []platt
	final *linear.Model // trained on every trainable source
	st    *stage2Result
	hs    *harmResult
}

// errStage2Only ends a run after the second stage's report (-stage2-only).
var errStage2Only = errors.New("stage 2 report only")

// run trains one model per trainable source (leaving it out) and one on
// everything, scores every source with the model that never saw it,
// calibrates the heads on those held-out scores and scans every held-out
// text with the full engine.
func (p *pipeline) run(ctx context.Context) (*result, error) {
	res := &result{p: p, out: map[*source][]oof{}}
	var folds []*source
	for _, s := range p.srcs {
		if !s.evalOnly {
			folds = append(folds, s)
		}
	}
	folds = append(folds, nil) // nil: the model trained on everything
	models := make([]*linear.Model, len(folds))
	fp := p.fingerprint()
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, min(2, runtime.GOMAXPROCS(0))))
	for i, s := range folds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			models[i] = p.trainCached(s, fp)
			name := "all sources"
			if s != nil {
				name = "without " + s.name
			}
			p.log("scantrain: trained %s (%d/%d)\n", name, i+1, len(folds))
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.final = models[len(models)-1]
	modelFor := func(s *source) *linear.Model {
		if i := slices.Index(folds, s); i >= 0 {
			return models[i]
		}
		return res.final
	}
	// Raw held-out scores, then Platt per head over them.
	var x linear.Extraction
	var zs [nHeads][]float64
	var ys [nHeads][]bool
	for _, s := range p.srcs {
		m := modelFor(s)
		os := make([]oof, len(s.items))
		for i, it := range s.items {
			x.Reset(norm(it.text))
			for h, r := range m.ScoreInto(nil, &x) {
				os[i].raw[h] = r.Max()
				if it.y[h] >= 0 {
					zs[h] = append(zs[h], logit(r.Max()))
					ys[h] = append(ys[h], it.y[h] == 1)
				}
			}
			os[i].fold = s
		}
		res.out[s] = os
	}
	res.cal = make([]platt, nHeads)
	for h := range nHeads {
		res.cal[h] = fitPlatt(zs[h], ys[h])
		res.cal[h].off = res.cal[h].a < minSlope
		p.log("scantrain: head %s: Platt a=%.3f b=%.3f over %d held-out texts\n", allHeads[h], res.cal[h].a, res.cal[h].b, len(zs[h]))
	}
	// The second stage, trained and calibrated on the first stage's
	// held-out outputs.
	sd, err := p.stage2Inputs(modelFor, res.cal)
	if err != nil {
		return nil, err
	}
	res.st = p.runStage2(sd)
	if p.stage2Report != nil {
		p.stage2Importance(p.stage2Report, sd)
		p.reportStage2(p.stage2Report, res.st)
		fmt.Fprintf(p.stage2Report, "first stage + second stage (approximation):")
		p.simulateUnion(p.stage2Report, sd, res.st)
		return nil, errStage2Only
	}
	hd, err := p.harmInputs(modelFor, res.cal)
	if err != nil {
		return nil, err
	}
	res.hs = p.runHarm(hd, harmOpts)
	if p.harmReport != nil {
		p.harmImportance(p.harmReport, hd)
		p.reportHarm(p.harmReport, hd, res.hs)
		return nil, errStage2Only
	}
	// Every held-out text through the engine with its fold's calibrated models.
	for _, s := range p.srcs {
		inj, harm := split(modelFor(s), res.cal)
		st, ok := res.st.models[s]
		if !ok {
			st = res.st.models[nil]
		}
		stb, err := st.Marshal()
		if err != nil {
			return nil, err
		}
		hm, ok := res.hs.models[s]
		if !ok {
			hm = res.hs.models[nil]
		}
		hsb, err := hm.Marshal()
		if err != nil {
			return nil, err
		}
		e, err := scan.New(scan.Options{MaxDecodeDepth: 3, Weights: map[string][]byte{"injection.wlm": inj, "harmful.wlm": harm, "structure.json": stb,
			"harmreq.json": hsb}})
		if err != nil {
			return nil, err
		}
		os := res.out[s]
		for i, it := range s.items {
			fs, _ := e.Scan(ctx, it.text, it.role, scan.Context{})
			os[i].fs = fs
			os[i].cat = map[string]float64{}
			for _, f := range fs {
				if strings.Contains(f.Detector, ".lexicon.") {
					continue // fixed-threshold phrase lists are not calibrated
				}
				if f.Detector == harmDetector {
					os[i].hst = max(os[i].hst, f.Score) // own threshold, see harmThreshold
					continue
				}
				if slices.Contains(stage2Detectors, f.Detector) {
					os[i].st = max(os[i].st, f.Score) // own threshold, see thresholds
					continue
				}
				os[i].cat[f.Category] = max(os[i].cat[f.Category], f.Score)
			}
		}
	}
	return res, nil
}

// thresholds chooses the calibrated thresholds on the benign texts of every
// source except skip.
func (r *result) thresholds(skip *source) *scan.Calibration {
	cal := &scan.Calibration{
		Method:     fmt.Sprintf("cmd/scantrain leave-one-source-out: Platt-calibrated held-out scores; lowest threshold with FPR ≤ %.3g (flag) / %.3g (block) on every benign validation source with ≥ %d negatives", flagFPR, blockFPR, minNeg),
		Categories: map[string]scan.CalibratedThreshold{},
	}
	for _, c := range calCats {
		var negs [][]float64
		for _, s := range r.p.srcs {
			if s == skip {
				continue
			}
			var v []float64
			for i, it := range s.items {
				if !it.pos && roleOf(c) == it.role {
					v = append(v, r.out[s][i].cat[c])
				}
			}
			if len(v) >= minNeg {
				negs = append(negs, v)
			}
		}
		pick := func(target float64) (float64, float64) {
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
				if worst <= target {
					return math.Round(t*100) / 100, worst
				}
			}
			return 0.99, 1
		}
		var ct scan.CalibratedThreshold
		if c == scan.CatHarmful {
			// Harmful content in an output pages (it counts toward the
			// safety-filter rate rule), so its flag gets the block target.
			ct.Flag, ct.FlagFPR = pick(blockFPR)
		} else {
			ct.Flag, ct.FlagFPR = pick(flagFPR)
		}
		if c == scan.CatPromptInjection || c == scan.CatJailbreak {
			ct.Block, ct.BlockFPR = pick(blockFPR)
			ct.Block = max(ct.Block, ct.Flag)
		}
		ct.FlagFPR = max(ct.FlagFPR, 1e-4) // zero would read as "not calibrated"
		cal.Categories[c] = ct
	}
	r.stage2Threshold(cal, skip)
	r.harmThreshold(cal, skip)
	return cal
}

// stage2Detectors are the second stage's findings; they get their own
// (detector-keyed) threshold rather than sharing the category's, whose
// level is set by the discrete signature scores.
var stage2Detectors = []string{"injection.structure", "jailbreak.structure"}

// stage2AddFPR is the most the second stage may add to the false-positive
// rate of the category rules on any benign validation source.
const stage2AddFPR = 0.005

// stage2Threshold chooses the second stage's flag threshold given the
// prompt_injection and jailbreak thresholds in cal: the lowest at which
// the union of the two categories and the second stage stays within
// flagFPR (or within the categories' own rate where that is higher), adding
// at most stage2AddFPR, on every benign validation source except skip.
func (r *result) stage2Threshold(cal *scan.Calibration, skip *source) {
	ti, tj := cal.Categories[scan.CatPromptInjection].Flag, cal.Categories[scan.CatJailbreak].Flag
	type neg struct{ base, st []float64 }
	var negs []neg
	for _, s := range r.p.srcs {
		if s == skip {
			continue
		}
		var n neg
		for i, it := range s.items {
			if it.pos || it.role != scan.Input {
				continue
			}
			o := r.out[s][i]
			b := 0.0
			if o.cat[scan.CatPromptInjection] >= ti || o.cat[scan.CatJailbreak] >= tj {
				b = 1
			}
			n.base = append(n.base, b)
			n.st = append(n.st, o.st)
		}
		if len(n.base) >= minNeg {
			negs = append(negs, n)
		}
	}
	for t := 0.30; t < 0.995; t += 0.01 {
		worst, ok := 0.0, true
		for _, n := range negs {
			k0, k := 0, 0
			for i := range n.base {
				if n.base[i] > 0 {
					k0++
				}
				if n.base[i] > 0 || n.st[i] >= t {
					k++
				}
			}
			fpr, fpr0 := float64(k)/float64(len(n.base)), float64(k0)/float64(len(n.base))
			if fpr > max(flagFPR, fpr0) || fpr-fpr0 > stage2AddFPR {
				ok = false
				break
			}
			worst = max(worst, fpr)
		}
		if ok {
			for _, d := range stage2Detectors {
				cal.Categories[d] = scan.CalibratedThreshold{Flag: math.Round(t*100) / 100, FlagFPR: max(worst, 1e-4)}
			}
			return
		}
	}
	for _, d := range stage2Detectors {
		cal.Categories[d] = scan.CalibratedThreshold{Flag: 1, FlagFPR: 1e-4} // never reached: the second stage only records
	}
}

func roleOf(cat string) scan.Role {
	if cat == scan.CatHarmful {
		return scan.Output
	}
	return scan.Input
}
