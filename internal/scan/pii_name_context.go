package scan

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/scan/names"
)

// Context rules of the name finder that look past the capitalised words
// themselves: what the sentence does with a word (a subject that shouts or
// lives somewhere, a vocative, a quote's speaker), the other mentions of a
// name found once, and the lists of family names that are firms. See
// docs/DETECTION.md (PII notes) for what each rule gained on the dev
// sentences of presidio-pii.

// nameHit is a person-name candidate of personNames.
type nameHit struct {
	s, e int
	sc   float64
	keep bool // named in a list of people ("our founders: …"): never a firm
}

// contextNames finishes the candidates of a text typed with capitals:
// firm names are dropped, list neighbours and further mentions of the
// names are added, and the rest is reported through add.
func contextNames(t string, hits []nameHit, gaz map[string]names.Flags, add func(det string, sc float64, s, e int)) {
	hits = dropFirms(t, hits, gaz)
	hits = listNames(t, hits, gaz)
	hits = dropFirms(t, corefNames(t, hits, gaz), gaz)
	for _, h := range hits {
		add("person", h.sc, h.s, h.e)
	}
}

// capRunEnd returns the end of the run of capitalised words (separated by
// single spaces) that starts at i.
func capRunEnd(t string, i int) int {
	e := capWord(t, i)
	if e < 0 {
		return i + 1
	}
	for e+1 < len(t) && t[e] == ' ' {
		k := capWord(t, e+1)
		if k < 0 {
			break
		}
		e = k
	}
	return e
}

// prevWord returns the ASCII word that ends before i (spaces skipped) and
// where it starts.
func prevWord(t string, i int) (string, int) {
	for i > 0 && t[i-1] == ' ' {
		i--
	}
	j := i
	for j > 0 && (t[j-1] >= 'a' && t[j-1] <= 'z' || t[j-1] >= 'A' && t[j-1] <= 'Z') {
		j--
	}
	return t[j:i], j
}

// foldIn reports whether w is one of ws, ignoring case.
func foldIn(w string, ws ...string) bool {
	for _, x := range ws {
		if strings.EqualFold(w, x) {
			return true
		}
	}
	return false
}

// employerBefore reports whether the capitalised words at i follow "work
// for", "works at", "employed by": they name an employer ("I work for
// Wolters Kluwer").
func employerBefore(t string, i int) bool {
	if i < 4 || t[i-1] != ' ' || strings.IndexByte("rRtTyY", t[i-2]) < 0 {
		return false // not after "for", "at" or "by": the common case, decided cheaply
	}
	w, j := prevWord(t, i)
	if !foldIn(w, "for", "at", "by") {
		return false
	}
	v, _ := prevWord(t, j)
	return foldIn(v, "work", "works", "worked", "working", "employed")
}

// notSubject are capitalised words that open sentences or address someone
// without being a name ("Also, can you…", "Everyone laughed").
var notSubject = map[string]bool{"Everyone": true, "Everybody": true, "Someone": true, "Somebody": true, "Nobody": true,
	"Anyone": true, "Anybody": true, "Each": true, "Every": true, "One": true, "None": true, "Also": true, "Then": true,
	"Now": true, "Okay": true, "Alright": true, "Hey": true, "Oh": true, "Ah": true, "Hmm": true, "Um": true, "Right": true,
	"Great": true, "Cool": true, "Nice": true, "Perfect": true, "Awesome": true, "Wow": true, "Yeah": true, "Yep": true,
	"Nope": true, "Fine": true, "Listen": true, "Look": true, "Again": true, "Otherwise": true, "Meanwhile": true,
	"Today": true, "Tomorrow": true, "Yesterday": true, "Tonight": true, "Therefore": true, "Thus": true, "Hence": true,
	"Instead": true, "Still": true, "Yet": true, "Excuse": true, "Guys": true, "Folks": true, "Friends": true, "Man": true,
	"Dude": true, "Bro": true, "Buddy": true, "Boss": true, "Doctor": true, "Officer": true, "Teacher": true,
	"Professor": true, "Captain": true, "Coach": true, "Mister": true, "Lady": true, "Ladies": true, "Gentlemen": true,
	"Darling": true, "Sweetheart": true, "Love": true, "Babe": true, "Honey": true, "Baby": true, "Kids": true,
	"Children": true, "People": true, "Mom": true, "Mum": true, "Dad": true, "Mother": true, "Father": true,
	"Grandma": true, "Grandpa": true, "Question": true, "Quick": true, "Next": true, "First": true, "Second": true,
	"Third": true, "Finally": true, "Besides": true, "Plus": true, "Anyway": true, "Actually": true, "However": true,
	"Siri": true, "Alexa": true, "Google": true, "Cortana": true, "Computer": true, "Chatgpt": true, "Gpt": true,
	"Bard": true, "Gemini": true, "Copilot": true, "Bing": true, "Python": true, "Linux": true, "Windows": true,
	"Nothing": true, "Something": true, "Everything": true, "Anything": true, "Life": true, "Time": true, "God": true,
	"Jesus": true, "Lord": true, "Santa": true, "Mama": true, "Papa": true, "Sis": true, "Bruh": true,
	"Help": true, "Urgent": true, "Hello": true, "Hiya": true, "Greetings": true, "Welcome": true, "Congratulations": true}

// subjectWord reports whether the single capitalised word t[i:j] may be a
// name that the words around it mark as a person: no function word,
// place or organisation word, adverb, or a gazetteer entry that is only
// an ordinary word or a place.
func subjectWord(t string, i, j int, gaz map[string]names.Flags) bool {
	w := nameKey(t[i:j])
	if j-i < 3 || notName[w] || notPersonWord[w] || notSubject[w] || strings.HasSuffix(w, "ly") || strings.ContainsAny(w, "'’.") {
		return false
	}
	f := gaz[w]
	return f == 0 || f&(names.First|names.Last) != 0 && f&names.Place == 0
}

// personVerbs follow a person as the subject of a sentence: body and
// speech acts, dwelling, birth, marriage, writing. A capitalised word
// before one of them is a name even when the gazetteer does not know it
// ("Mehrudin shouted at Todd", "Ciset lives on Rua Mina").
var personVerbs = []string{"shouted", "yelled", "screamed", "whispered", "laughed", "smiled", "cried", "sighed",
	"nodded", "frowned", "giggled", "winked", "lives on", "lives in", "lives at", "lived on", "lived in", "lived at",
	"grew up", "was born", "married", "began writing", "started writing", "had given", "has given"}

// speechVerbs also follow organisations ("Google said"): only a gazetteer
// name before them counts.
var speechVerbs = []string{"said", "says", "told", "asked", "replied", "answered"}

// vocativeNext are the words after "Name, " that make it an address to a
// person ("Kuba, can I please speak to your boss?").
var vocativeNext = []string{"can i", "can you", "can we", "could i", "could you", "could we", "would you", "will you",
	"please", "do you", "did you", "are you", "have you", "tell me", "give me", "help me", "let me", "let's",
	"thank you", "thanks", "listen", "look at", "come here", "come on", "wait for", "stop"}

// hasWordPrefix reports whether t starts with one of ws followed by a
// non-letter.
func hasWordPrefix(t string, ws []string) bool {
	for _, w := range ws {
		if len(t) >= len(w) && strings.EqualFold(t[:len(w)], w) && (len(t) == len(w) || !isLetterAt(t, len(w))) {
			return true
		}
	}
	return false
}

func isLetterAt(t string, i int) bool {
	r, _ := utf8.DecodeRuneInString(t[i:])
	return unicode.IsLetter(r)
}

// prevCapitalised reports whether a capitalised word ends right before i
// (one space between): i is then inside a longer run.
func prevCapitalised(t string, i int) bool {
	if i < 2 || t[i-1] != ' ' {
		return false
	}
	j := i - 1
	for j > 0 && t[j-1] != ' ' && t[j-1] != '\n' && t[j-1] != '\t' {
		j--
	}
	return capWord(t, j) == i-1
}

// personSubject finds a single capitalised word at i that the words
// around it mark as a person: the subject of a person verb, a possessive
// before a kinship noun ("Asya's kid"), a vocative opening a sentence
// ("Vide, can I…"), or the subject of a sentence that goes on about "him"
// or "her" ("Shovda is very reliable. You can always depend on him.").
func personSubject(t string, i int, gaz map[string]names.Flags) (int, bool) {
	j := capWord(t, i)
	if j < 0 {
		return 0, false
	}
	if c := t[j-1]; c == 's' || c == '\'' || c >= utf8.RuneSelf { // maybe a possessive
		if k := nameEnd(t, i, j); k < j {
			if !prevCapitalised(t, i) && subjectWord(t, i, k, gaz) && j+1 < len(t) && t[j] == ' ' && hasWordPrefix(t[j+1:], kinNouns) {
				return k, true
			}
			return 0, false
		}
	}
	// The word after decides which rule may apply: test it first, as
	// most capitalised words are followed by none of these.
	if j+1 >= len(t) {
		return 0, false
	}
	k := j + 1
	if t[j] == ',' && t[k] == ' ' {
		k++
	} else if t[j] != ' ' {
		return 0, false
	}
	ne := k
	for ne < len(t) && (t[ne] >= 'a' && t[ne] <= 'z' || t[ne] == '\'') {
		ne++
	}
	kind := nextWordKind[t[k:ne]] // no allocation for a map index
	if kind == 0 || prevCapitalised(t, i) || !subjectWord(t, i, j, gaz) {
		return 0, false
	}
	switch {
	case t[j] == ' ' && kind&nextPersonVerb != 0 && hasWordPrefix(t[k:], personVerbs):
		return j, true
	case t[j] == ' ' && kind&nextSpeechVerb != 0 && gaz[t[i:j]]&(names.First|names.Last) != 0:
		return j, true
	case !sentenceStart(t, i):
		return 0, false
	case t[j] == ',' && kind&nextVocative != 0 && hasWordPrefix(t[k:], vocativeNext):
		return j, true
	case t[j] == ' ' && kind&nextCopula != 0 && pronounFollows(t, j):
		return j, true
	}
	return 0, false
}

// Kinds of the word after a capitalised word in personSubject.
const (
	nextPersonVerb = 1 << iota
	nextSpeechVerb
	nextVocative
	nextCopula
)

// nextWordKind maps the first word of personVerbs, speechVerbs and
// vocativeNext, and "is"/"was", to the rules they may start.
var nextWordKind = func() map[string]uint8 {
	m := map[string]uint8{"is": nextCopula, "was": nextCopula}
	first := func(p string) string { w, _, _ := strings.Cut(p, " "); return w }
	for _, p := range personVerbs {
		m[first(p)] |= nextPersonVerb
	}
	for _, p := range speechVerbs {
		m[first(p)] |= nextSpeechVerb
	}
	for _, p := range vocativeNext {
		m[first(p)] |= nextVocative
	}
	return m
}()

// pronounFollows reports whether a personal pronoun (he, she, him, her,
// himself, herself; not "his", which a thing's sentence uses too:
// "Coercion is his specialty") stands in the sentence after the one at j,
// with no other capitalised word inside a sentence between them (which
// could be the pronoun's antecedent).
func pronounFollows(t string, j int) bool {
	ends := 0
	newSentence := false // only spaces since the last sentence end
	for k := j; k < len(t) && k < j+200; k++ {
		c := t[k]
		switch {
		case c == '.' || c == '!' || c == '?' || c == '\n':
			if ends++; ends > 1 {
				return false
			}
			newSentence = true
		case c == ' ' || c == '"' || c == '\'':
		case t[k-1] != ' ':
			newSentence = false // inside a word
		case c >= 'A' && c <= 'Z':
			if !newSentence {
				return false
			}
			newSentence = false
		case ends == 1 && (c == 'h' || c == 's') && hasWordPrefix(t[k:], []string{"he", "she", "him", "her", "himself", "herself"}):
			return true
		default:
			newSentence = false
		}
	}
	return false
}

// kinNouns name a relative or close person; after "my", "our", "his" …
// the single word that follows is a name ("my kid Tadzio").
var kinNouns = []string{"kid", "child", "son", "daughter", "wife", "husband", "brother", "sister", "mother", "father",
	"mom", "mum", "dad", "uncle", "aunt", "cousin", "nephew", "niece", "grandson", "granddaughter", "grandmother",
	"grandfather", "grandma", "grandpa", "partner", "fiance", "fiancé", "fiancee", "fiancée", "girlfriend",
	"boyfriend", "stepson", "stepdaughter", "friend", "boss", "colleague", "neighbor", "neighbour", "roommate",
	"baby", "kids", "children", "family", "parents"}

var kinCue = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range kinNouns {
		m[k] = true
	}
	return m
}()

// possessiveCue reports whether the cue that ends before s (spaces
// between) follows a possessive determiner: "my kid", "our son".
func possessiveCue(t string, s int, cue string) bool {
	i := s
	for i > 0 && t[i-1] == ' ' {
		i--
	}
	if i < len(cue) {
		return false
	}
	w, _ := prevWord(t, i-len(cue))
	return foldIn(w, "my", "our", "your", "his", "her", "their")
}

// quoteBefore reports whether the speech cue that ends before s follows
// a quotation (`"…," says Gerste`, `Wow! said Maslin`): its speaker.
func quoteBefore(t string, s int, cue string) bool {
	i := s
	for i > 0 && t[i-1] == ' ' {
		i--
	}
	i -= len(cue)
	for i > 0 && t[i-1] == ' ' {
		i--
	}
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(t[:i])
	return strings.ContainsRune("\"”'’!?", r)
}

// pluralVerbAfter reports whether a plural verb follows the two-name list
// items ("Lamovec and Morales were precision engineers").
func pluralVerbAfter(t string, items [][2]int) bool {
	a, b := items[0], items[1]
	if b[0] < a[0] {
		a, b = b, a
	}
	if sep := t[a[1]:b[0]]; sep != " and " && sep != " & " {
		return false
	}
	return b[1]+1 < len(t) && t[b[1]] == ' ' && hasWordPrefix(t[b[1]+1:], []string{"were", "are", "have", "met", "married", "both"})
}

// corefNames adds the other mentions of the names found: once "Bonifacy
// Kaczmarek" is a person, so is "Kaczmarek" elsewhere in the text. Words
// that are also places are not followed, and neither are ordinary words
// at a sentence start ("Will").
func corefNames(t string, hits []nameHit, gaz map[string]names.Flags) []nameHit {
	if len(hits) == 0 {
		return hits
	}
	type ref struct {
		sc   float64
		word bool
	}
	seen := map[string]ref{}
	for _, h := range hits {
		start := sentenceStart(t, h.s)
		for w := range strings.FieldsSeq(t[h.s:h.e]) {
			k := nameKey(strings.Trim(w, ".,"))
			f := gaz[k]
			if len(seen) >= 16 || utf8.RuneCountInString(k) < 3 || notName[k] || notPersonWord[k] || notSubject[k] ||
				nameParticles[k] || f&names.Place != 0 || start && f == 0 && !surnameShaped(k) {
				continue // an unknown word that opens a sentence may be any word ("Plan B. Joe")
			}
			seen[k] = ref{max(seen[k].sc, h.sc), f&names.Word != 0}
		}
	}
	if len(seen) == 0 {
		return hits
	}
	var firstByte [256]bool // the first bytes of the names looked for
	for k := range seen {
		firstByte[k[0]] = true
	}
	n := len(hits)
	for i := 0; i < len(t) && len(hits) < maxPIIPerDetector; i++ {
		if !firstByte[t[i]] || !wordStart(t, i) {
			continue
		}
		j := capWord(t, i)
		if j < 0 {
			continue
		}
		e := nameEnd(t, i, j)
		r, ok := seen[t[i:e]]
		if ok && !(r.word && sentenceStart(t, i)) && !(j < len(t) && t[j] == '@') {
			inside := false
			for _, h := range hits[:n] {
				inside = inside || i < h.e && h.s < e
			}
			if !inside {
				hits = append(hits, nameHit{s: i, e: e, sc: r.sc})
			}
		}
		i = j - 1
	}
	return hits
}

// dropFirms removes the single-word candidates that are firm names made
// of family names: three family names in a list "Barnett, Melton and
// Garcia", or two joined by a hyphen with no given name before
// ("Ellis-Ingram"). A list of people by family name only is rarer than a
// law firm or an agency named so; the cost is documented.
func dropFirms(t string, hits []nameHit, gaz map[string]names.Flags) []nameHit {
	last := func(w string) bool { return gaz[nameKey(w)]&names.Last != 0 }
	out := hits[:0]
	for _, h := range hits {
		w := t[h.s:h.e]
		firm := false
		if !h.keep && !strings.ContainsAny(w, " \n\t") {
			if a, b, ok := strings.Cut(w, "-"); ok && last(a) && last(b) && b != "" && isUpperRune(b) {
				firm = true
			} else {
				firm = firmTriple(t, h.s, h.e, last)
			}
		}
		if !firm {
			out = append(out, h)
		}
	}
	return out
}

func isUpperRune(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r)
}

// firmTriple reports whether t[s:e] is one of three family names in the
// form "A, B and C" (Oxford comma or "&" allowed).
func firmTriple(t string, s, e int, last func(string) bool) bool {
	word := func(a, b int) (string, bool) {
		if a < 0 || b > len(t) || a >= b || capWord(t, a) != b {
			return "", false
		}
		return t[a:b], true
	}
	// after returns the capitalised word that follows sep at i.
	after := func(i int, seps ...string) (int, int, bool) {
		for _, sep := range seps {
			if strings.HasPrefix(t[i:], sep) {
				a := i + len(sep)
				b := capWord(t, a)
				return a, b, b > a
			}
		}
		return 0, 0, false
	}
	// before returns the capitalised word that precedes sep at i.
	before := func(i int, seps ...string) (int, int, bool) {
		for _, sep := range seps {
			if strings.HasSuffix(t[:i], sep) {
				b := i - len(sep)
				a := b
				for a > 0 && t[a-1] != ' ' && t[a-1] != '\n' && t[a-1] != '\t' && t[a-1] != '>' && t[a-1] != '"' && t[a-1] != '(' {
					a--
				}
				_, ok := word(a, b)
				return a, b, ok
			}
		}
		return 0, 0, false
	}
	and := []string{", and ", " and ", " & "}
	check := func(ws ...[2]int) bool {
		if hasCue(t, ws[0][0]) {
			return false // "founded by Keskinen, Becker and Vasquez": people
		}
		for _, x := range ws {
			w, ok := word(x[0], x[1])
			if !ok || !last(w) {
				return false
			}
		}
		return true
	}
	// As the first member.
	if a, b, ok := after(e, ", "); ok {
		if c, d, ok := after(b, and...); ok && check([2]int{s, e}, [2]int{a, b}, [2]int{c, d}) {
			return true
		}
	}
	// As the second.
	if a, b, ok := before(s, ", "); ok {
		if c, d, ok := after(e, and...); ok && check([2]int{a, b}, [2]int{s, e}, [2]int{c, d}) {
			return true
		}
	}
	// As the third.
	if a, b, ok := before(s, and...); ok {
		if c, d, ok := before(a, ", "); ok && check([2]int{c, d}, [2]int{a, b}, [2]int{s, e}) {
			return true
		}
	}
	return false
}

// nameBeforeOrg cuts the name t[s:e] before its first place or
// organisation word ("Mrs. Barbara Yudina Apt. 675" → "Barbara Yudina").
func nameBeforeOrg(t string, s, e int) int {
	for i := s; i < e; {
		j := strings.IndexByte(t[i:e], ' ')
		if j < 0 {
			j = e - i
		}
		if notPersonWord[strings.TrimRight(t[i:i+j], ".,")] || notPersonWord[t[i:i+j]] {
			for i > s && t[i-1] == ' ' {
				i--
			}
			return i
		}
		i += j + 1
	}
	return e
}

// pluralPeople are nouns that introduce a list of people after a colon
// ("our 3 founders: Monjeau, Graves and Reed").
var pluralPeople = map[string]bool{"founders": true, "cofounders": true, "partners": true, "authors": true,
	"members": true, "children": true, "kids": true, "sons": true, "daughters": true, "brothers": true, "sisters": true,
	"friends": true, "parents": true, "siblings": true, "students": true, "players": true, "winners": true,
	"candidates": true, "people": true, "guests": true, "speakers": true, "employees": true, "colleagues": true,
	"owners": true, "grandchildren": true, "attendees": true, "participants": true, "musicians": true,
	"singers": true, "actors": true, "writers": true, "engineers": true, "doctors": true, "teachers": true}

// peopleList finds a list of names right after "<plural person noun>:"
// and reports each member through emit; it returns the end of the list.
func peopleList(t string, i int, emit func(s, e int)) (int, bool) {
	j := i
	for j > 0 && t[j-1] == ' ' {
		j--
	}
	if j == i || j == 0 || t[j-1] != ':' {
		return 0, false
	}
	w, _ := prevWord(t, j-1)
	var buf [16]byte
	if len(w) > len(buf) {
		return 0, false
	}
	for k := range len(w) {
		buf[k] = w[k] | 0x20 // ASCII letters only: lower case
	}
	if !pluralPeople[string(buf[:len(w)])] { // no allocation for a map index
		return 0, false
	}
	s, e, ok := nameAfter(t, i)
	if !ok || s != i {
		return 0, false
	}
	emit(s, nameEnd(t, s, e))
	for n := 1; n < 20; n++ {
		next := false
		for _, sep := range listSeps {
			if strings.HasPrefix(t[e:], sep) {
				if ns, ne, ok := nameAfter(t, e+len(sep)); ok && ns == e+len(sep) {
					emit(ns, nameEnd(t, ns, ne))
					e, next = ne, true
				}
				break
			}
		}
		if !next {
			break
		}
	}
	return e, true
}

// lowerNamingCue are the cues after which a word typed in lower case is a
// name even when the gazetteer does not know it.
var lowerNamingCue = map[string]bool{"my name is": true, "name is": true, "call me": true, "calls me": true,
	"called me": true, "je m'appelle": true, "me llamo": true, "mi chiamo": true}

// notLowerName are the words that follow a naming cue without being a
// name ("call me back", "my name is not important").
var notLowerName = map[string]bool{"not": true, "the": true, "and": true, "but": true, "back": true, "later": true,
	"when": true, "what": true, "whatever": true, "anything": true, "anytime": true, "tomorrow": true, "today": true,
	"tonight": true, "now": true, "please": true, "again": true, "soon": true, "asap": true, "maybe": true,
	"crazy": true, "old": true, "sometime": true, "sir": true, "mom": true, "dad": true, "before": true, "after": true,
	"once": true, "right": true, "instead": true, "too": true, "also": true, "then": true, "there": true,
	"here": true, "your": true, "our": true, "his": true, "her": true, "their": true, "this": true, "that": true,
	"for": true, "from": true, "with": true, "about": true, "like": true, "just": true, "only": true, "still": true,
	"all": true, "any": true, "every": true, "each": true, "some": true, "one": true, "out": true, "off": true,
	"over": true, "up": true, "down": true, "via": true, "using": true, "name": true, "mine": true, "yours": true}

// lowerNameShaped reports whether a lower-case word after a naming cue
// may be a name: three letters or more, no function word, no -ed, -ing or
// -ly ending.
func lowerNameShaped(w string) bool {
	return len(w) >= 3 && !notLowerName[w] && !strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "ing") &&
		!strings.HasSuffix(w, "ly")
}

// lowerList finds a list of three or more single lower-case words ("they
// had 6: silvana, adam, christopher, kristina, chad and caleb") that are
// nearly all gazetteer names: every member but one is a given or family
// name and two are names that are no ordinary word or place. It reports
// every member and returns the end of the list.
func lowerList(t string, i int, look func(string) names.Flags, wordEnd func(int) int,
	add func(det string, sc float64, s, e int)) (int, bool) {
	var items [][2]int
	e := wordEnd(i)
	items = append(items, [2]int{i, e})
	for len(items) < 20 {
		next := false
		for _, sep := range []string{", and ", ", or ", ", ", " and ", " & ", " or "} {
			if strings.HasPrefix(t[e:], sep) {
				k := e + len(sep)
				if ke := wordEnd(k); ke > k && (ke == len(t) || t[ke] != ' ' || strings.HasPrefix(t[ke:], " and ") ||
					strings.HasPrefix(t[ke:], " or ") || strings.HasPrefix(t[ke:], " & ")) {
					items = append(items, [2]int{k, ke})
					e, next = ke, true
				}
				break
			}
		}
		if !next {
			break
		}
	}
	if len(items) < 3 {
		return 0, false
	}
	unknown, strong := 0, 0
	for _, it := range items {
		f := look(t[it[0]:it[1]])
		switch {
		case f&(names.First|names.Last) == 0:
			unknown++
		case f&(names.Word|names.Place) == 0:
			strong++
		}
	}
	if unknown > 1 || strong < 2 || unknown == 1 && len(items) < 4 {
		return 0, false
	}
	for _, it := range items {
		add("person", nameMention, it[0], it[1])
	}
	return e, true
}
