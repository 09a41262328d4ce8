package scan

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// placeholderType is the placeholder stem for a finding ("EMAIL", "SECRET").
func placeholderType(f Finding) string {
	switch f.Category {
	case CatSecret:
		return "SECRET"
	case CatPII:
		t := strings.TrimPrefix(f.Detector, "pii.")
		switch t {
		case "ipv4", "ipv6":
			t = "IP"
		case "us_ssn":
			t = "SSN"
		}
		return strings.ToUpper(t)
	case CatSystemPromptLeak:
		return "SYSTEM_PROMPT"
	case CatExfiltration:
		return "LINK"
	}
	return ""
}

// Redact replaces the spans of PII, secret, exfiltration and leak findings
// with typed placeholders. The same value gets the same placeholder within
// one text ([EMAIL_1] for every occurrence of one address); overlapping spans
// are merged into the first one. Other findings are ignored.
func Redact(text string, findings []Finding) string {
	type span struct {
		s, e int
		typ  string
	}
	var spans []span
	for _, f := range findings {
		typ := placeholderType(f)
		if typ == "" || f.Start < 0 || f.End > len(text) || f.Start >= f.End {
			continue
		}
		spans = append(spans, span{f.Start, f.End, typ})
	}
	if len(spans) == 0 {
		return text
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.s != b.s {
			return a.s - b.s
		}
		return b.e - a.e
	})
	ids := map[string]string{} // type + value -> placeholder
	counts := map[string]int{}
	var b strings.Builder
	b.Grow(len(text))
	pos := 0
	for _, sp := range spans {
		if sp.s < pos {
			continue // overlaps a span already replaced
		}
		b.WriteString(text[pos:sp.s])
		key := sp.typ + "\x00" + text[sp.s:sp.e]
		ph, ok := ids[key]
		if !ok {
			counts[sp.typ]++
			ph = "[" + sp.typ + "_" + strconv.Itoa(counts[sp.typ]) + "]"
			ids[key] = ph
		}
		b.WriteString(ph)
		pos = sp.e
	}
	b.WriteString(text[pos:])
	return b.String()
}

// Redactor turns text into what store_text: redacted keeps: PII and secrets
// replaced by typed placeholders, exactly as [Redact] over the findings of an
// Engine that runs only the PII and secret scanners. Both read the original
// text, never the normalized view, so the Redactor skips the normalization an
// Engine does for every text (half of the cost on 1 KB of prose). It is safe
// for concurrent use.
type Redactor struct {
	scanners [2]Scanner
}

// NewRedactor returns a Redactor.
func NewRedactor() *Redactor {
	return &Redactor{scanners: [2]Scanner{newPIIScanner(), newSecretScanner()}}
}

// Redact returns text with its PII and secrets replaced; text itself when
// there are none.
func (r *Redactor) Redact(text string) string {
	red, _ := r.Scan(text)
	return red
}

// Known holds the findings of the PII and secret scanners for one text, as [Redactor.Scan]
// found them, so that an Engine scanning the same text afterwards need not run those two
// scanners again ([Engine.ScanKnown]). Both read only the original text, so their findings do
// not depend on the role or the scan context.
type Known struct {
	pii, secret []Finding
}

// Scan returns text redacted, as Redact does, and the findings it redacted from.
func (r *Redactor) Scan(text string) (string, Known) {
	var k Known
	if text == "" {
		return "", k
	}
	in := Doc{Text: text, Role: Output}
	k.pii, _ = r.scanners[0].Scan(context.Background(), &in) // neither scanner returns errors
	k.secret, _ = r.scanners[1].Scan(context.Background(), &in)
	if len(k.pii)+len(k.secret) == 0 {
		return text, k
	}
	out := make([]Finding, 0, len(k.pii)+len(k.secret))
	out = append(append(out, k.pii...), k.secret...)
	// The Engine's order (by start, scanner order among equals), so Redact numbers
	// placeholders the same way.
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Start - b.Start })
	return Redact(text, out), k
}
