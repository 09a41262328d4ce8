package scan

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// invisibleScanner reports the invisible characters and homoglyph words
// that normalization removed or folded. Tag characters are decoded: they
// spell hidden ASCII ("ASCII smuggling").
type invisibleScanner struct{}

func (invisibleScanner) Name() string { return ScannerInvisible }

func (invisibleScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	var out []Finding
	if len(in.Hidden) > 0 {
		var tags strings.Builder
		var zw, zwIn, bidi, vs, ntag int
		first, last := in.Hidden[0].Pos, in.Hidden[0].Pos
		for _, h := range in.Hidden {
			first, last = min(first, h.Pos), max(last, h.Pos)
			switch r := h.Rune; {
			case r >= 0xE0000 && r <= 0xE007F:
				ntag++
				if c := r - 0xE0000; c >= 0x20 && c < 0x7F && tags.Len() < 200 {
					tags.WriteByte(byte(c))
				}
			case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
				bidi++
			case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
				vs++
			default:
				zw++
				if betweenLetters(in.Text, h.Pos) {
					zwIn++
				}
			}
		}
		_, endSz := lastRuneLen(in.Text, last)
		f := Finding{Detector: "invisible.chars", Category: CatInvisibleText, Start: first, End: last + endSz}
		switch {
		case ntag > 0:
			f.Detector, f.Score = "invisible.tags", 0.95
			f.Evidence = "hidden tag text: " + clip(tags.String(), 80)
		case bidi > 0 && hasOverride(in.Hidden):
			f.Detector, f.Score = "invisible.bidi", 0.8
			f.Evidence = fmt.Sprintf("%d bidi control characters", bidi)
		case vs > 8:
			f.Detector, f.Score = "invisible.variation_selectors", 0.85
			f.Evidence = fmt.Sprintf("%d variation selectors", vs)
		case zw > 0 && (zwIn > 0 || zw >= 8):
			// A lone joiner is common in emoji and Indic/Persian text.
			f.Score = min(0.3+0.1*float64(zw), 0.9)
			f.Evidence = fmt.Sprintf("%d zero-width characters", zw)
		case zw > 0:
			// A few zero-width spaces next to ordinary spaces are
			// copy-paste and machine-translation residue: they split no
			// word and hide nothing. Reported, below the flag level.
			f.Score = 0.3
			f.Evidence = fmt.Sprintf("%d zero-width characters between words", zw)
		default:
			f.Score = 0.2
			f.Evidence = fmt.Sprintf("%d bidi marks or selectors", bidi+vs)
		}
		out = append(out, f)
	}
	if n := len(in.Homoglyphs); n > 0 {
		h := in.Homoglyphs[0]
		out = append(out, Finding{Detector: "invisible.homoglyph", Category: CatInvisibleText,
			Score: min(0.5+0.1*float64(n), 0.9), Start: h.Start, End: h.End,
			Evidence: fmt.Sprintf("%d mixed-script words with look-alike letters", n)})
	}
	return out, nil
}

func hasOverride(hs []Hidden) bool {
	for _, h := range hs {
		if h.Rune == 0x202D || h.Rune == 0x202E || h.Rune >= 0x2066 && h.Rune <= 0x2069 {
			return true
		}
	}
	return false
}

func lastRuneLen(s string, pos int) (rune, int) {
	if pos >= len(s) {
		return 0, 0
	}
	for i, r := range s[pos:] {
		_ = i
		return r, len(string(r))
	}
	return 0, 0
}

// betweenLetters reports whether the hidden character at pos (and any
// hidden characters directly around it) sits inside a word: a letter or
// digit on both sides, the way smuggled text splits "ig\u200bnore".
func betweenLetters(t string, pos int) bool {
	i := pos
	for i > 0 {
		r, sz := utf8.DecodeLastRuneInString(t[:i])
		if !isHiddenRune(r) {
			break
		}
		i -= sz
	}
	prev, _ := utf8.DecodeLastRuneInString(t[:i])
	j := pos
	for j < len(t) {
		r, sz := utf8.DecodeRuneInString(t[j:])
		if !isHiddenRune(r) {
			break
		}
		j += sz
	}
	next, _ := utf8.DecodeRuneInString(t[j:])
	isW := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	return i > 0 && j < len(t) && isW(prev) && isW(next)
}
