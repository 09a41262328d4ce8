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

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var piiMap = map[string]string{"CREDIT_CARD": "pii.credit_card", "EMAIL_ADDRESS": "pii.email", "PHONE_NUMBER": "pii.phone",
	"IBAN_CODE": "pii.iban", "US_SSN": "pii.us_ssn", "IP_ADDRESS": "pii.ip", "PERSON": "pii.person", "STREET_ADDRESS": "pii.address"}

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
	perRule := map[string]*conf{}
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
			truth := l.Label == nil || *l.Label == 1
			c.add(pred, truth)
			if truth {
				for _, ru := range l.Rules {
					if perRule[ru] == nil {
						perRule[ru] = &conf{}
					}
					perRule[ru].add(pred, true)
				}
			}
		}
	}
	fmt.Fprintf(w, "\n## Secrets (credsweeper-secrets, line level, files scanned whole; labels are CredSweeper's own output)\n\n%s\n%s\n", confHeader, c.row("all 2,113 lines"))
	fmt.Fprintf(w, "\nRecall per CredSweeper rule (rules with ≥ 5 positive lines):\n\n| CredSweeper rule | positive lines | recall |\n|---|---|---|\n")
	for _, k := range sortedKeys(perRule) {
		if pc := perRule[k]; pc.tp+pc.fn >= 5 {
			fmt.Fprintf(w, "| %s | %d | %.3f |\n", k, pc.tp+pc.fn, ratio(pc.tp, pc.tp+pc.fn))
		}
	}
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
