package main

import (
	"context"
	"fmt"
	"io"
	"sort"

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
