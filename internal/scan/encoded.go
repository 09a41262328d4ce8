package scan

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"html"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// encodedScanner finds base64, base32, hex, URL-encoded, \u/\x-escaped and
// HTML-entity payloads, decodes them (nested up to depth), and re-scans the
// decoded text for injections. ROT13 and reversed text are matched by the
// injection signatures directly.
type encodedScanner struct {
	inj   *injectionScanner
	depth int
}

func (*encodedScanner) Name() string { return ScannerEncoded }

const (
	minB64 = 20
	minHex = 16
	maxDec = 64 << 10 // decode at most this many bytes per candidate
)

type candidate struct {
	kind       string
	start, end int
	decoded    string
}

var b64Class, hexClass = byteClasses()

func byteClasses() (b64, hx [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		b64[c] = b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '-' || b == '_' || b == '='
		hx[c] = b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
	}
	return b64, hx
}

// textLike reports whether b decodes to readable text and how
// language-like it is (0 = not text, 1 = printable, 2 = words).
func textLike(b []byte) int {
	if len(b) < 6 || !utf8.Valid(b) {
		return 0
	}
	var ctrl, letters, spaces, n int
	for _, r := range string(b) {
		n++
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			spaces++
		case r < 0x20 || r == 0x7F || r == utf8.RuneError:
			ctrl++
		case r == ' ':
			spaces++
		case unicode.IsLetter(r):
			letters++
		}
	}
	if ctrl > 0 || letters*2 < n {
		if ctrl == 0 && letters*4 >= n {
			return 1
		}
		return 0
	}
	if spaces > 0 && n >= 8 {
		return 2
	}
	return 1
}

func decodeB64(s string) []byte {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

// candidates finds encoded runs in t.
func candidates(t string, dst []candidate) []candidate {
	for i := 0; i < len(t); {
		c := t[i]
		switch {
		case b64Class[c]:
			j := i
			hexOnly, upper32 := true, true
			for j < len(t) && b64Class[t[j]] && j-i < maxDec {
				if !hexClass[t[j]] {
					hexOnly = false
				}
				if !(t[j] >= 'A' && t[j] <= 'Z' || t[j] >= '2' && t[j] <= '7' || t[j] == '=') {
					upper32 = false
				}
				j++
			}
			run := t[i:j]
			switch {
			case hexOnly && len(run) >= minHex && len(run)%2 == 0:
				if b, err := hex.DecodeString(run); err == nil && textLike(b) > 0 {
					dst = append(dst, candidate{"hex", i, j, string(b)})
				}
			case upper32 && len(run) >= 16:
				if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(run, "=")); err == nil && textLike(b) > 0 {
					dst = append(dst, candidate{"base32", i, j, string(b)})
				} else if b := decodeB64(run); textLike(b) > 0 {
					dst = append(dst, candidate{"base64", i, j, string(b)})
				}
			case len(run) >= minB64 && !hexOnly:
				if b := decodeB64(run); textLike(b) > 0 {
					dst = append(dst, candidate{"base64", i, j, string(b)})
				}
			}
			if j == i {
				j++
			}
			i = j
		case c == '%' && i+2 < len(t) && hexClass[t[i+1]] && hexClass[t[i+2]]:
			j, n := i, 0
			for j < len(t) && t[j] != ' ' && t[j] != '\n' && t[j] != '"' && j-i < maxDec {
				if t[j] == '%' {
					n++
				}
				j++
			}
			if n >= 3 {
				if s, err := url.PathUnescape(t[i:j]); err == nil && textLike([]byte(s)) > 0 {
					dst = append(dst, candidate{"url", i, j, s})
				}
			}
			i = j
		case c == '\\' && i+3 < len(t) && (t[i+1] == 'u' || t[i+1] == 'x'):
			j, n := i, 0
			for j+1 < len(t) && t[j] == '\\' && (t[j+1] == 'u' || t[j+1] == 'x') && j-i < maxDec {
				k := j + 2
				w := 2
				if t[j+1] == 'u' {
					w = 4
				}
				if k+w > len(t) {
					break
				}
				if _, err := strconv.ParseUint(t[k:k+w], 16, 32); err != nil {
					break
				}
				j = k + w
				n++
			}
			if n >= 3 {
				if s, ok := unescape(t[i:j]); ok && textLike([]byte(s)) > 0 {
					dst = append(dst, candidate{"escape", i, j, s})
				}
			}
			i = max(j, i+1)
		case c == '&' && i+3 < len(t) && t[i+1] == '#':
			j, n := i, 0
			for j < len(t) && t[j] == '&' && j-i < maxDec {
				k := strings.IndexByte(t[j:min(len(t), j+12)], ';')
				if k < 0 {
					break
				}
				j += k + 1
				n++
			}
			if n >= 3 {
				if s := html.UnescapeString(t[i:j]); textLike([]byte(s)) > 0 {
					dst = append(dst, candidate{"html_entities", i, j, s})
				}
			}
			i = max(j, i+1)
		default:
			i++
		}
	}
	return dst
}

// unescape decodes a run of \uXXXX and \xXX escapes.
func unescape(s string) (string, bool) {
	var b strings.Builder
	var raw []byte
	for i := 0; i < len(s); {
		w := 2
		if s[i+1] == 'u' {
			w = 4
		}
		v, err := strconv.ParseUint(s[i+2:i+2+w], 16, 32)
		if err != nil {
			return "", false
		}
		if w == 2 {
			raw = append(raw, byte(v)) // \x escapes may spell UTF-8 bytes
		} else {
			if len(raw) > 0 {
				b.Write(raw)
				raw = raw[:0]
			}
			b.WriteRune(rune(v))
		}
		i += 2 + w
	}
	b.Write(raw)
	return b.String(), true
}

func (s *encodedScanner) Scan(ctx context.Context, in *Doc) ([]Finding, error) {
	return s.scanText(ctx, in.Text, in.Role, 0, nil), nil
}

// scanText finds payloads in t. outer, when set, is the span in the
// original text that t was decoded from.
func (s *encodedScanner) scanText(ctx context.Context, t string, role Role, depth int, outer *Span) []Finding {
	if depth >= s.depth || ctx.Err() != nil {
		return nil
	}
	var buf [4]candidate
	var out []Finding
	for _, c := range candidates(t, buf[:0]) {
		sp := Span{c.start, c.end}
		if outer != nil {
			sp = *outer
		}
		f := Finding{Detector: "encoded." + c.kind, Category: CatEncodedPayload, Start: sp.Start, End: sp.End,
			Evidence: clip(c.kind+": "+c.decoded, 100)}
		f.Score = 0.4
		if textLike([]byte(c.decoded)) == 2 {
			f.Score = 0.55
		}
		d := NewDoc(c.decoded, role, Context{})
		d.Depth = depth + 1
		var inner []Finding
		if role == Input && s.inj != nil {
			inner = s.inj.scanNorm(d, &sp)
		}
		inner = append(inner, s.scanText(ctx, c.decoded, role, depth+1, &sp)...)
		for i := range inner {
			if inner[i].Category == CatPromptInjection || inner[i].Category == CatJailbreak {
				f.Score = max(f.Score, min(0.95, 0.5+inner[i].Score/2))
			}
			if inner[i].Evidence == "" || inner[i].Category != CatEncodedPayload {
				inner[i].Evidence = clip("decoded "+c.kind+": "+c.decoded, 100)
			}
		}
		if depth > 0 {
			f.Score = max(f.Score, 0.6) // nested encoding is itself suspicious
		}
		out = append(out, f)
		out = append(out, inner...)
	}
	return out
}
