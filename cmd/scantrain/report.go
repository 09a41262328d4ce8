package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/warden-ai/warden/internal/scan"
)

// wilson returns the 95% Wilson score interval of k successes in n.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959964
	p := float64(k) / float64(n)
	d := 1 + z*z/float64(n)
	c := (p + z*z/(2*float64(n))) / d
	h := z * math.Sqrt(p*(1-p)/float64(n)+z*z/(4*float64(n)*float64(n))) / d
	return max(0, c-h), min(1, c+h)
}

// rate formats k/n with its Wilson interval.
func rate(k, n int) string {
	if n == 0 {
		return "–"
	}
	lo, hi := wilson(k, n)
	return fmt.Sprintf("%.3f [%.3f, %.3f]", float64(k)/float64(n), lo, hi)
}

var reportCats = []string{scan.CatPromptInjection, scan.CatJailbreak, scan.CatHarmfulRequest, scan.CatHarmful}

// tally counts verdicts of a set of texts at one tier.
type tally struct {
	n, hit int
	cat    map[string]int
	other  int // non-allow through a category outside reportCats
}

func (t *tally) add(p scan.Policy, role scan.Role, fs []scan.Finding) {
	if t.cat == nil {
		t.cat = map[string]int{}
	}
	t.n++
	if p.Decide(role, fs) != scan.ActionAllow {
		t.hit++
	}
	seen := map[string]bool{}
	oth := false
	for _, f := range fs {
		if p.Triggers(role, f) == scan.ActionAllow {
			continue
		}
		if slices.Contains(reportCats, f.Category) {
			if !seen[f.Category] {
				seen[f.Category] = true
				t.cat[f.Category]++
			}
		} else {
			oth = true
		}
	}
	if oth {
		t.other++
	}
}

func (t *tally) row(name, kind, what string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | %s | %s | %d | **%s** |", name, kind, what, t.n, rate(t.hit, t.n))
	for _, c := range reportCats {
		fmt.Fprintf(&b, " %s |", short(t.cat[c], t.n))
	}
	fmt.Fprintf(&b, " %s |", short(t.other, t.n))
	return b.String()
}

func short(k, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", float64(k)/float64(n))
}

// report prints the leave-one-source-out tables: every source scored by the
// model that never saw it, at tier high, with thresholds chosen without it.
func (r *result) report(w io.Writer) {
	fmt.Fprintf(w, "## Leave-one-source-out, verdict at tier high\n\n")
	fmt.Fprintf(w, "Each source is scored by a model trained on all other sources (eval-only sources: by the model trained on every trainable source); calibrated thresholds are chosen with the held-out source excluded. Rate = share of texts whose verdict is not allow (recall on attack/harmful texts, FPR on benign texts), 95%% Wilson interval; per-category columns: share with a finding of that category that triggered an action (other = any other category: pii, secret, encoded, indirect, …). Inputs are scanned with role input, toxicity/moderation texts (kind content) with role output. Sources are capped at %d texts (benign %d, a few larger) by a stable hash of the text.\n\n", capDefault, capBenign)
	fmt.Fprintln(w, "| source | kind | texts | n | non-allow rate [95% CI] | prompt_injection | jailbreak | harmful_request | harmful | other |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.p.srcs {
		pol := scan.PolicyFor("high", r.thresholds(s))
		var pos, neg tally
		slices := map[string]*tally{}
		for i, it := range s.items {
			o := r.out[s][i]
			if it.pos {
				pos.add(pol, it.role, o.fs)
			} else {
				neg.add(pol, it.role, o.fs)
			}
			if it.slice != "" {
				if slices[it.slice] == nil {
					slices[it.slice] = &tally{}
				}
				slices[it.slice].add(pol, it.role, o.fs)
			}
		}
		kind := s.kind
		if s.evalOnly {
			kind += " (eval only)"
		}
		if pos.n > 0 {
			what := "positives (recall)"
			fmt.Fprintln(w, pos.row(s.name, kind, what))
		}
		if neg.n > 0 {
			fmt.Fprintln(w, neg.row(s.name, kind, "negatives (FPR)"))
		}
		for _, k := range sortedKeys(slices) {
			fmt.Fprintln(w, slices[k].row(s.name+" ["+k+"]", kind, "slice"))
		}
	}
	cal := r.thresholds(nil)
	fmt.Fprintf(w, "\n### Calibrated thresholds (all sources; written to internal/scan/weights/calibration.json)\n\n| category | flag threshold | worst benign-source FPR | block threshold (critical/high) | worst benign-source FPR |\n|---|---|---|---|---|\n")
	for _, c := range calCats {
		t := cal.Categories[c]
		blk := "–"
		blkF := "–"
		if t.Block > 0 {
			blk, blkF = fmt.Sprintf("%.2f", t.Block), fmt.Sprintf("%.4f", t.BlockFPR)
		}
		fmt.Fprintf(w, "| %s | %.2f | %.4f | %s | %s |\n", c, t.Flag, t.FlagFPR, blk, blkF)
	}
	s2t := cal.Categories[stage2Detectors[0]]
	fmt.Fprintf(w, "| %s (second stage, detector rule; union with the two categories above) | %.2f | %.4f | – | – |\n", strings.Join(stage2Detectors, ", "), s2t.Flag, s2t.FlagFPR)
	ht := cal.Categories[harmDetector]
	fmt.Fprintf(w, "| %s (harm second stage, detector rule; union with harmful_request, target %.2g) | %.2f | %.4f | – | – |\n", harmDetector, harmFlagFPR, ht.Flag, ht.FlagFPR)
	fmt.Fprintf(w, "\nPlatt maps (p = sigmoid(a·logit(raw) + b)) fitted on the held-out scores; a head whose held-out slope a < %.2g carries no cross-source signal and ships switched off:\n\n| head | a | b | shipped |\n|---|---|---|---|\n", minSlope)
	for h, c := range r.cal {
		st := "yes"
		if c.off {
			st = "**off** (no cross-source signal)"
		}
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %s |\n", allHeads[h], c.a, c.b, st)
	}
	for h, c := range r.st.cal {
		st := "yes"
		if c.off {
			st = "**off** (no cross-source signal)"
		}
		fmt.Fprintf(w, "| stage 2 %s (p = sigmoid(a·z + b) of the network's logit z) | %.3f | %.3f | %s |\n", stage2Heads[h], c.a, c.b, st)
	}
	hst := "yes"
	if r.hs.cal.off {
		hst = "**off** (no cross-source signal)"
	}
	fmt.Fprintf(w, "| harm stage 2 request (p = sigmoid(a·z + b) of the network's logit z) | %.3f | %.3f | %s |\n", r.hs.cal.a, r.hs.cal.b, hst)
}
