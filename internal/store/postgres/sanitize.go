package postgres

import (
	"strings"
	"unicode/utf8"
)

// PostgreSQL text and jsonb cannot hold everything a Go string or a JSON document can: text
// rejects NUL bytes and invalid UTF-8, and jsonb rejects the escape \u0000 and unpaired UTF-16
// surrogate escapes. An event carrying any of them must not stall the index writer (the same
// batch would fail on every retry), so the store replaces them with U+FFFD. The audit log keeps
// the original bytes; only the searchable copy is affected.

// pgText returns s as PostgreSQL text accepts it: NUL and each byte that is not part of valid
// UTF-8 become U+FFFD (as encoding/json decodes such bytes).
func pgText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == 0 || (r == utf8.RuneError && n == 1) {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[:n])
		}
		s = s[n:]
	}
	return sb.String()
}

// pgJSON returns the JSON document b as jsonb accepts it: every \u0000 escape and every
// unpaired surrogate escape becomes \ufffd, and invalid UTF-8 becomes U+FFFD. The input is
// expected to be valid JSON; a backslash only occurs inside strings there, so escapes can be
// found without a full parse; the common document without such escapes costs one scan.
func pgJSON(b []byte) string {
	s := string(b)
	if strings.IndexByte(s, '\\') < 0 || !needsFix(s) {
		return pgText(s)
	}
	var sb strings.Builder
	sb.Grow(len(s))
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			continue
		}
		if s[i+1] != 'u' {
			i++ // skip the escaped character, which may itself be a backslash
			continue
		}
		r, ok := hex4(s, i+2)
		if !ok {
			i++
			continue
		}
		switch {
		case r == 0:
		case r >= 0xD800 && r < 0xDC00:
			if lowSurrogateAt(s, i+6) {
				i += 11 // keep the pair; jump past both escapes
				continue
			}
		case r >= 0xDC00 && r < 0xE000:
		default:
			i += 5
			continue
		}
		sb.WriteString(s[last:i])
		sb.WriteString(`\ufffd`)
		last = i + 6
		i += 5
	}
	sb.WriteString(s[last:])
	return pgText(sb.String())
}

// needsFix reports whether s contains a \u escape that jsonb could reject.
func needsFix(s string) bool {
	for i := 0; i+5 < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++
			continue
		}
		if r, ok := hex4(s, i+2); ok && (r == 0 || (r >= 0xD800 && r < 0xE000)) {
			return true
		}
		i++
	}
	return false
}

// lowSurrogateAt reports whether s holds a \uDC00–\uDFFF escape at i.
func lowSurrogateAt(s string, i int) bool {
	if i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return false
	}
	r, ok := hex4(s, i+2)
	return ok && r >= 0xDC00 && r < 0xE000
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
