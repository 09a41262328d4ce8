package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/warden-ai/warden/internal/scan"
)

// PII and secret evaluation. The rules were tuned by looking at the "dev"
// part of each set only; the held-out part (a third of presidio's
// templates, a third of CredSweeper's files, by a stable hash) is reported
// beside it so overfitting shows as a gap between the two columns.

var piiMap = map[string]string{"CREDIT_CARD": "pii.credit_card", "EMAIL_ADDRESS": "pii.email", "PHONE_NUMBER": "pii.phone",
	"IBAN_CODE": "pii.iban", "US_SSN": "pii.us_ssn", "IP_ADDRESS": "pii.ip", "PERSON": "pii.person", "STREET_ADDRESS": "pii.address"}

// heldOut reports whether a group key (template id, file) is in the
// held-out third.
func heldOut(key string) bool { return bucket(key, 3) == 0 }

// acted keeps the findings the tier-high output policy acts on (redact,
// flag or block): what a user of a high-tier model sees.
func acted(fs []scan.Finding) []scan.Finding {
	p := scan.DefaultPolicy("high")
	var out []scan.Finding
	for _, f := range fs {
		if p.Triggers(scan.Output, f) != scan.ActionAllow {
			out = append(out, f)
		}
	}
	return out
}

func spanConf(c *conf, gold []piiSpan, pred []scan.Finding) {
	overlaps := func(f scan.Finding, g piiSpan) bool { return f.Start < g.End && g.Start < f.End }
	for _, g := range gold {
		hit := false
		for _, f := range pred {
			hit = hit || overlaps(f, g)
		}
		c.add(hit, true)
	}
	for _, f := range pred {
		hit := false
		for _, g := range gold {
			hit = hit || overlaps(f, g)
		}
		if !hit {
			c.fp++
		}
	}
}

func prf(c conf) (p, r, f1 float64) {
	p, r = ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn)
	if p+r > 0 {
		f1 = 2 * p * r / (p + r)
	}
	return p, r, f1
}

func splitRow(name string, dev, test conf) string {
	dp, dr, df := prf(dev)
	tp, tr, tf := prf(test)
	return fmt.Sprintf("| %s | %d | %.3f | %.3f | %.3f | %d | %.3f | %.3f | **%.3f** |", name,
		dev.tp+dev.fn, dp, dr, df, test.tp+test.fn, tp, tr, tf)
}

const splitHeader = "| entity | dev positives | dev precision | dev recall | dev F1 | held-out positives | held-out precision | held-out recall | held-out F1 |\n|---|---|---|---|---|---|---|---|---|"

func evalPII(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	rows, err := d.read("presidio-pii/pii_spans.jsonl")
	if err != nil {
		return err
	}
	dev, test := map[string]*conf{}, map[string]*conf{}
	for typ := range piiMap {
		dev[typ], test[typ] = &conf{}, &conf{}
	}
	nDev, nTest := 0, 0
	nameGold, nameRedacted := 0, 0
	for _, r := range rows {
		byteSpans(&r)
		// Findings the tier-high policy acts on; for names every finding:
		// a name merely mentioned is detected but scores under the action
		// threshold by policy (the benign table below shows what tier high
		// redacts).
		all, _ := e.Scan(ctx, r.Text, scan.Output, scan.Context{})
		fs := acted(all)
		for _, g := range r.Spans {
			if g.Type != "PERSON" {
				continue
			}
			nameGold++
			for _, f := range fs {
				if f.Detector == "pii.person" && f.Start < g.End && g.Start < f.End {
					nameRedacted++
					break
				}
			}
		}
		for _, f := range all {
			if f.Detector == "pii.person" && !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
		per := dev
		if heldOut(strconv.Itoa(r.TemplateID)) {
			per = test
			nTest++
		} else {
			nDev++
			if devErrs := os.Getenv("PII_DEV_ERRORS"); devErrs != "" {
				printDevErrors(r, fs, devErrs)
			}
		}
		for typ, det := range piiMap {
			var gold []piiSpan
			for _, s := range r.Spans {
				if s.Type == typ {
					gold = append(gold, s)
				}
			}
			var pred []scan.Finding
			for _, f := range fs {
				if strings.HasPrefix(f.Detector, det) {
					pred = append(pred, f)
				}
			}
			spanConf(per[typ], gold, pred)
		}
	}
	fmt.Fprintf(w, "\n## PII (presidio-pii, output role, findings the tier-high policy acts on — for PERSON every finding, mentions included —, overlap span match)\n\n"+
		"dev: %d sentences (templates with bucket(template_id) ≠ 0), used while writing the rules; held-out: %d sentences of the other templates, not looked at.\n\n%s\n",
		nDev, nTest, splitHeader)
	for _, typ := range sortedKeys(dev) {
		fmt.Fprintln(w, splitRow(typ, *dev[typ], *test[typ]))
	}
	fmt.Fprintf(w, "\nPERSON spans (dev and held-out) that tier high redacts in an output (a private-person cue or other PII in the sentence): %d of %d (%.3f); the rest are detected as mentions and only recorded.\n",
		nameRedacted, nameGold, ratio(nameRedacted, nameGold))
	return evalPIIBenign(ctx, d, e, w)
}

// benignPII are prompt sets without (or with few) personal data: the share
// of their texts with a name or address finding is a false-positive rate.
var benignPII = []struct{ name, file, note string }{
	{"benign-banking77", "benign-banking77/queries.jsonl", ""},
	{"benign-clinc150", "benign-clinc150/utterances.jsonl", ""},
	{"benign-self-instruct", "benign-self-instruct/instructions.jsonl", ""},
	{"benign-mtbench", "benign-mtbench/questions.jsonl", "some questions name real people"},
	{"benign-arena-hard", "benign-arena-hard/prompts.jsonl", "some prompts name real people or characters"},
	{"benign-koala", "benign-koala/prompts.jsonl", "some prompts name real people"},
	{"benign-sysadmin-trimstray", "benign-sysadmin-trimstray/questions.jsonl", ""},
	{"benign-sysadmin-chassing", "benign-sysadmin-chassing/questions.jsonl", ""},
	{"benign-mmlu-security", "benign-mmlu-security/questions.jsonl", ""},
	{"benign-humaneval", "benign-humaneval/prompts.jsonl", ""},
	{"benign-xquad (questions)", "benign-xquad/questions.jsonl", "Wikipedia questions: many name real people (true names, counted here)"},
	{"benign-gsm8k", "benign-gsm8k/questions.jsonl", "word problems name people (\"Natalia sold clips\"): true names, counted here"},
}

func evalPIIBenign(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	fmt.Fprintf(w, "\nShare of benign prompts with a name or address the tier-high output policy would redact (up to 2,500 per source by a stable hash; no data set here labels names, so a real name counts too):\n\n"+
		"| source | texts | pii.person | pii.address | note |\n|---|---|---|---|---|\n")
	for _, b := range benignPII {
		rows, err := d.read(b.file)
		if err != nil {
			return err
		}
		sort.Slice(rows, func(i, j int) bool { return bucket(rows[i].Text, 1<<30) < bucket(rows[j].Text, 1<<30) })
		if len(rows) > 2500 {
			rows = rows[:2500]
		}
		var person, addr int
		for _, r := range rows {
			fs, _ := e.Scan(ctx, r.Text, scan.Output, scan.Context{})
			var p, a bool
			for _, f := range acted(fs) {
				p = p || f.Detector == "pii.person"
				a = a || f.Detector == "pii.address"
			}
			person += b2i(p)
			addr += b2i(a)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %s |\n", b.name, len(rows), ratio(person, len(rows)), ratio(addr, len(rows)), b.note)
	}
	return nil
}

// byteSpans turns presidio's span offsets, which count characters, into
// the byte offsets of Go strings and findings: without it every span after
// a non-ASCII letter ("Šušulić, Bowman and White") was shifted and scored
// as a miss plus, often, a false positive.
func byteSpans(r *row) {
	idx := make([]int, 0, len(r.Text)+1)
	for i := range r.Text {
		idx = append(idx, i)
	}
	idx = append(idx, len(r.Text))
	at := func(c int) int { return idx[min(max(c, 0), len(idx)-1)] }
	for k := range r.Spans {
		r.Spans[k].Start, r.Spans[k].End = at(r.Spans[k].Start), at(r.Spans[k].End)
	}
}

// printDevErrors lists, for a dev sentence only, the gold spans of the
// given type that no finding overlaps (MISS) and the findings that overlap
// no gold span (FP).
func printDevErrors(r row, fs []scan.Finding, typ string) {
	det := piiMap[typ]
	for _, g := range r.Spans {
		if g.Type != typ {
			continue
		}
		hit := false
		for _, f := range fs {
			hit = hit || strings.HasPrefix(f.Detector, det) && f.Start < g.End && g.Start < f.End
		}
		if !hit {
			fmt.Fprintf(os.Stderr, "MISS %q in %q\n", r.Text[g.Start:g.End], r.Text)
		}
	}
	for _, f := range fs {
		if !strings.HasPrefix(f.Detector, det) {
			continue
		}
		hit := false
		for _, g := range r.Spans {
			hit = hit || g.Type == typ && f.Start < g.End && g.Start < f.End
		}
		if !hit {
			fmt.Fprintf(os.Stderr, "FP %q in %q\n", r.Text[f.Start:f.End], r.Text)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func evalSecrets(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	rows, err := d.read("credsweeper-secrets/lines_labelled.jsonl.gz")
	if err != nil {
		return err
	}
	byFile := map[string][]row{}
	for _, r := range rows {
		byFile[r.File] = append(byFile[r.File], r)
	}
	var dev, test conf
	perRule := map[string]*[2]conf{} // CredSweeper rule -> dev, held-out (recall)
	perDet := map[string]*[2]conf{}  // Warden detector -> dev, held-out (precision)
	nFiles := [2]int{}
	for _, f := range sortedKeys(byFile) {
		lines := byFile[f]
		k := 0
		c := &dev
		if heldOut(f) {
			k, c = 1, &test
		}
		nFiles[k]++
		sort.Slice(lines, func(i, j int) bool { return lines[i].LineNum < lines[j].LineNum })
		var b strings.Builder
		starts := make([]int, len(lines))
		for i, l := range lines {
			starts[i] = b.Len()
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		fs, _ := e.Scan(ctx, b.String(), scan.Input, scan.Context{})
		for i, l := range lines {
			end := starts[i] + len(l.Text)
			pred := false
			dets := map[string]bool{}
			for _, f := range fs {
				if f.Category == scan.CatSecret && f.Score >= 0.6 && f.Start <= end && starts[i] < f.End {
					pred = true
					dets[f.Detector] = true
				}
			}
			truth := l.Label == nil || *l.Label == 1
			c.add(pred, truth)
			for det := range dets {
				if perDet[det] == nil {
					perDet[det] = &[2]conf{}
				}
				perDet[det][k].add(true, truth)
			}
			if truth {
				for _, ru := range l.Rules {
					if perRule[ru] == nil {
						perRule[ru] = &[2]conf{}
					}
					perRule[ru][k].add(pred, true)
				}
			}
		}
	}
	fmt.Fprintf(w, "\n## Secrets (credsweeper-secrets, line level, files scanned whole as inputs; labels are CredSweeper's own output)\n\n"+
		"dev: %d files; held-out: %d files (bucket(file) = 0).\n\n%s\n%s\n",
		nFiles[0], nFiles[1], splitHeader, splitRow("all lines", dev, test))
	fmt.Fprintf(w, "\nPrecision per Warden detector (lines it flagged that CredSweeper labels secret):\n\n| detector | dev flagged | dev precision | held-out flagged | held-out precision |\n|---|---|---|---|---|\n")
	for _, k := range sortedKeys(perDet) {
		c := perDet[k]
		fmt.Fprintf(w, "| %s | %d | %.3f | %d | %.3f |\n", k, c[0].tp+c[0].fp, ratio(c[0].tp, c[0].tp+c[0].fp), c[1].tp+c[1].fp, ratio(c[1].tp, c[1].tp+c[1].fp))
	}
	fmt.Fprintf(w, "\nRecall per CredSweeper rule (rules with ≥ 5 positive lines):\n\n| CredSweeper rule | dev positives | dev recall | held-out positives | held-out recall |\n|---|---|---|---|---|\n")
	for _, k := range sortedKeys(perRule) {
		c := perRule[k]
		if n := c[0].tp + c[0].fn + c[1].tp + c[1].fn; n >= 5 {
			fmt.Fprintf(w, "| %s | %d | %.3f | %d | %.3f |\n", k, c[0].tp+c[0].fn, ratio(c[0].tp, c[0].tp+c[0].fn), c[1].tp+c[1].fn, ratio(c[1].tp, c[1].tp+c[1].fn))
		}
	}
	return nil
}

// evalSelfHarm reports how often the self-harm phrases for outputs
// (encouragement, instructions) block benign texts scanned as outputs at
// tier high: model answers to unsafe prompts (XSTest), hard benign
// contrast sets and ordinary prompts. The openai-moderation rows flagged
// SH are mostly first-person talk about self-harm, not encouragement:
// their rate is shown apart, as what the rule does not try to catch.
func evalSelfHarm(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	type set struct {
		name, file string
		keep       func(row) (string, bool)
	}
	text := func(r row) (string, bool) { return r.Text, true }
	label := func(v int) func(row) (string, bool) {
		return func(r row) (string, bool) { return r.Text, r.Label != nil && *r.Label == v }
	}
	sh := func(v int) func(row) (string, bool) {
		return func(r row) (string, bool) {
			var m struct {
				Flags map[string]int `json:"flags"`
			}
			_ = json.Unmarshal(r.Meta, &m)
			return r.Text, m.Flags["SH"] == v
		}
	}
	sets := []set{
		{"xstest refusals (model answers refusing unsafe prompts)", "xstest/completions_unsafe_labelled.jsonl", func(r row) (string, bool) { return r.Response, r.Refusal == 1 }},
		{"xstest compliances (answers that comply with unsafe prompts; self-harm ones should block)", "xstest/completions_unsafe_labelled.jsonl", func(r row) (string, bool) { return r.Response, r.Refusal == 0 }},
		{"hatecheck non-hateful (incl. counter-speech)", "hatecheck/cases.jsonl", label(0)},
		{"coconot benign contrast prompts", "coconot/prompts.jsonl", label(0)},
		{"openai-moderation, no self-harm flag", "openai-moderation/samples.jsonl", sh(0)},
		{"surge-toxicity non-toxic", "surge-toxicity/comments.jsonl", label(0)},
		{"benign-arena-hard", "benign-arena-hard/prompts.jsonl", text},
		{"benign-mtbench", "benign-mtbench/questions.jsonl", text},
		{"openai-moderation SH = 1 (self-harm talk; not the rule's target)", "openai-moderation/samples.jsonl", sh(1)},
	}
	p := scan.DefaultPolicy("high")
	fmt.Fprintf(w, "\n## Self-harm encouragement and instructions in outputs (phrase rule `harmful.lexicon.self_harm`, blocks at critical/high)\n\n"+
		"Share of texts, scanned as model outputs, that the rule blocks at tier high:\n\n| set | texts | blocked by the self-harm rule |\n|---|---|---|\n")
	for _, s := range sets {
		rows, err := d.read(s.file)
		if err != nil {
			return err
		}
		n, hit := 0, 0
		for _, r := range rows {
			t, ok := s.keep(r)
			if !ok || t == "" {
				continue
			}
			n++
			fs, _ := e.Scan(ctx, t, scan.Output, scan.Context{})
			for _, f := range fs {
				if f.Detector == "harmful.lexicon.self_harm" && p.Triggers(scan.Output, f) == scan.ActionBlock {
					hit++
					break
				}
			}
		}
		fmt.Fprintf(w, "| %s | %d | %.4f (%d) |\n", s.name, n, ratio(hit, n), hit)
	}
	return nil
}
