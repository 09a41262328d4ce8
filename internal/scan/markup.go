package scan

import (
	"context"
	"net/url"
	"strings"
)

// markupScanner finds hidden HTML/markdown that carries instructions into a
// model (inputs: retrieved documents, tool results) and markdown images or
// links that smuggle data to external URLs (outputs).
type markupScanner struct {
	hidden *matcher
}

var hiddenStyles = []string{
	"display:none", "display: none", "visibility:hidden", "visibility: hidden", "font-size:0", "font-size: 0",
	"opacity:0", "opacity: 0", "color:white", "color: white", "color:#fff", "color: #fff", "color:#ffffff",
	"height:0", "width:0", "hidden>", "hidden=\"", "aria-hidden", "<!--",
}

func newMarkupScanner() *markupScanner {
	return &markupScanner{hidden: newMatcher(hiddenStyles)}
}

func (*markupScanner) Name() string { return ScannerMarkup }

func (s *markupScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	var out []Finding
	if in.Role == Input {
		out = s.hiddenMarkup(in, out)
	}
	return exfilLinks(in, out), nil
}

// hiddenMarkup reports hidden HTML regions; the score rises when the hidden
// region reads like instructions.
func (s *markupScanner) hiddenMarkup(in *Doc, out []Finding) []Finding {
	n := in.Norm
	// Every hiddenStyles pattern holds one of ":<=>" or "hidden": prose
	// without them needs no automaton pass.
	if !strings.ContainsAny(n, ":<=>") && !strings.Contains(n, "hidden") {
		return out
	}
	seen := -1
	s.hidden.each(n, func(id, end int) {
		start := end - len(s.hidden.pats[id])
		if start < seen {
			return
		}
		// The hidden region: to the end of the comment or element, bounded.
		stop := len(n)
		if s.hidden.pats[id] == "<!--" {
			if k := strings.Index(n[end:], "-->"); k >= 0 {
				stop = end + k + 3
			}
		} else if k := strings.Index(n[end:], "</"); k >= 0 {
			stop = end + k
		}
		stop = min(stop, end+2000)
		seen = stop
		region := n[start:stop]
		sc := 0.35
		ev := "hidden markup"
		if hasInstructionWords(region) {
			sc, ev = 0.85, "instructions inside hidden markup"
		} else if s.hidden.pats[id] == "<!--" {
			if stop-end < 40 {
				return // short comments are ordinary HTML
			}
			sc = 0.3
		}
		st, en := in.Span(start, stop)
		out = append(out, Finding{Detector: "indirect.hidden_markup", Category: CatIndirectInjection,
			Score: sc, Start: st, End: en, Evidence: clip(ev+": "+region, 100)})
	})
	return out
}

var instructionWords = []string{"ignore", "instruction", "assistant", "you must", "do not tell", "don't tell",
	"system prompt", "respond with", "reply with", "ai model", "language model", "llm", "chatgpt", "forward", "send ",
	"summar", "include the", "visit ", "click", "password", "exfiltrat"}

func hasInstructionWords(s string) bool {
	for _, w := range instructionWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// exfilLinks reports markdown images (rendered automatically, so they leak
// without a click) and links whose URL carries data in its query or path.
func exfilLinks(in *Doc, out []Finding) []Finding {
	t := in.Text
	for i := 0; i < len(t); {
		k := strings.Index(t[i:], "](")
		if k < 0 {
			break
		}
		open := i + k + 2
		close := strings.IndexByte(t[open:], ')')
		if close < 0 || close > 4096 {
			i = open
			continue
		}
		raw := strings.TrimSpace(t[open : open+close])
		if sp := strings.IndexByte(raw, ' '); sp > 0 {
			raw = raw[:sp] // drop a "title"
		}
		lb := strings.LastIndexByte(t[:i+k], '[')
		image := lb > 0 && t[lb-1] == '!'
		i = open + close + 1
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		data := len(u.RawQuery)
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) > 24 {
				data += len(seg)
			}
		}
		sc := 0.0
		switch {
		case image && data >= 8:
			sc = 0.85
		case image:
			sc = 0.4
		case data >= 32:
			sc = 0.55
		}
		if in.Role == Input {
			sc *= 0.6 // links in prompts are mostly benign; outputs render them
		}
		if sc >= minReport {
			start := open - 2
			if lb >= 0 {
				start = lb
				if image {
					start = lb - 1
				}
			}
			out = append(out, Finding{Detector: "exfil.markdown", Category: CatExfiltration, Score: round3(sc),
				Start: max(start, 0), End: i, Evidence: clip("to "+u.Host, 100)})
		}
	}
	return out
}
