package scan

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address spans beyond the street line: the number before a house number
// ("17151 2450 Crown St", a building or plot number), the place and
// postcode lines of an address block ("…\n Apt. 839\n Brakpan\n South
// Africa 70651", ", Dehylov, Czech Republic") and street corners ("the
// corner of Kuusiku 7 and Alexander Flat"). A whole address is personal
// data, and its city line is no person: names inside an address span are
// dropped (dropNamesInAddresses).

// addressHead extends an address that starts at s back over a number
// right before it on the same line, not into the previous finding (which
// ends at last).
func addressHead(t string, s, last int) int {
	j := s
	for j > 0 && t[j-1] == ' ' {
		j--
	}
	if j == s {
		return s
	}
	k := j
	for k > 0 && isDigit(t[k-1]) {
		k--
	}
	if k == j || j-k > 6 || k < last || k > 0 && (isAlnum(t[k-1]) || strings.IndexByte(".,:-/", t[k-1]) >= 0) {
		return s
	}
	return k
}

// placeTail extends an address that ends at e over the places that follow
// it: up to four groups, each after a comma or on its own short line, of
// capitalised words, upper-case codes, short particles ("Caxias do Sul",
// "Ostrov nad Ohrí", "NS", "(Greek)") and postcodes ("64677", "340 12",
// "B0J 2H0"). A group must end the line, the text or a comma clause; a
// "Mobile: …" line or a sentence going on in lower case stops it.
func placeTail(t string, e int) int {
	for range 4 {
		g, ok := placeGroup(t, e)
		if !ok {
			break
		}
		e = g
	}
	return e
}

// placeGroup returns the end of the place group after e, or ok=false.
func placeGroup(t string, e int) (int, bool) {
	i := e
	switch {
	case i < len(t) && t[i] == ',':
		i++
		for i < len(t) && (t[i] == ' ' || t[i] == '\t') {
			i++
		}
	default:
		if i < len(t) && t[i] == '.' {
			i++ // "6076 Piroska u. 97.\nPorto Alegre"
		}
		for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r') {
			i++
		}
		if i >= len(t) || t[i] != '\n' {
			return 0, false
		}
		i++
		for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == '>') {
			i++
		}
		if i < len(t) && t[i] == ',' { // "Artilleros\n, CO"
			i++
			for i < len(t) && t[i] == ' ' {
				i++
			}
		}
		if le := strings.IndexByte(t[i:], '\n'); le > 50 || le < 0 && len(t)-i > 50 {
			return 0, false // a long line is text, not a place
		}
	}
	tokens, end := 0, -1
	for i < len(t) && tokens < 6 {
		j := placeToken(t, i, tokens == 0)
		if j < 0 {
			break
		}
		tokens++
		end = j
		if j < len(t) && t[j] == ' ' && j+1 < len(t) && t[j+1] != ' ' {
			i = j + 1
			continue
		}
		break
	}
	if tokens == 0 {
		return 0, false
	}
	if t[end-1] == '.' {
		end-- // a sentence's full stop
	}
	// The group must end a clause or line.
	if end < len(t) {
		switch t[end] {
		case ',', '\n', '\r', '.', '?', '!', ')', ';':
		default:
			return 0, false
		}
	}
	return end, true
}

// placeToken returns the end of a place token at i: a capitalised word
// (or an upper-case code), a short lower-case particle (not first), a
// parenthesised word or a postcode; -1 if none.
func placeToken(t string, i int, first bool) int {
	c := t[i]
	switch {
	case isDigit(c):
		j := i
		for j < len(t) && isDigit(t[j]) {
			j++
		}
		if n := j - i; n < 3 || n > 6 {
			return -1
		}
		if j+1 < len(t) && t[j] == '-' && isDigit(t[j+1]) { // "53-320"
			j++
			for j < len(t) && isDigit(t[j]) {
				j++
			}
		}
		return j
	case c == '(':
		j := strings.IndexByte(t[i:min(len(t), i+30)], ')')
		if j < 2 {
			return -1
		}
		return i + j + 1
	}
	r, n := utf8.DecodeRuneInString(t[i:])
	j := i + n
	for j < len(t) {
		r2, n2 := utf8.DecodeRuneInString(t[j:])
		if !unicode.IsLetter(r2) && !unicode.IsDigit(r2) && r2 != '\'' && r2 != '-' && r2 != '.' {
			break
		}
		j += n2
	}
	w := t[i:j]
	switch {
	case unicode.IsUpper(r):
		if notName[strings.TrimRight(w, ".")] || notSubject[w] {
			return -1 // "Thanks", "Please", "Mobile" stop a block
		}
		return j
	case !first && unicode.IsLower(r) && j-i <= 3 && !strings.ContainsAny(w, ".'-"):
		if w == "and" || w == "or" || w == "the" || w == "for" || w == "to" || w == "in" || w == "at" || w == "on" {
			return -1
		}
		return j // "do", "nad", "del"
	}
	return -1
}

// cornerAddress returns the street corner whose phrase "corner of" ends
// within the 60 bytes before the number at i ("the corner of Kuusiku 7 and
// Alexander Flat"): two groups of up to five capitalised words, numbers
// and particles joined by "and" or "&". Looking only near numbers keeps
// texts without digits free of the search.
func cornerAddress(t string, i, from int) (s, e int, ok bool) {
	lo := max(from, i-60)
	j := strings.LastIndex(t[lo:i], "orner of ")
	if j < 0 || lo+j == 0 || t[lo+j-1]|0x20 != 'c' {
		return 0, 0, false
	}
	s = lo + j - 1
	a := cornerPart(t, s+len("corner of "))
	if a < 0 {
		return 0, 0, false
	}
	switch {
	case strings.HasPrefix(t[a:], " and "):
		e = cornerPart(t, a+5)
	case strings.HasPrefix(t[a:], " & "):
		e = cornerPart(t, a+3)
	default:
		return 0, 0, false
	}
	if e < 0 || e <= i {
		return 0, 0, false
	}
	if s >= 4 && strings.EqualFold(t[s-4:s], "the ") {
		s -= 4
	}
	return s, e, true
}

// cornerPart returns the end of a street name at i (1–5 tokens:
// capitalised words, numbers, particles and street abbreviations), or -1.
func cornerPart(t string, i int) int {
	end := -1
	for tokens := 0; tokens < 6 && i < len(t); tokens++ {
		r, _ := utf8.DecodeRuneInString(t[i:])
		j := i
		for j < len(t) {
			r2, n2 := utf8.DecodeRuneInString(t[j:])
			if !unicode.IsLetter(r2) && !unicode.IsDigit(r2) && r2 != '\'' && r2 != '-' && r2 != '.' && r2 != '/' {
				break
			}
			j += n2
		}
		w := strings.TrimRight(t[i:j], ".")
		if j == i || w == "and" {
			break
		}
		if tokens == 0 && !unicode.IsUpper(r) && !unicode.IsDigit(r) {
			return -1
		}
		if !unicode.IsUpper(r) && !unicode.IsDigit(r) && (len(w) > 4 || unicode.IsLower(r) && w != strings.ToLower(w)) {
			break
		}
		end = j
		if j+1 >= len(t) || t[j] != ' ' {
			break
		}
		i = j + 1
	}
	if end > 0 && t[end-1] == '.' && !strings.HasSuffix(t[:end], "St.") {
		end-- // a sentence's full stop
	}
	return end
}

// indexFold is strings.Index ignoring the ASCII case of s (sub is lower
// case).
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == sub[0] && strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// streetWordsApart are the street words of streetRe2 that stand as a word
// of their own before the house number ("Luite tee 87").
var streetWordsApart = map[string]bool{"strasse": true, "straße": true, "str.": true, "weg": true, "gasse": true,
	"allee": true, "platz": true, "tee": true, "gate": true, "gata": true, "gatan": true, "vei": true, "veien": true,
	"vegen": true, "vej": true, "gade": true, "stræde": true, "straat": true, "laan": true, "utca": true, "út": true,
	"útja": true, "u.": true, "tér": true, "körút": true, "kapu": true, "braut": true, "vegur": true, "katu": true,
	"tie": true, "polku": true, "kuja": true}

// rareStreetHint reports whether the number at i may belong to one of the
// rarer street forms of streetRe2, so that the pattern runs only there: a
// street word or "St" right after it (or "St" ending its line), an
// APO/FPO state code or a street word right before it, or a Latin street
// word ("Rua", "C/") shortly before it.
func rareStreetHint(t string, i int) bool {
	j := i
	for j < len(t) && isDigit(t[j]) {
		j++
	}
	if strings.HasPrefix(t[j:], " St") || len(t)-j >= 7 && strings.EqualFold(t[j:j+7], " street") {
		return true
	}
	if k := strings.Index(t[j:min(len(t), j+40)], " St"); k >= 0 { // "2450 Crown St"
		if e := j + k + 3; e == len(t) || t[e] == ',' || t[e] == '\r' || t[e] == '\n' {
			return true
		}
	}
	if i >= 3 && foldIn(t[i-3:i], "aa ", "ae ", "ap ") {
		return true
	}
	k := i - 1
	for k > 0 && t[k] == ' ' {
		k--
	}
	w := k + 1
	for w > 0 && t[w-1] != ' ' && t[w-1] != '\n' && k+1-w < 12 {
		w--
	}
	if w < k+1 && k+1-w <= 8 {
		var buf [8]byte
		n := copy(buf[:], t[w:k+1])
		for x := range n {
			if buf[x] >= 'A' && buf[x] <= 'Z' {
				buf[x] += 'a' - 'A'
			}
		}
		if streetWordsApart[string(buf[:n])] { // no allocation for a map index
			return true
		}
	}
	lo := max(0, i-50)
	for _, p := range []string{"c/", "rua ", "rúa ", "avenida ", "calle ", "via "} {
		if indexFold(t[lo:i], p) >= 0 {
			return true
		}
	}
	return false
}
