package scan

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/warden-ai/warden/internal/scan/linear"
)

type patInfo struct {
	kind      sigKind
	w         float64
	transform string // "", "rot13", "reversed"
	bound     bool   // ASCII pattern: enforce word boundaries
}

// injectionScanner layers multilingual signatures, structural features and a
// learned classifier. It is also used to re-scan decoded payloads.
type injectionScanner struct {
	m     *matcher // over pats, or shared with other scanners from base on
	base  int
	pats  []string
	info  []patInfo
	model *learned
	inj   int // head indexes in model results
	jail  int
	req   int // harmful-request head (-1 without): an input to the second stage

	// Structural cues (structure.go) share the automaton from cbase on.
	cpats  []string
	cgroup []uint8
	cbound []bool
	cbase  int
	stage2 *stage2
}

func rot13(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = 'a' + (c-'a'+13)%26
		case c >= 'A' && c <= 'Z':
			b[i] = 'A' + (c-'A'+13)%26
		}
	}
	return string(b)
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func newInjectionScanner(l *learned, st *stage2) (*injectionScanner, error) {
	s := &injectionScanner{}
	var pats []string
	add := func(p string, pi patInfo) {
		// Patterns are matched against Doc.Norm, so fold them the same
		// way (confusables such as Turkish ı inside Latin words, NFKC).
		// Patterns with edge whitespace (turn markers) are kept as written.
		if n := NewDoc(p, Input, Context{}).Norm; n != "" && strings.TrimSpace(p) == p {
			p = n
		}
		pi.bound = isASCII(p)
		pats = append(pats, p)
		s.info = append(s.info, pi)
	}
	for _, g := range signatures {
		for _, p := range g.pats {
			add(p, patInfo{kind: g.kind, w: g.w})
			if (g.kind == kPhrase && g.w >= 0.8 || g.kind == kJail && g.w >= 0.8) && isASCII(p) {
				add(rot13(p), patInfo{kind: g.kind, w: g.w, transform: "rot13"})
				add(reverse(p), patInfo{kind: g.kind, w: g.w, transform: "reversed"})
			}
		}
	}
	s.pats = pats
	s.cpats, s.cgroup = structPatterns()
	for _, p := range s.cpats {
		s.cbound = append(s.cbound, isASCII(p))
	}
	s.cbase = len(pats)
	s.m = newMatcher(append(slices.Clip(pats), s.cpats...))
	s.model, s.inj, s.jail = l, l.head("injection.wlm", "injection"), l.head("injection.wlm", "jailbreak")
	s.req = l.head("harmful.wlm", "request")
	if s.inj < 0 {
		return nil, fmt.Errorf("injection model: no injection head")
	}
	s.stage2 = st
	return s, nil
}

// cueHits returns the structural cue matches of in (word boundaries
// enforced for ASCII cues).
func (s *injectionScanner) cueHits(in *Doc, dst []cueHit) []cueHit {
	norm := in.Norm
	for _, mt := range in.matches(s.m) {
		id, end := int(mt.id)-s.cbase, int(mt.end)
		if id < 0 || id >= len(s.cpats) {
			continue
		}
		p := s.cpats[id]
		start := end - len(p)
		if s.cbound[id] {
			if start > 0 && isWordChar(norm[start-1]) && isWordChar(p[0]) {
				continue
			}
			if end < len(norm) && isWordChar(norm[end]) && isWordChar(p[len(p)-1]) {
				continue
			}
		}
		dst = append(dst, cueHit{s.cgroup[id], start, end})
	}
	return dst
}

func (s *injectionScanner) Name() string { return ScannerInjection }

func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80
}

type hit struct {
	id         int
	start, end int // in Norm
}

// sigResult is the outcome of the signature layer on one normalized text.
type sigResult struct {
	inj, jail, indirect float64
	injSpan, jailSpan   [2]int
	indSpan             [2]int
	injWhy, jailWhy     string
	transform           string // set when the strongest hit was rot13/reversed
	meta                bool
}

func near(a, b hit, gap int) bool {
	if a.end <= b.start {
		return b.start-a.end <= gap
	}
	if b.end <= a.start {
		return a.start-b.end <= gap
	}
	return false
}

func spanOf(hs ...hit) [2]int {
	sp := [2]int{hs[0].start, hs[0].end}
	for _, h := range hs[1:] {
		sp[0], sp[1] = min(sp[0], h.start), max(sp[1], h.end)
	}
	return sp
}

func noisyOr(a, b float64) float64 { return 1 - (1-a)*(1-b) }

// signatures runs the signature layer over a Doc's normalized text.
func (s *injectionScanner) signatures(in *Doc) sigResult {
	norm := in.Norm
	var buf [64]hit
	hits := buf[:0]
	for _, mt := range in.matches(s.m) {
		id, end := int(mt.id)-s.base, int(mt.end)
		if id < 0 || id >= len(s.pats) {
			continue
		}
		p := s.pats[id]
		start := end - len(p)
		if s.info[id].bound {
			if start > 0 && isWordChar(norm[start-1]) && isWordChar(p[0]) {
				continue
			}
			if end < len(norm) && isWordChar(norm[end]) && isWordChar(p[len(p)-1]) {
				continue
			}
		}
		if len(hits) < 512 {
			hits = append(hits, hit{id, start, end})
		}
	}
	var r sigResult
	var turns int
	var verbs, targets, quals, extracts, objs, addrs []hit
	for _, h := range hits {
		pi := s.info[h.id]
		switch pi.kind {
		case kVerb:
			verbs = append(verbs, h)
		case kTarget:
			targets = append(targets, h)
		case kQual:
			quals = append(quals, h)
		case kExtract:
			extracts = append(extracts, h)
		case kSecretObj:
			objs = append(objs, h)
		case kAddress:
			addrs = append(addrs, h)
		case kMeta:
			r.meta = true
		case kTurn:
			turns++
		case kPhrase, kToken:
			if pi.w > r.inj {
				r.inj, r.injSpan, r.injWhy = pi.w, spanOf(h), s.pats[h.id]
				r.transform = pi.transform
			}
		case kJail:
			if pi.transform != "" && pi.w > r.inj {
				r.transform = pi.transform
			}
			if r.jail == 0 {
				r.jailSpan = spanOf(h)
			} else {
				r.jailSpan = spanOf(hit{start: r.jailSpan[0], end: r.jailSpan[1]}, h)
			}
			r.jail = noisyOr(r.jail, pi.w*0.8)
			if pi.w >= 0.8 {
				r.jail = max(r.jail, pi.w)
			}
			r.jailWhy = s.pats[h.id]
		}
	}
	// Override verb near an instruction target, stronger with a qualifier.
	for _, v := range verbs {
		for _, t := range targets {
			if !near(v, t, 40) {
				continue
			}
			// Without a qualifier ("ignore the context") this is
			// usually benign; with one ("ignore all previous rules") it
			// is the classic override.
			sc := 0.45
			sp := spanOf(v, t)
			for _, q := range quals {
				if q.start >= sp[0]-24 && q.end <= sp[1]+24 {
					sc = 0.9
					break
				}
			}
			if sc > r.inj {
				r.inj, r.injSpan, r.injWhy = sc, sp, norm[sp[0]:sp[1]]
			}
		}
	}
	for _, x := range extracts {
		for _, o := range objs {
			if near(x, o, 32) && r.inj < 0.8 {
				sp := spanOf(x, o)
				r.inj, r.injSpan, r.injWhy = 0.8, sp, norm[sp[0]:sp[1]]
			}
		}
	}
	if turns >= 6 {
		r.jail = max(r.jail, 0.5+min(float64(turns), 20)/50)
		if r.jailWhy == "" {
			r.jailSpan, r.jailWhy = [2]int{0, len(norm)}, fmt.Sprintf("many-shot: %d dialogue turns", turns)
		}
	}
	if len(addrs) > 0 {
		r.indirect = 0.55
		r.indSpan = spanOf(addrs...)
		if r.inj >= 0.5 {
			r.indirect = 0.9
		}
	}
	if r.meta && r.transform == "" {
		// Questions about attacks quote attacks: damp, do not drop.
		r.inj *= 0.6
		r.jail *= 0.6
		r.indirect *= 0.6
	}
	// A phrase in quotation marks inside a longer text is mentioned, not
	// used ("a filter that strips 'ignore previous instructions'").
	if r.inj > 0 && quoted(norm, r.injSpan) {
		r.inj *= 0.5
	}
	if r.jail > 0 && quoted(norm, r.jailSpan) {
		r.jail *= 0.5
	}
	return r
}

// quoted reports whether sp lies inside a quotation (", ' or `) on one
// line that leaves at least 12 bytes of the text outside it.
func quoted(norm string, sp [2]int) bool {
	open := -1
	for i := sp[0] - 1; i >= 0 && i >= sp[0]-60; i-- {
		c := norm[i]
		if c == '\n' {
			return false
		}
		if (c == '"' || c == '\'' || c == '`') && (i == 0 || !isWordChar(norm[i-1])) {
			open = i
			break
		}
	}
	if open < 0 {
		return false
	}
	q := norm[open]
	for j := sp[1]; j < len(norm) && j <= sp[1]+160; j++ {
		c := norm[j]
		if c == '\n' {
			return false
		}
		if c == q && (j+1 == len(norm) || !isWordChar(norm[j+1])) {
			return len(norm)-(j+1-open) >= 12
		}
	}
	return false
}

// classify returns the classifier probabilities (whole-text and best window
// maxed) and the best window span in Norm.
func (s *injectionScanner) classify(in *Doc) (inj float64, injWin [2]int, jail float64, jailWin [2]int) {
	res := in.scores(s.model)
	pick := func(r linear.Result) (float64, [2]int) {
		if r.Whole >= r.Best.Score {
			return r.Whole, [2]int{0, len(in.Norm)}
		}
		return r.Best.Score, [2]int{r.Best.Start, r.Best.End}
	}
	inj, injWin = pick(res[s.inj])
	if s.jail >= 0 {
		jail, jailWin = pick(res[s.jail])
	}
	return
}

// sufScore is the score of an adversarial-suffix finding (a rule, like a
// qualified signature match).
const sufScore = 0.9

// respOrderScore is the score of indirect.response_order; the default
// policy flags it at every tier (a heuristic: it does not block).
const respOrderScore = 0.7

// minReport is the score below which a layer reports nothing.
const minReport = 0.3

func (s *injectionScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	if in.Role != Input || len(in.Norm) == 0 {
		return nil, nil
	}
	return s.scanNorm(in, nil), nil
}

// scanNorm scans in.Norm; when outer is set (a decoded payload) every
// finding spans outer and carries the decoded text as evidence.
func (s *injectionScanner) scanNorm(in *Doc, outer *Span) []Finding {
	var out []Finding
	emit := func(det, cat string, sc float64, sp [2]int, ev string) {
		if sc < minReport {
			return
		}
		f := Finding{Detector: det, Category: cat, Score: round3(sc), Evidence: clip(ev, 80)}
		if outer != nil {
			f.Start, f.End = outer.Start, outer.End
		} else {
			f.Start, f.End = in.Span(sp[0], sp[1])
		}
		out = append(out, f)
	}
	r := s.signatures(in)
	det := "injection.signature"
	if r.transform != "" {
		det = "injection.signature." + r.transform
	}
	emit(det, CatPromptInjection, r.inj, r.injSpan, r.injWhy)
	emit("jailbreak.signature", CatJailbreak, r.jail, r.jailSpan, r.jailWhy)
	emit("indirect.addressed", CatIndirectInjection, r.indirect, r.indSpan, "text addressed to an AI reader")
	if st, ok := adversarialSuffix(in.Text); ok && sufScore >= minReport {
		f := Finding{Detector: "jailbreak.suffix", Category: CatJailbreak, Score: sufScore, Start: st, End: len(in.Text),
			Evidence: clip(in.Text[st:], 80)}
		if outer != nil {
			f.Start, f.End = outer.Start, outer.End
		}
		out = append(out, f)
	}
	if sp, ok := responseOrderInside(in.Norm); ok {
		emit("indirect.response_order", CatIndirectInjection, respOrderScore, sp, "an order about the reader's response inside pasted data")
	}
	ci, ciw, cj, cjw := s.classify(in)
	emit("injection.classifier", CatPromptInjection, ci, ciw, "")
	emit("jailbreak.classifier", CatJailbreak, cj, cjw, "")
	if s.stage2 != nil && enoughEvidence(in.Norm) {
		var buf [stage2MaxIn]float64
		x, sp := s.stage2Inputs(in, r, buf[:0])
		pi, pj := s.stage2.score(x)
		// The second stage is calibrated on a pool about half attacks:
		// below stage2Floor its score is no evidence worth recording.
		if pi >= stage2Floor {
			emit("injection.structure", CatPromptInjection, pi, sp, "")
		}
		if pj >= stage2Floor {
			emit("jailbreak.structure", CatJailbreak, pj, sp, "")
		}
	}
	return out
}

func round3(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}
