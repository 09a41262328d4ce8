package scan

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/warden-ai/warden/internal/scan/linear"
)

// Doc is a text prepared for scanning. Text is the original; Norm is the
// folded view every semantic detector reads: NFKC, invisible characters
// removed, confusables folded inside mixed-script words, leetspeak folded
// inside words that mix letters and digits, lower-cased, whitespace runs
// folded to one space (or one newline when the run held a line break).
type Doc struct {
	Text    string
	Role    Role
	Context Context
	Norm    string

	// Hidden lists the invisible characters removed from Text.
	Hidden []Hidden
	// Homoglyphs counts words in which confusable letters were folded.
	Homoglyphs []Span
	// Depth is 0 for the scanned text and n for a payload decoded n times.
	Depth int

	// Learned-model cache, filled on first use by Doc.scores.
	lmu  sync.Mutex
	lfor *learned
	lx   linear.Extraction
	lres []linear.Result
	// Pattern-match cache, filled on first use by Doc.matches.
	mfor *matcher
	mres []match

	off  []int32 // off[i]: offset in Text of the character that produced Norm[i]; len(Norm)+1 entries
	buf  []byte
	buf2 []byte
	off2 []int32
}

// Span is a byte range [Start, End) in the original text.
type Span struct{ Start, End int }

// Hidden is one removed invisible character.
type Hidden struct {
	Pos  int  // byte offset in the original text
	Rune rune // the character
}

// maxPooledFeatures bounds the feature buffer a pooled Doc keeps (2 MB).
const maxPooledFeatures = 1 << 18

// NewDoc normalizes text for a scanner outside an Engine (tests, tools).
func NewDoc(text string, role Role, sc Context) *Doc {
	in := new(Doc)
	in.reset(text, role, sc)
	return in
}

// Span maps a byte range of Norm to a byte range of Text.
func (in *Doc) Span(ns, ne int) (int, int) {
	if ns < 0 {
		ns = 0
	}
	if ne > len(in.Norm) {
		ne = len(in.Norm)
	}
	if ns >= len(in.off) || ne < ns {
		return len(in.Text), len(in.Text)
	}
	s := int(in.off[ns])
	e := len(in.Text)
	if ne < len(in.Norm) {
		// End at the first original byte of the character after the span.
		e = int(in.off[ne])
		if e < s {
			e = s
		}
	}
	return s, e
}

func (in *Doc) reset(text string, role Role, sc Context) {
	in.Text, in.Role, in.Context, in.Depth = text, role, sc, 0
	in.Hidden = in.Hidden[:0]
	in.Homoglyphs = in.Homoglyphs[:0]
	in.lfor, in.mfor = nil, nil
	if cap(in.lx.Feats) > maxPooledFeatures {
		in.lx = linear.Extraction{} // do not pin one huge text's buffers in the pool
	}
	in.normalize()
}

// isHiddenRune reports characters that render as nothing: zero-width,
// bidi controls, tag characters, variation selectors and similar.
func isHiddenRune(r rune) bool {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x061C, r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5,
		r == 0x180E, r == 0x3164, r == 0xFEFF, r == 0xFFA0:
		return true
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x206F:
		return true
	case r >= 0xFE00 && r <= 0xFE0F: // variation selectors
		return true
	case r >= 0xE0000 && r <= 0xE007F: // tags
		return true
	case r >= 0xE0100 && r <= 0xE01EF: // variation selectors supplement
		return true
	case r >= 0x1BCA0 && r <= 0x1BCA3:
		return true
	}
	return false
}

func (in *Doc) normalize() {
	t := in.Text
	b := in.buf[:0]
	off := in.off[:0]
	space := false // inside a whitespace run
	nl := false
	emitSpace := func(pos int) {
		c := byte(' ')
		if nl {
			c = '\n'
		}
		b = append(b, c)
		off = append(off, int32(pos))
	}
	ascii := true
	for i := 0; i < len(t); i++ {
		if t[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	needFold := !ascii
	if ascii {
		// Fast path: write by index into buffers sized for the text.
		if cap(b) < len(t) {
			b = make([]byte, 0, len(t))
		}
		if cap(off) < len(t)+1 {
			off = make([]int32, 0, len(t)+1)
		}
		b, off = b[:len(t)], off[:len(t)]
		n := 0
		start := -1
		for i := 0; i < len(t); i++ {
			c := t[i]
			if asciiSpace[c] {
				if !space {
					space, nl, start = true, false, i
				}
				if c == '\n' {
					nl = true
				}
				continue
			}
			if space {
				if n > 0 {
					b[n], off[n] = ' ', int32(start)
					if nl {
						b[n] = '\n'
					}
					n++
				}
				space = false
			}
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if leet[c] != 0 {
				needFold = true
			}
			b[n], off[n] = c, int32(i)
			n++
		}
		b, off = b[:n], off[:n]
	} else {
		var it norm.Iter
		it.InitString(norm.NFKC, t)
		start := -1
		for !it.Done() {
			segStart := it.Pos()
			seg := it.Next()
			for j := 0; j < len(seg); {
				r, sz := utf8.DecodeRune(seg[j:])
				j += sz
				pos := segStart
				if isHiddenRune(r) {
					in.Hidden = append(in.Hidden, Hidden{Pos: segStart, Rune: r})
					continue
				}
				if unicode.IsSpace(r) || r == 0x2028 || r == 0x2029 {
					if !space {
						space, nl, start = true, false, pos
					}
					if r == '\n' || r == 0x2028 || r == 0x2029 {
						nl = true
					}
					continue
				}
				if space {
					if len(b) > 0 {
						emitSpace(start)
					}
					space = false
				}
				if r < utf8.RuneSelf {
					c := byte(r)
					if c >= 'A' && c <= 'Z' {
						c += 'a' - 'A'
					}
					b = append(b, c)
					off = append(off, int32(pos))
					continue
				}
				switch r {
				case '\u2018', '\u2019', '\u02bc', '\u2032':
					r = '\''
				case '\u201c', '\u201d', '\u2033':
					r = '"'
				default:
					r = unicode.ToLower(r)
				}
				if r < utf8.RuneSelf {
					b = append(b, byte(r))
					off = append(off, int32(pos))
					continue
				}
				n := len(b)
				b = utf8.AppendRune(b, r)
				for k := n; k < len(b); k++ {
					off = append(off, int32(pos))
				}
			}
		}
	}
	off = append(off, int32(len(t)))
	in.buf, in.off = b, off
	if needFold { // ASCII text without digits, '@' or '$' has nothing to fold
		in.foldWords()
	}
	in.Norm = string(in.buf)
}

// asciiSpace marks the ASCII whitespace bytes folded by normalize.
var asciiSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\v': true, '\f': true}

// leet maps digits and symbols used as letters.
var leet = [256]byte{'0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', '$': 's'}

// confusable folds Cyrillic and Greek letters that look like Latin ones.
var confusable = map[rune]byte{
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c',
	'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ї': 'i', 'ј': 'j', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w',
	'ɡ': 'g', 'ı': 'i', 'ɩ': 'i', 'ο': 'o', 'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v',
	'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'β': 'b', 'η': 'n', 'ү': 'y', 'һ': 'h', 'ӏ': 'l',
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= utf8.RuneSelf || c == '@' || c == '$'
}

// foldWords folds leetspeak in words mixing ASCII letters with digits, and
// confusables in words mixing Latin with Cyrillic or Greek letters.
func (in *Doc) foldWords() {
	b := in.buf
	mixed := false
	for i := 0; i < len(b); {
		if !isWordByte(b[i]) {
			i++
			continue
		}
		j := i
		letters, leets, nonASCII, latin := 0, 0, false, false
		for j < len(b) && isWordByte(b[j]) {
			c := b[j]
			switch {
			case c >= 'a' && c <= 'z':
				letters++
				latin = true
			case c >= utf8.RuneSelf:
				nonASCII = true
			case leet[c] != 0:
				leets++
			}
			j++
		}
		// Trailing '@'/'$' and e-mail-like words are not leetspeak.
		if letters >= 2 && leets > 0 && !nonASCII && leets*2 <= letters+leets+1 {
			for k := i; k < j; k++ {
				if l := leet[b[k]]; l != 0 {
					if (b[k] == '@' || b[k] == '$') && (k == i || k == j-1) {
						continue
					}
					b[k] = l
				}
			}
		}
		if nonASCII && latin {
			mixed = true
		}
		i = j
	}
	if mixed {
		in.foldConfusables()
	}
}

func (in *Doc) foldConfusables() {
	b, off := in.buf, in.off
	nb := in.buf2[:0]
	no := in.off2[:0]
	for i := 0; i < len(b); {
		if !isWordByte(b[i]) {
			nb = append(nb, b[i])
			no = append(no, off[i])
			i++
			continue
		}
		j := i
		// foreign: a Cyrillic or Greek look-alike (a spoofing signal);
		// Latin-script look-alikes such as Turkish dotless ı are folded for
		// matching but are ordinary spelling, not evidence of spoofing.
		latin, conf, foreign, other := false, false, false, false
		for j < len(b) && isWordByte(b[j]) {
			if b[j] < utf8.RuneSelf {
				if b[j] >= 'a' && b[j] <= 'z' {
					latin = true
				}
				j++
				continue
			}
			r, sz := utf8.DecodeRune(b[j:])
			if _, ok := confusable[r]; ok {
				conf = true
				if !unicode.Is(unicode.Latin, r) {
					foreign = true
				}
			} else if unicode.IsLetter(r) {
				other = true
			}
			j += sz
		}
		if latin && conf && !other {
			if foreign {
				in.Homoglyphs = append(in.Homoglyphs, Span{int(off[i]), int(off[j])})
			}
			for k := i; k < j; {
				if b[k] < utf8.RuneSelf {
					nb = append(nb, b[k])
					no = append(no, off[k])
					k++
					continue
				}
				r, sz := utf8.DecodeRune(b[k:])
				if l, ok := confusable[r]; ok {
					nb = append(nb, l)
					no = append(no, off[k])
				} else {
					nb = append(nb, b[k:k+sz]...)
					no = append(no, off[k:k+sz]...)
				}
				k += sz
			}
		} else {
			nb = append(nb, b[i:j]...)
			no = append(no, off[i:j]...)
		}
		i = j
	}
	no = append(no, off[len(b)])
	in.buf, in.buf2 = nb, b
	in.off, in.off2 = no, off
}
