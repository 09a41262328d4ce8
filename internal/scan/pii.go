package scan

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/scan/names"
)

// piiScanner finds personal data in the original text, validating every
// format that has a checksum (Luhn, mod 97, SSN area rules, Verhoeff, ...).
type piiScanner struct {
	gaz map[string]names.Flags // person-name gazetteer
}

func newPIIScanner() *piiScanner { return &piiScanner{gaz: names.Load()} }

func (*piiScanner) Name() string { return ScannerPII }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || isUpper(c)
}

func (p *piiScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	t := in.Text
	var out []Finding
	// At most maxPIIPerDetector findings per detector: a megabyte of
	// repeated cues must not turn into tens of thousands of findings.
	var counts map[string]int
	add := func(det string, sc float64, s, e int) {
		if counts == nil {
			counts = map[string]int{}
		}
		if counts[det]++; counts[det] > maxPIIPerDetector {
			return
		}
		out = append(out, Finding{Detector: "pii." + det, Category: CatPII, Score: sc, Start: s, End: e,
			Evidence: maskPII(t[s:e])})
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '@':
			if s, e, ok := emailAt(t, i); ok {
				add("email", 0.95, s, e)
				i = e
			}
		case (isDigit(c) || c == '+' || c == '(') && (i == 0 || !isAlnum(t[i-1]) && t[i-1] != '.' && t[i-1] != '-'):
			e := numberRun(t, i)
			if e > i {
				if det, sc, ok := classifyNumber(t, i, e); ok {
					add(det, sc, i, e)
					i = e - 1
				}
			}
		case isUpper(c) && (i == 0 || !isAlnum(t[i-1])):
			if e, ok := iban(t, i); ok {
				add("iban", 0.95, i, e)
				i = e - 1
			} else if e, ok := fiscalCode(t, i); ok {
				add("it_fiscal_code", 0.9, i, e)
				i = e - 1
			}
		case c == ':' && i > 0:
			if s, e, ok := ipv6At(t, i); ok {
				add("ipv6", 0.85, s, e)
				i = e
			}
		}
	}
	n := len(out)
	personNames(t, p.gaz, add)
	m := len(out)
	streetAddresses(t, add)
	if m > n && len(out) > m {
		out = dropNamesInAddresses(t, out, n, m)
	}
	if s, e, ok := blockName(t); ok && contactAfter(out, s, e) {
		add("person", nameRecord, s, e)
		// The card may repeat the name (a signature over an address label).
		for k, n := e, 0; n < 10; n++ {
			j := strings.Index(t[k:], t[s:e])
			if j < 0 {
				break
			}
			k += j
			if wordStart(t, k) && (k+e-s == len(t) || !isAlnum(t[k+e-s])) {
				add("person", nameRecord, k, k+e-s)
			}
			k += e - s
		}
	}
	labelNames(t, out, p.gaz, add)
	if personalRecord(out) {
		for i := range out {
			if out[i].Detector == "pii.person" {
				out[i].Score = nameRecord
			}
		}
	}
	return out, nil
}

// personalRecord reports whether the findings include data that
// identifies or reaches a person with enough confidence to act on (e-mail,
// phone, street address, card, bank account, national id; not an IP
// address): names next to it form a personal record.
func personalRecord(out []Finding) bool {
	for _, f := range out {
		switch f.Detector {
		case "pii.person", "pii.ipv4", "pii.ipv6":
		default:
			if f.Score >= 0.6 {
				return true
			}
		}
	}
	return false
}

// contactAfter reports whether the name line t[s:e] opens a contact
// block: no finding overlaps it and a phone number, e-mail address or
// street address starts within 300 bytes after it.
func contactAfter(out []Finding, s, e int) bool {
	contact := false
	for _, f := range out {
		if f.Start < e && s < f.End {
			return false
		}
		switch f.Detector {
		case "pii.phone", "pii.email", "pii.address":
			contact = contact || f.Start >= e && f.Start < e+300
		}
	}
	return contact
}

// dropNamesInAddresses removes the name findings out[n:m] that overlap an
// address finding out[m:] ("233 Erzsébet tér 19." is a street, not a
// woman).
func dropNamesInAddresses(t string, out []Finding, n, m int) []Finding {
	keep := out[:n]
	for _, f := range out[n:m] {
		inside := false
		for k := range out[m:] {
			a := &out[m+k]
			inside = inside || f.Start < a.End && a.Start < f.End
			if a.Start == f.End+len(" and ") && strings.HasPrefix(t[f.End:], " and ") && !strings.Contains(t[f.Start:f.End], " ") {
				// A corner: "Maarit and Hersnapvej 75" names two streets.
				a.Start, a.Evidence = f.Start, maskPII(t[f.Start:a.End])
				inside = true
			}
		}
		if !inside {
			keep = append(keep, f)
		}
	}
	return append(keep, out[m:]...)
}

// maxPIIPerDetector bounds the findings of one PII detector in one text.
const maxPIIPerDetector = 100

func maskPII(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return "…" + s[len(s)-2:]
}

func emailAt(t string, at int) (int, int, bool) {
	s := at
	for s > 0 && (isAlnum(t[s-1]) || strings.IndexByte("._%+-'", t[s-1]) >= 0) {
		s--
	}
	for s < at && (t[s] == '.' || t[s] == '\'') {
		s++
	}
	e := at + 1
	lastDot := -1
	for e < len(t) && (isAlnum(t[e]) || t[e] == '.' || t[e] == '-') {
		if t[e] == '.' {
			lastDot = e
		}
		e++
	}
	for e > at+1 && (t[e-1] == '.' || t[e-1] == '-') {
		e--
		if lastDot == e {
			lastDot = strings.LastIndexByte(t[at:e], '.')
			if lastDot >= 0 {
				lastDot += at
			}
		}
	}
	if s == at || lastDot < 0 || lastDot <= at+1 || e-lastDot-1 < 2 {
		return 0, 0, false
	}
	for k := lastDot + 1; k < e; k++ {
		if isDigit(t[k]) {
			return 0, 0, false
		}
	}
	return s, e, true
}

// numberRun returns the end of a run of digits and phone/card separators.
func numberRun(t string, i int) int {
	e := i
	digits := 0
	for e < len(t) && e-i < 40 {
		c := t[e]
		if isDigit(c) {
			digits++
		} else if !(c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' || (c == '+' && e == i)) {
			break
		}
		if c == ' ' && e+1 < len(t) && !isDigit(t[e+1]) && t[e+1] != '(' {
			break
		}
		e++
	}
	for e > i && !isDigit(t[e-1]) && t[e-1] != ')' {
		e--
	}
	if digits == 0 || (e < len(t) && (isAlnum(t[e]) || t[e] == '@')) {
		return i
	}
	return e
}

func digitsOf(s string) (d []byte, groups []int, seps string) {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			d = append(d, s[i])
			n++
		} else {
			if n > 0 {
				groups = append(groups, n)
			}
			n = 0
			if !strings.ContainsRune(seps, rune(s[i])) {
				seps += string(s[i])
			}
		}
	}
	if n > 0 {
		groups = append(groups, n)
	}
	return d, groups, seps
}

func luhn(d []byte) bool {
	sum := 0
	alt := false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if alt {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		alt = !alt
	}
	return sum%10 == 0
}

func eqGroups(g []int, want ...int) bool {
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

func classifyNumber(t string, s, e int) (string, float64, bool) {
	run := t[s:e]
	d, g, seps := digitsOf(run)
	n := len(d)
	// IPv4.
	if seps == "." && len(g) == 4 {
		if _, err := netip.ParseAddr(run); err == nil {
			return "ipv4", 0.8, true
		}
		return "", 0, false
	}
	// US SSN: AAA-GG-SSSS with area/group/serial rules.
	if n == 9 && (eqGroups(g, 3, 2, 4)) && (seps == "-" || seps == " ") {
		a := string(d[:3])
		if a != "000" && a != "666" && d[0] != '9' && string(d[3:5]) != "00" && string(d[5:]) != "0000" {
			return "us_ssn", 0.85, true
		}
	}
	// Canadian SIN: 3-3-3, Luhn.
	if n == 9 && eqGroups(g, 3, 3, 3) && (seps == "-" || seps == " ") && luhn(d) && d[0] != '0' && d[0] != '8' {
		return "ca_sin", 0.7, true
	}
	// Brazilian CPF: ddd.ddd.ddd-dd with two check digits.
	if n == 11 && eqGroups(g, 3, 3, 3, 2) && cpfValid(d) {
		return "br_cpf", 0.85, true
	}
	// Payment card: 13-19 digits, Luhn, known IIN ranges.
	if n >= 13 && n <= 19 && strings.Trim(seps, " -") == "" && luhn(d) && strings.IndexByte("23456", d[0]) >= 0 {
		if seps == "" || len(g) >= 3 {
			return "credit_card", 0.9, true
		}
	}
	// Maestro (12 digits) and old JCB (15 digits from 1800 or 2131): Luhn
	// and an issuer prefix, since random 12-digit numbers pass Luhn one
	// time in ten.
	if strings.Trim(seps, " -") == "" && luhn(d) && (seps == "" || len(g) >= 3) {
		p4 := string(d[:4])
		switch {
		case n == 12 && slices.Contains([]string{"5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"}, p4),
			n == 15 && (p4 == "1800" || p4 == "2131"):
			return "credit_card", 0.85, true
		}
	}
	// Aadhaar: 4-4-4, Verhoeff, first digit 2-9.
	if n == 12 && (eqGroups(g, 4, 4, 4) || len(g) == 1) && d[0] >= '2' && verhoeff(d) {
		if len(g) == 3 || keywordBefore(t, s, "aadhaar", "aadhar", "uid") {
			return "in_aadhaar", 0.8, true
		}
	}
	// French NIR: 15 digits, key = 97 - (first 13 mod 97).
	if n == 15 && (d[0] == '1' || d[0] == '2') && nirValid(d) {
		return "fr_nir", 0.8, true
	}
	// Spanish DNI: 8 digits + check letter.
	if n == 8 && len(g) == 1 && e < len(t) && isUpper(t[e]) && (e+1 == len(t) || !isAlnum(t[e+1])) {
		v := 0
		for _, c := range d {
			v = v*10 + int(c-'0')
		}
		if "TRWAGMYFPDXBNJZSQVHLCKE"[v%23] == t[e] {
			return "es_dni", 0.85, true
		}
	}
	// Phones.
	if run[0] == '+' && n >= 8 && n <= 15 && (len(g) >= 2 || n >= 10) {
		return "phone", 0.85, true
	}
	if n >= 10 && n <= 11 && len(g) >= 2 && !strings.Contains(seps, "/") && !isDateLike(g) {
		if eqGroups(g, 3, 3, 4) || eqGroups(g, 1, 3, 3, 4) || d[0] == '0' {
			return "phone", 0.75, true
		}
		return "phone", 0.55, true
	}
	if n >= 7 && n <= 15 && keywordBefore(t, s, "phone", "tel", "call", "mobile", "cell", "fax", "whatsapp") {
		return "phone", 0.6, true
	}
	return "", 0, false
}

func isDateLike(g []int) bool {
	return eqGroups(g, 4, 2, 2) || eqGroups(g, 2, 2, 4)
}

func keywordBefore(t string, s int, kws ...string) bool {
	w := strings.ToLower(t[max(0, s-24):s])
	for _, k := range kws {
		if strings.Contains(w, k) {
			return true
		}
	}
	return false
}

func cpfValid(d []byte) bool {
	same := true
	for _, c := range d[1:] {
		if c != d[0] {
			same = false
		}
	}
	if same {
		return false
	}
	for k := 9; k <= 10; k++ {
		sum := 0
		for i := 0; i < k; i++ {
			sum += int(d[i]-'0') * (k + 1 - i)
		}
		r := sum * 10 % 11
		if r == 10 {
			r = 0
		}
		if r != int(d[k]-'0') {
			return false
		}
	}
	return true
}

func nirValid(d []byte) bool {
	v := 0
	for _, c := range d[:13] {
		v = (v*10 + int(c-'0')) % 97
	}
	key := int(d[13]-'0')*10 + int(d[14]-'0')
	return key == 97-v
}

var (
	verhoeffD = [10][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1}, {6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
		{7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
	verhoeffP = [8][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1}, {2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
		{7, 0, 4, 6, 9, 1, 3, 2, 5, 8}}
)

func verhoeff(d []byte) bool {
	c := 0
	for i := range d {
		c = verhoeffD[c][verhoeffP[i%8][int(d[len(d)-1-i]-'0')]]
	}
	return c == 0
}

// iban validates an IBAN (optionally in groups of four) starting at i.
func iban(t string, i int) (int, bool) {
	if i+15 > len(t) || !isUpper(t[i+1]) || !isDigit(t[i+2]) || !isDigit(t[i+3]) {
		return 0, false
	}
	var b []byte
	e := i
	for e < len(t) && len(b) < 34 {
		c := t[e]
		if isDigit(c) || isUpper(c) {
			b = append(b, c)
			e++
			continue
		}
		if c == ' ' && e+1 < len(t) && isAlnum(t[e+1]) && len(b)%4 == 0 {
			e++
			continue
		}
		break
	}
	if len(b) < 15 || (e < len(t) && isAlnum(t[e])) {
		return 0, false
	}
	for t[e-1] == ' ' {
		e--
	}
	rem := 0
	for k := 0; k < len(b); k++ {
		c := b[(k+4)%len(b)]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	return e, rem == 1
}

// fiscalCode validates an Italian codice fiscale starting at i.
func fiscalCode(t string, i int) (int, bool) {
	if i+16 > len(t) || (i+16 < len(t) && isAlnum(t[i+16])) {
		return 0, false
	}
	s := t[i : i+16]
	const shape = "LLLLLLDDLDDLDDDL"
	for k := 0; k < 16; k++ {
		if shape[k] == 'L' && !isUpper(s[k]) || shape[k] == 'D' && !isDigit(s[k]) {
			return 0, false
		}
	}
	odd := [36]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for k := 0; k < 15; k++ {
		c := s[k]
		v := int(c - '0')
		if isUpper(c) {
			v = int(c-'A') + 10
		}
		if k%2 == 0 {
			sum += odd[v]
		} else {
			if v >= 10 {
				v -= 10
			}
			sum += v
		}
	}
	return i + 16, byte('A'+sum%26) == s[15]
}

func ipv6At(t string, colon int) (int, int, bool) {
	isHex := func(c byte) bool { return hexClass[c] || c == ':' }
	s, e := colon, colon
	for s > 0 && isHex(t[s-1]) {
		s--
	}
	for e < len(t) && (isHex(t[e]) || t[e] == '.') {
		e++
	}
	cand := strings.TrimRight(t[s:e], ".")
	if strings.Count(cand, ":") < 2 || len(cand) < 6 {
		return 0, 0, false
	}
	a, err := netip.ParseAddr(cand)
	if err != nil || !a.Is6() || a.IsUnspecified() || a.IsLoopback() {
		return 0, 0, false
	}
	return s, s + len(cand), true
}

// nameEvidence reports whether a name line holds an initial or a
// gazetteer name that is no ordinary word or place ("Scale Unlimited" is
// a firm on an address label, "Erlendur G. Hafliðason" a person).
func nameEvidence(line string, gaz map[string]names.Flags) bool {
	for w := range strings.FieldsSeq(line) {
		f := gaz[nameKey(w)]
		if utf8.RuneCountInString(strings.TrimRight(w, ".")) == 1 || f&(names.First|names.Last) != 0 && f&(names.Word|names.Place) == 0 {
			return true
		}
	}
	return false
}

// labelNames adds the name on the line right above an address that starts
// a line (an address label: "Billing address: Erlendur G. Hafliðason\n
// 764 Fagradalsbraut 71"): two or three capitalised words, after an
// optional "label:" prefix, that no finding covers yet.
func labelNames(t string, out []Finding, gaz map[string]names.Flags, add func(det string, sc float64, s, e int)) {
	n := len(out)
	for _, a := range out[:n] {
		if a.Detector != "pii.address" || !lineStart(t, a.Start) {
			continue
		}
		le := strings.LastIndexByte(t[:a.Start], '\n')
		if le <= 0 {
			continue
		}
		lo := max(0, le-120) // a label line is short: bound the look-back
		ls := lo + strings.LastIndexByte(t[lo:le], '\n') + 1
		if ls == lo && lo > 0 {
			continue
		}
		s, e := ls, le
		if c := strings.LastIndexByte(t[s:e], ':'); c >= 0 {
			s += c + 1
		}
		for s < e && (t[s] == ' ' || t[s] == '>' || t[s] == '\t') {
			s++
		}
		for e > s && (t[e-1] == ' ' || t[e-1] == '\r' || t[e-1] == ',') {
			e--
		}
		if s >= e || e-s > 60 || !nameLine(t, s, e) || !nameEvidence(t[s:e], gaz) {
			continue
		}
		covered := false
		for _, f := range out {
			covered = covered || f.Start < e && s < f.End
		}
		if !covered {
			add("person", nameRecord, s, e)
		}
	}
}
