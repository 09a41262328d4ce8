package scan

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/scan/names"
)

// Person names and street addresses have no checksum: they are found by
// context. A name is one to three capitalised words right after a cue
// that introduces a person ("my name is", "Dear", "Mr.", "Name:",
// "signed,"); an address is a house number next to a street word
// ("12 Elm Street", "Hauptstraße 5", "Koskikatu 25", "Rua Igreja 25"),
// optionally followed by an apartment or suite. Both are precise rather
// than complete: a bare name without a cue is not reported (see
// docs/DETECTION.md for the recall this costs).

// nameCues introduce a person's name; matched case-insensitively at a
// word start, the name must follow within one space or a colon.
var nameCues = []string{"my name is", "his name is", "her name is", "their name is", "name is", "name:", "full name:",
	"customer:", "patient:", "employee:", "contact:", "attn:", "attention:", "dear", "hi", "hello", "mr.", "mrs.", "ms.",
	"miss", "dr.", "prof.", "mr", "mrs", "ms", "dr", "sincerely,", "regards,", "best,", "cheers,", "signed,", "thanks,",
	"i am", "i'm", "this is", "follow up with", "directed by:", "directed by", "written by", "written by:", "from:", "to:",
	"call me", "calls me", "called me", "ich bin", "ich heiße", "je m'appelle", "me llamo", "mi nombre es", "mi chiamo",
	"name?", "last name?", "first name?",
	// Weak cues (a two-word name must follow): roles and verbs of address.
	"by", "called", "named", "known as", "said", "asked", "told", "met", "call", "ask", "tell", "email", "player", "commenter", "founder", "ceo",
	"director", "author", "professor", "minister", "president", "actor", "actress", "singer", "agent", "manager",
	"colleague", "friend", "wife", "husband", "son", "daughter", "brother", "sister", "mother", "father", "uncle",
	"aunt", "cousin", "boss", "client", "doctor", "nurse", "lawyer", "teacher", "student", "coach", "captain", "sergeant",
	"says", "replied", "added", "explained", "wrote", "shouted", "yelled", "whispered", "named him", "named her",
	"called him", "called her", "kid", "child", "nephew", "niece", "grandson", "granddaughter", "partner", "fiance",
	"fiancé", "fiancee", "fiancée", "girlfriend", "boyfriend", "stepson", "stepdaughter", "neighbor", "neighbour",
	"roommate", "mom", "mum", "dad"}

// notName are capitalised words that follow the cues without being names.
var notName = map[string]bool{"I": true, "The": true, "A": true, "An": true, "This": true, "That": true, "There": true,
	"Here": true, "It": true, "We": true, "You": true, "They": true, "He": true, "She": true, "Sir": true, "Madam": true,
	"Team": true, "All": true, "Everyone": true, "Customer": true, "Support": true, "Sorry": true, "Not": true, "Just": true,
	"Monday": true, "Tuesday": true, "Wednesday": true, "Thursday": true, "Friday": true, "Saturday": true, "Sunday": true,
	"January": true, "February": true, "March": true, "April": true, "May": true, "June": true, "July": true,
	"August": true, "September": true, "October": true, "November": true, "December": true, "Thanks": true,
	"Thank": true, "Hello": true, "Hi": true, "Dear": true, "Yes": true, "No": true, "OK": true, "Ok": true,
	"Please": true, "Good": true, "Happy": true, "Glad": true, "Sure": true, "Well": true, "So": true, "And": true,
	"But": true, "Or": true, "If": true, "In": true, "On": true, "At": true, "For": true, "To": true, "From": true,
	"Of": true, "What": true, "How": true, "Why": true, "When": true, "Where": true, "Who": true, "Which": true,
	"Your": true, "My": true, "Our": true, "Their": true, "His": true, "Her": true, "AI": true, "ChatGPT": true,
	"Assistant": true, "Claude": true, "Bot": true, "Admin": true, "Administrator": true, "User": true, "N/A": true,
	"Me": true, "Us": true, "Him": true, "Them": true, "Myself": true}

// capWord returns the end of a capitalised word at i (an initial "J."
// counts), or -1.
func capWord(t string, i int) int {
	r, n := utf8.DecodeRuneInString(t[i:])
	if !unicode.IsUpper(r) {
		return -1
	}
	j := i + n
	lower := 0
	for j < len(t) {
		r, n := utf8.DecodeRuneInString(t[j:])
		if unicode.IsLetter(r) || r == '\'' || r == '-' && j+n < len(t) && t[j+n] != ' ' {
			if unicode.IsLower(r) {
				lower++
			}
			j += n
			continue
		}
		break
	}
	if j-i == n { // single capital: an initial needs its dot
		if j < len(t) && t[j] == '.' {
			return j + 1
		}
		return -1
	}
	if lower == 0 {
		return -1 // ACRONYMS and SHOUTING are not names
	}
	return j
}

// nameAfter returns the span of one to three capitalised words starting at
// i (after spaces), or ok=false.
func nameAfter(t string, i int) (s, e int, ok bool) {
	for i < len(t) && (t[i] == ' ' || t[i] == '\t') {
		i++
	}
	s, e = i, -1
	for k := 0; k < 3 && i < len(t); k++ {
		j := capWord(t, i)
		if j < 0 {
			break
		}
		if k == 0 && notName[strings.TrimRight(t[i:j], ".")] {
			return 0, 0, false
		}
		e = j
		if j >= len(t) || t[j] != ' ' {
			break
		}
		i = j + 1
	}
	return s, e, e > s
}

// weakCue are cues after which only a two-word name counts ("by Python"
// and "said Yes" are not people; "by Jane Austen" is).
var weakCue = func() map[string]bool {
	m := map[string]bool{}
	i := slices.Index(nameCues, "by")
	for _, c := range nameCues[i:] {
		m[c] = true
	}
	return m
}()

// cueSet is nameCues as a set, for the look-back of personNames.
var cueSet = func() map[string]bool {
	m := make(map[string]bool, len(nameCues))
	for _, c := range nameCues {
		m[c] = true
	}
	return m
}()

// cueBefore returns the cue (one to three words, lower case) that ends
// right before i, separated from it by spaces, tabs or one line break.
func cueBefore(t string, i int) (string, bool) {
	j := i
	nl := 0
	for j > 0 && (t[j-1] == ' ' || t[j-1] == '\t' || t[j-1] == '\n' || t[j-1] == '\r') {
		if t[j-1] == '\n' {
			nl++
		}
		j--
	}
	if j == i && i > 0 || nl > 1 || j == 0 {
		return "", false
	}
	lo := max(0, j-20)
	var buf [20]byte
	w := buf[:0]
	for k := lo; k < j; k++ {
		c := t[k]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		w = append(w, c)
	}
	// Candidate cues: the last one, two and three space-separated words.
	end := len(w)
	start := end
	for words := 0; words < 3; words++ {
		for start > 0 && w[start-1] != ' ' && w[start-1] != '\n' && w[start-1] != '\t' {
			start--
		}
		if start == 0 && lo > 0 {
			break // the word may be cut by the window
		}
		if cueSet[string(w[start:end])] { // no allocation for a map index
			return string(w[start:end]), true
		}
		if start == 0 {
			break
		}
		start--
	}
	return "", false
}

// Scores of pii.person findings. A name introduced as a private person's
// ("my name is", "Mr.", "Dear", "Name:", an e-mail's "From:") or standing
// in a personal record (a text that also holds an e-mail address, phone
// number, street address or account number, see piiScanner.Scan) scores
// nameRecord, which the output policy of high-tier models redacts. A name
// merely mentioned ("Charlie Sheen is back on TV", "written by Jane
// Austen") scores nameMention: recorded and stored redacted, but under
// every tier's action threshold (0.6) — redacting every public figure a
// model names would make its answers useless and, measured on the
// toxicity sources scanned as outputs, turned 8–18% of their benign texts
// into non-allow verdicts.
const (
	nameRecord  = 0.7
	nameMention = 0.5
)

// cueScore is the score of a name after cue: the cues of verbs and roles
// ("said", "by", "author", "directed by") mention people; the others
// introduce a private person.
func cueScore(cue string) float64 {
	switch {
	case weakCue[cue], strings.HasPrefix(cue, "directed by"), strings.HasPrefix(cue, "written by"):
		return nameMention
	}
	return nameRecord
}

// personNames appends pii.person findings. It walks the capitalised
// words of t once; at each it looks back for a cue and, without one, asks
// the gazetteer (see nameRun).
func personNames(t string, gaz map[string]names.Flags, add func(det string, sc float64, s, e int)) {
	if len(t) > maxContextScan {
		t = t[:maxContextScan]
	}
	if !hasUpper(t) {
		lowerNames(t, gaz, add)
		return
	}
	var hits []nameHit
	emit := func(s, e int, sc float64) {
		if len(hits) < maxPIIPerDetector {
			hits = append(hits, nameHit{s: s, e: e, sc: sc})
		}
	}
	defer func() { contextNames(t, hits, gaz, add) }()
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf) || !wordStart(t, i) {
			continue
		}
		if employerBefore(t, i) {
			// "I work for Wolters Kluwer": an employer, not a person.
			i = capRunEnd(t, i) - 1
			continue
		}
		if e, ok := peopleList(t, i, func(s, e int) {
			if len(hits) < maxPIIPerDetector {
				hits = append(hits, nameHit{s: s, e: e, sc: nameMention, keep: true})
			}
		}); ok {
			i = e
			continue
		}
		if cue, ok := cueBefore(t, i); ok {
			if s, e, ok := nameAfter(t, i); ok && cueName(t, cue, s, nameBeforeOrg(t, s, e), gaz) {
				e = nameBeforeOrg(t, s, e)
				emit(s, e, cueScore(cue))
				i = e
				continue
			}
		}
		if s, e, ok := nameRun(t, i, gaz); ok {
			emit(s, e, nameMention)
			i = e
			continue
		}
		if e, ok := personSubject(t, i, gaz); ok {
			emit(i, e, nameMention)
			i = e
			continue
		}
		// Skip the rest of this word; inside a sentence, skip the whole
		// run of capitalised words: "Los Angeles" is no "Angeles".
		for {
			for i+1 < len(t) && t[i+1] != ' ' && t[i+1] != '\n' {
				i++
			}
			r, _ := utf8.DecodeLastRuneInString(t[:i+1])
			if !unicode.IsLetter(r) || sentenceStart(t, i) || i+2 >= len(t) || t[i+1] != ' ' || capWord(t, i+2) < 0 || hasCue(t, i+2) {
				break
			}
			i += 2
		}
	}
}

// cueName applies the cue's rule to the name after it: weak cues
// (greetings, "I am", "this is", verbs and roles) need a two-word name or
// a gazetteer name ("I am Happy", "Hi Team", "by Python" are not people).
func cueName(t, cue string, s, e int, gaz map[string]names.Flags) bool {
	if e <= s {
		return false
	}
	words := strings.Count(strings.TrimSpace(t[s:e]), " ") + 1
	if words >= 2 {
		return true
	}
	switch cue {
	case "hi", "hello", "dear":
		if e < len(t) && (t[e] == ',' || t[e] == '!') {
			return true // a greeting's addressee: "Hi Victor,"
		}
	case "i am", "i'm", "this is", "from:", "to:", "best,", "cheers,", "thanks,", "directed by", "written by":
	case "named him", "named her", "called him", "called her":
		return true // "She named him Frank"
	case "said", "says", "asked", "replied", "added", "explained", "wrote", "shouted", "yelled", "whispered":
		if quoteBefore(t, s, cue) {
			return true // a quotation's speaker: `"…," says Gerste`
		}
	default:
		if !weakCue[cue] {
			return true
		}
		if kinCue[cue] && possessiveCue(t, s, cue) && subjectWord(t, s, e, gaz) {
			return true // "my kid Tadzio"
		}
	}
	f := gaz[nameKey(t[s:e])]
	return f&(names.First|names.Last) != 0 && f&names.Word == 0
}

// hasCue reports whether a name cue ends right before i.
func hasCue(t string, i int) bool {
	_, ok := cueBefore(t, i)
	return ok
}

// sentenceStart reports whether the word containing i starts a sentence
// (text start, a line break or . ! ? : before it): there a capital letter
// says nothing.
func sentenceStart(t string, i int) bool {
	for i > 0 && t[i-1] != ' ' && t[i-1] != '\n' && t[i-1] != '\t' {
		i--
	}
	for i > 0 && (t[i-1] == ' ' || t[i-1] == '\t') {
		i--
	}
	for i > 0 && strings.IndexByte("\"'(*#-", t[i-1]) >= 0 {
		i--
	}
	return i == 0 || strings.IndexByte(".!?:\n", t[i-1]) >= 0
}

// wordStart reports whether a word starts at i: the text start or a
// character before it that is no letter, digit or joiner.
func wordStart(t string, i int) bool {
	if i == 0 {
		return true
	}
	c := t[i-1]
	if c < utf8.RuneSelf {
		return !isAlnum(c) && strings.IndexByte("-_.@/\\'&", c) < 0
	}
	r, _ := utf8.DecodeLastRuneInString(t[:i])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

// nameKey is a word as the gazetteer spells it: without a possessive.
func nameKey(w string) string {
	for _, suf := range []string{"'s", "’s", "'"} {
		if len(w) > len(suf)+1 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

// nameParticles join the parts of a name ("Willemine ten Pas", "Ludwig van
// Beethoven").
var nameParticles = map[string]bool{"van": true, "von": true, "de": true, "der": true, "den": true, "ten": true, "ter": true,
	"da": true, "di": true, "del": true, "della": true, "dos": true, "das": true, "du": true, "le": true, "la": true,
	"bin": true, "ibn": true, "al": true, "y": true}

// notPersonWord are capitalised words that make a run of capitalised words
// a place, an organisation or a title rather than a person.
var notPersonWord = map[string]bool{"Street": true, "St.": true, "Avenue": true, "Road": true, "Lane": true, "Drive": true,
	"Boulevard": true, "Square": true, "Bridge": true, "University": true, "College": true, "School": true, "Academy": true,
	"Hospital": true, "Clinic": true, "Bank": true, "Inc": true, "Inc.": true, "Ltd": true, "Ltd.": true, "LLC": true,
	"Corp": true, "Corp.": true, "Company": true, "Co.": true, "Group": true, "City": true, "County": true, "State": true,
	"States": true, "River": true, "Lake": true, "Mount": true, "Mountain": true, "Island": true, "Islands": true,
	"Park": true, "Hotel": true, "Airport": true, "Station": true, "Church": true, "Cathedral": true, "Museum": true,
	"Center": true, "Centre": true, "Foundation": true, "Institute": true, "Association": true, "Department": true,
	"Ministry": true, "Party": true, "Republic": true, "Kingdom": true, "Empire": true, "Award": true, "Prize": true,
	"Cup": true, "League": true, "Club": true, "Team": true, "Orchestra": true, "Band": true, "Records": true,
	"Studios": true, "Press": true, "Times": true, "News": true, "Post": true, "Journal": true, "Magazine": true,
	"Act": true, "Law": true, "War": true, "Day": true, "Festival": true, "Hall": true, "House": true, "Tower": true,
	"Castle": true, "Palace": true, "Valley": true, "Beach": true, "Bay": true, "Coast": true, "Sea": true, "Ocean": true,
	"North": true, "South": true, "East": true, "West": true, "New": true, "San": true, "Santa": true, "Saint": true,
	"Fort": true, "Port": true, "Cape": true, "Air": true, "Airlines": true, "Motors": true, "Systems": true,
	"Technologies": true, "Software": true, "Labs": true, "Services": true, "Solutions": true, "Holdings": true,
	"International": true, "Global": true, "National": true, "Federal": true, "Royal": true, "General": true,
	"Chapter": true, "Part": true, "Section": true, "Table": true, "Figure": true, "Version": true, "Model": true,
	"Investments": true, "Partners": true, "Associates": true, "Consulting": true, "Capital": true, "Ventures": true,
	// Street suffixes (USPS Publication 28) that are seldom family names.
	"St": true, "Ave": true, "Rd": true, "Blvd": true, "Suite": true, "Apt": true, "Alley": true, "Bypass": true,
	"Cliffs": true, "Cove": true, "Coves": true, "Creek": true, "Crossing": true, "Estates": true, "Expressway": true,
	"Extension": true, "Extensions": true, "Falls": true, "Flat": true, "Flats": true, "Forest": true, "Gardens": true,
	"Gateway": true, "Greens": true, "Grove": true, "Harbor": true, "Harbour": true, "Haven": true, "Heights": true,
	"Hills": true, "Hollow": true, "Junction": true, "Knoll": true, "Landing": true, "Loop": true, "Mall": true,
	"Manor": true, "Meadow": true, "Meadows": true, "Motorway": true, "Orchard": true, "Pass": true, "Path": true,
	"Pike": true, "Plaza": true, "Point": true, "Prairie": true, "Ranch": true, "Rapids": true, "Ridge": true,
	"Route": true, "Shoal": true, "Shores": true, "Skyway": true, "Springs": true, "Spur": true, "Stravenue": true,
	"Summit": true, "Terrace": true, "Throughway": true, "Trace": true, "Trafficway": true, "Trail": true,
	"Tunnel": true, "Turnpike": true, "Underpass": true, "Union": true, "Viaduct": true, "Villages": true,
	"Vista": true, "Way": true, "Parks": true, "Green": true}

// nameRun decides, without a cue, whether the capitalised words starting
// at i are a person's name. It takes up to four words (initials "J." or
// "J" and particles "van", "de" between them) and asks the gazetteer:
//   - two or more words: the first is a given name or the last a family
//     name (and no word marks a place or an organisation), or a middle
//     initial stands between two capitalised words ("Szabina J Gelencsér");
//   - one word: a gazetteer name that is not also an ordinary word.
//
// Names that are ordinary words ("Will", "Rose") count only inside a
// longer name or after a cue.
func nameRun(t string, i int, gaz map[string]names.Flags) (s, e int, ok bool) {
	type tok struct {
		s, e    int
		initial bool
		f       names.Flags
	}
	var toks [5]tok
	n := 0
	j := i
	for n < len(toks) && j < len(t) {
		k := capWord(t, j)
		if k < 0 {
			// A bare initial "J" before a capitalised word.
			r, rn := utf8.DecodeRuneInString(t[j:])
			if unicode.IsUpper(r) && j+rn+1 < len(t) && t[j+rn] == ' ' && n > 0 && capWord(t, j+rn+1) > 0 {
				k = j + rn // "Halldór Ó Árnþórsson"
			} else if n > 0 {
				// A particle between two capitalised words.
				sp := strings.IndexByte(t[j:min(len(t), j+6)], ' ')
				if sp > 0 && nameParticles[t[j:j+sp]] && capWord(t, j+sp+1) > 0 {
					j += sp + 1
					continue
				}
				break
			} else {
				break
			}
		}
		w := t[j:k]
		dotInitial := len(w) == 2 && w[1] == '.' && n > 0
		if !dotInitial && notName[strings.TrimRight(w, ".")] || notPersonWord[w] {
			if n == 0 {
				return 0, 0, false
			}
			if notPersonWord[w] {
				return 0, 0, false // "Maria Street", "Smith College"
			}
			break
		}
		tk := tok{s: j, e: k, initial: k-j <= 2}
		if !tk.initial {
			tk.f = gaz[nameKey(w)]
			if tk.f == 0 && strings.IndexByte(w, '-') > 0 { // "Anna-Maria", "Smith-Jones"
				a, b, _ := strings.Cut(nameKey(w), "-")
				tk.f = gaz[a] | gaz[b]
			}
			if tk.f == 0 && surnameShaped(nameKey(w)) {
				tk.f = names.Last
			}
		}
		toks[n] = tk
		n++
		if k >= len(t) || t[k] != ' ' || len(nameKey(w)) < len(w) {
			break // a possessive ends a name ("Faina D. Yefremova's Cautionary Tales")
		}
		j = k + 1
	}
	if n == 0 {
		return 0, 0, false
	}
	// Trailing initials are sentence material ("… and A"), not a name.
	for n > 0 && toks[n-1].initial {
		n--
	}
	if n == 0 {
		return 0, 0, false
	}
	strong := func(f names.Flags, want names.Flags) bool { return f&want != 0 && f&(names.Word|names.Place) == 0 }
	first, last := toks[0], toks[n-1]
	if n == 1 {
		if first.initial || !strong(first.f, names.First|names.Last) {
			return 0, 0, false
		}
		if first.e < len(t) && t[first.e] == '@' {
			return 0, 0, false
		}
		return first.s, nameEnd(t, first.s, first.e), true
	}
	midInitial := false
	for _, tk := range toks[1 : n-1] {
		midInitial = midInitial || tk.initial
	}
	switch {
	case first.initial:
		// "J. Smith": an initial then a family name.
		if !strong(last.f, names.Last|names.First) {
			return 0, 0, false
		}
	case strong(first.f, names.First), midInitial && first.f != 0:
	case first.f&names.First != 0 && last.f&names.Last != 0 && (first.f|last.f)&names.Word == 0:
		// A given name that is also a place before a family name that may
		// be one too ("Sofia Lima").
	case strong(last.f, names.Last) && first.f&(names.First|names.Last) != 0:
	case midInitial && n == 3 && ((first.f|last.f) != 0 || !sentenceStart(t, first.s)):
	case strong(first.f, names.Last) && n == 2:
		// "Kónya Becker": two family names, or a family-name-first order.
	case n == 2 && first.f&names.First != 0 && first.f&names.Word == 0 && last.f&(names.Word|names.Place) == 0:
		// A given name that is also a place before an unknown word ("Lara
		// Pottinger"; "Victoria Station" stopped at its street word above).
	case n == 2 && first.f == 0 && strong(last.f, names.Last) && !sentenceStart(t, first.s):
		// An unknown given name before a family name inside a sentence
		// ("change it to Bekbolat Musliyevich").
	default:
		// The last word may be an unknown family name after a known given
		// name that is also a word ("Will Turcotte").
		if !(first.f&names.First != 0 && strong(last.f, names.Last)) {
			return 0, 0, false
		}
	}
	if last.e < len(t) && t[last.e] == '@' {
		return 0, 0, false // the local part of an e-mail address
	}
	return first.s, nameEnd(t, first.s, last.e), true
}

// surnameSuffixes end family names in many languages and few other
// words: Slavic -ova/-ski/-vić, Nordic -sson/-dóttir, Romanian -escu,
// Georgian -shvili, Turkish -oğlu, Italian -ucci.
var surnameSuffixes = []string{"ová", "ova", "eva", "ovich", "evich", "ovna", "evna", "ski", "ska", "sky", "skaya", "skiy",
	"cki", "cka", "wicz", "vić", "vič", "ić", "ič", "sson", "dóttir", "dottir", "escu", "enko", "chuk", "shvili", "dze",
	"oğlu", "ucci", "ov", "ev", "yev", "yeva", "ovs", "ovа"}

// surnameSuffixesByLast holds surnameSuffixes by their last byte: most words
// end in a byte that no suffix ends in, and the others are compared with a
// few suffixes instead of all of them (surnameShaped runs for every word of
// a text typed without capitals; the 35 comparisons were a sixth of the
// CPU of a 1 KB event's ingestion).
var surnameSuffixesByLast = func() (m [256][]string) {
	for _, s := range surnameSuffixes {
		m[s[len(s)-1]] = append(m[s[len(s)-1]], s)
	}
	return m
}()

// surnameShaped reports a capitalised word of five letters or more that
// ends like a family name.
func surnameShaped(w string) bool {
	if len(w) == 0 {
		return false
	}
	sufs := surnameSuffixesByLast[w[len(w)-1]]
	if len(sufs) == 0 || utf8.RuneCountInString(w) < 5 {
		return false
	}
	for _, suf := range sufs {
		if strings.HasSuffix(w, suf) {
			return true
		}
	}
	return false
}

// nameEnd drops a possessive from a name span.
func nameEnd(t string, s, e int) int {
	return s + len(nameKey(t[s:e]))
}

// maxContextScan bounds the context-based PII passes on huge texts.
const maxContextScan = 256 << 10

var streetRe = regexp.MustCompile(`\b\d{1,6}[A-Za-z]?(?:[ \t]+[\p{Lu}][\p{L}'.-]*){1,4}[ \t]+(?i:street|st\.|avenue|ave\.?|road|rd\.|boulevard|blvd\.?|lane|ln\.|drive|dr\.|court|ct\.|way|place|pl\.|terrace|square|highway|hwy\.?|parkway|pkwy\.?|circle|crescent|close)\b` +
	`|\b[\p{Lu}][\p{L}-]*(?i:stra(?:ss|ß)e|str\.|weg|gasse|allee|platz|katu|tie|vej|gade|gatan|vägen|veien|laan|straat|plein|utca|út)[ \t]+\d{1,5}[A-Za-z]?\b` +
	`|\b(?i:rua|avenida|avda\.|av\.|calle|via|viale|rue|boulevard|ul\.|ulica|chemin|route|piazza|plaza)[ \t]+(?:\p{Lu}[\p{L}'.-]*[ \t]+){1,4}?\d{1,5}[A-Za-z]?\b` +
	`|\b\d{1,5}[ \t,]+(?i:rue|avenue|boulevard|chemin|allée|place)[ \t]+[\p{L}'. -]{2,40}` +
	// House number, street name, number ("28245 Puruntie 82", "3482 Via
	// Franscini 71", "233 Erzsébet tér 19.", "6076 Piroska u. 97.").
	`|\b\d{1,6} (?:\p{Lu}\p{Ll}[\p{L}'-]*\.? ){1,3}(?:(?:u\.|tér|utca|út|str\.?|ul\.|vej|gade|gata) )?\d{1,5}[A-Za-z]?\b` +
	// Post-office and military boxes, with the APO/FPO/DPO line after them.
	`|\b(?i:P\.? ?O\.? Box|(?:PSC|Unit) \d{1,5},? Box)[ \t]+\d{1,6}\b(?:[ \t]*\r?\n[ \t>]*(?i:[AFD]PO (?:AA|AE|AP)) \d{5}\b)?`)

// streetRe2 holds the rarer street forms; it runs only where streetRe
// finds no street around a number (two smaller patterns cost less per
// window than one with every form).
var streetRe2 = regexp.MustCompile(
	// "St" without its dot ends a street at a line or text end or before a
	// comma ("2450 Crown St", "2027 Prospect St, Dehylov").
	`\b\d{1,6}(?:[ \t]+\p{Lu}[\p{L}'.-]*){1,3}[ \t]+St(?:$|[,\r\n])` +
		// Ships' addresses: "USNS Bergman\nFPO AP 93757".
		`|\b(?i:USNS|USNV|USS|USCGC) \p{L}[\p{L}'-]+[ \t]*\r?\n[ \t>]*(?i:[AFD]PO (?:AA|AE|AP)) \d{5}\b` +
		// A street word standing apart after the name ("Villacher Strasse 89",
		// "Luite tee 87", "Trenerys gate 232", "Csabai kapu 39.").
		`|(?:^|[^\p{L}\p{N}])\p{Lu}[\p{L}-]+ (?i:stra(?:ss|ß)e|str\.|weg|gasse|allee|platz|tee|gate|gata|gatan|vei|veien|vegen|vej|gade|stræde|straat|laan|utca|út|útja|u\.|tér|körút|kapu|braut|vegur|katu|tie|polku|kuja) \d{1,5}[A-Za-z]?\b` +
		// A name, house number and street word ("Hoge Wei 32 St.", "Grössgstötten
		// 50 street").
		`|(?:^|[^\p{L}\p{N}])\p{Lu}[\p{L}'-]+(?: (?:\p{Lu}[\p{L}'-]+|de|da|do|dos|das|del|van|von|der|den|ten|ter|la|le|e|y|di)){0,3} \d{1,5} (?:street|St\.)` +
		// Spanish "C/" (calle) and Latin street words with particles ("Rua Vinte e
		// Cinco de Setembro 1257").
		`|\b(?:C/|(?i:rua|avenida|calle|via|rúa)) ?\p{Lu}[\p{L}'.-]*(?: (?:\p{Lu}[\p{L}'.-]*|\p{Ll}{1,3})){0,5} \d{1,5}[A-Za-z]?\b`)

var aptRe = regexp.MustCompile(`(?i)\b(?:apt\.?|apartment|suite|unit|flat)[ \t]+#?\d{1,5}[A-Za-z]?\b`)

// plausibleAddress rejects street-shaped matches that are dates ("18
// December 2022"), titles ("5 Musicians Of The 70s"), references ("2
// Samuel 11:4") or parts of a product code ("M.2 Internal … Drive").
func plausibleAddress(t string, s, e int) bool {
	if s > 0 && (t[s-1] == '.' || isAlnum(t[s-1])) {
		return false
	}
	if e+1 < len(t) && t[e] == ':' && isDigit(t[e+1]) {
		return false
	}
	for w := range strings.FieldsSeq(t[s:e]) {
		if notName[strings.Trim(w, ".,")] {
			return false
		}
	}
	return true
}

// lineStart reports whether only spaces and quote marks (">") stand
// between i and the start of its line.
func lineStart(t string, i int) bool {
	for i > 0 && (t[i-1] == ' ' || t[i-1] == '\t' || t[i-1] == '>') {
		i--
	}
	return i == 0 || t[i-1] == '\n'
}

// streetAddresses appends pii.address findings. Every address form has a
// house number, so the patterns run only in a window around each number.
func streetAddresses(t string, add func(det string, sc float64, s, e int)) {
	if len(t) > maxContextScan {
		t = t[:maxContextScan]
	}
	last := 0 // end of the last finding
	for i := 0; i < len(t); i++ {
		if !isDigit(t[i]) || i > 0 && isDigit(t[i-1]) {
			continue
		}
		if cs, ce, ok := cornerAddress(t, i, last); ok {
			add("address", 0.7, cs, ce)
			last, i = ce, ce
			continue
		}
		ws, we := max(last, i-60), min(len(t), i+80)
		for ws > last && ws < len(t) && !utf8.RuneStart(t[ws]) {
			ws++
		}
		for we < len(t) && !utf8.RuneStart(t[we]) {
			we++
		}
		w := t[ws:we]
		m := streetRe.FindStringIndex(w)
		if (m == nil || ws+m[0] > i || ws+m[1] < i) && rareStreetHint(t, i) {
			// The rarer forms are short: a smaller window around the number.
			lo, hi := max(ws, i-50), min(we, i+30)
			for lo < hi && !utf8.RuneStart(t[lo]) {
				lo++
			}
			for hi < we && !utf8.RuneStart(t[hi]) {
				hi++
			}
			if m = streetRe2.FindStringIndex(t[lo:hi]); m != nil {
				m[0], m[1] = m[0]+lo-ws, m[1]+lo-ws
			}
		}
		if m == nil || ws+m[0] > i || ws+m[1] < i {
			// An apartment or suite on its own line of an address block.
			if a := aptRe.FindStringIndex(w); a != nil && ws+a[0] < i && ws+a[1] > i && lineStart(t, ws+a[0]) {
				e := placeTail(t, ws+a[1])
				add("address", 0.7, ws+a[0], e)
				last = e
				i = last
			}
			continue // the match must contain this number
		}
		s, e := ws+m[0], ws+m[1]
		for s < e && t[s] < utf8.RuneSelf && !isAlnum(t[s]) {
			s++ // the boundary character of a pattern (`[^\p{L}\p{N}]`)
		}
		for e > s && (t[e-1] == ',' || t[e-1] == '\n' || t[e-1] == '\r') {
			e-- // the end mark of "… St"
		}
		if !plausibleAddress(t, s, e) {
			continue
		}
		for range 2 { // "Suite 697 Apt. 397"
			a := aptRe.FindStringIndex(t[e:min(len(t), e+24)])
			if a == nil || strings.TrimSpace(strings.Trim(t[e:e+a[0]], ", ")) != "" {
				break
			}
			e += a[1]
		}
		s = addressHead(t, s, last)
		e = placeTail(t, e)
		add("address", 0.7, s, e)
		last = e
		i = e
	}
}

// hasUpper reports whether t holds an upper-case letter. Texts without
// any (typed in lower case) carry no capitalisation evidence, so their
// names are found by lowerNames instead.
func hasUpper(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c >= 'A' && c <= 'Z' {
			return true
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(t[i:])
			if unicode.IsUpper(r) {
				return true
			}
			i += n - 1
		}
	}
	return false
}

// listSeps join the members of a coordinated list of names.
var listSeps = []string{", and ", ", or ", ", ", " and ", " & ", " or "}

// listNames extends the names found in t to the other members of the
// lists they stand in: "They had 6: Efimiya, Mary, Ariana and Jodi" —
// once Ariana and Jodi are people, so are their capitalised neighbours.
// A neighbour that is a function word, a place or an organisation word,
// or is followed by a house number (an address) is not; with only one
// found name in the list, a neighbour must itself be a gazetteer name
// that is no place ("Usamov and Bowers", but not "Spain, China, Italy,
// America and Canada").
func listNames(t string, hits []nameHit, gaz map[string]names.Flags) []nameHit {
	if len(hits) == 0 {
		return hits
	}
	found := make([][2]int, len(hits), len(hits)+8)
	for k, h := range hits {
		found[k] = [2]int{h.s, h.e}
	}
	seeds := len(found)
	isSeed := func(s, e int) bool {
		for _, f := range found[:seeds] {
			if s < f[1] && f[0] < e {
				return true
			}
		}
		return false
	}
	// kind: 0 not a member, 1 unknown word(s) or a name that is also a
	// place ("Mary"), 2 a gazetteer name.
	kind := func(s, e int) int {
		k := 1
		for w := range strings.FieldsSeq(t[s:e]) {
			key := nameKey(strings.TrimRight(w, "."))
			f := gaz[key]
			if notName[key] || notPersonWord[w] || f&names.Place != 0 && f&(names.First|names.Last) == 0 || strings.ContainsAny(key, "'’") {
				return 0 // "I'm", "Spain", "Company"
			}
			if f&names.Place != 0 {
				return 1
			}
			if f&(names.First|names.Last) != 0 {
				k = 2
			}
		}
		if e+1 < len(t) && t[e] == ' ' && isDigit(t[e+1]) || e < len(t) && t[e] == '@' {
			return 0
		}
		return k
	}
	done := 0 // end of the last list handled
	for q := 0; q < seeds && len(found) < maxPIIPerDetector; q++ {
		if found[q][0] < done {
			continue
		}
		items := [][2]int{found[q]}
		for e := found[q][1]; len(items) < 20; {
			next := false
			for _, sep := range listSeps {
				if strings.HasPrefix(t[e:], sep) {
					if ns, ne, ok := nameAfter(t, e+len(sep)); ok && ns == e+len(sep) {
						ne = nameEnd(t, ns, ne)
						items = append(items, [2]int{ns, ne})
						e, next = ne, true
					}
					break
				}
			}
			if !next {
				break
			}
		}
		for s := found[q][0]; len(items) < 20; {
			next := false
			for _, sep := range listSeps {
				if !strings.HasSuffix(t[:s], sep) {
					continue
				}
				pe := s - len(sep)
				ps := pe
				for ps > 0 && t[ps-1] != ' ' && t[ps-1] != '\n' && t[ps-1] != '\t' && t[ps-1] != ':' && t[ps-1] != '"' && t[ps-1] != '(' {
					ps--
				}
				if ps < pe && capWord(t, ps) == pe {
					items = append(items, [2]int{ps, pe})
					s, next = ps, true
				}
				break
			}
			if !next {
				break
			}
		}
		done = found[q][1]
		n := 0
		for _, it := range items {
			n += b2n(isSeed(it[0], it[1]))
			done = max(done, it[1])
		}
		for _, it := range items {
			if isSeed(it[0], it[1]) {
				continue
			}
			if k := kind(it[0], it[1]); k == 2 || k == 1 && (n >= 2 || len(items) == 2 && pluralVerbAfter(t, items)) {
				found = append(found, it)
				hits = append(hits, nameHit{s: it[0], e: it[1], sc: nameMention})
			}
		}
	}
	return hits
}

// lowerNames finds names in a text typed without capitals ("olga
// krylova's killers"): a run of two or more gazetteer names, initials and
// particles that holds at least one name that is no ordinary word or
// place (olga; krylova ends like a family name), or a gazetteer name
// right after a cue ("follow up with patricia", "my name is vitoria").
func lowerNames(t string, gaz map[string]names.Flags, add func(det string, sc float64, s, e int)) {
	var buf [64]byte
	look := func(w string) names.Flags {
		r, n := utf8.DecodeRuneInString(w)
		if n == 0 || len(w)+4 > len(buf) {
			return 0
		}
		b := utf8.AppendRune(buf[:0], unicode.ToUpper(r))
		b = append(b, w[n:]...)
		f := gaz[string(b)]
		if f == 0 && surnameShaped(string(b)) {
			f = names.Last
		}
		if f != 0 && notName[string(b)] {
			return 0 // "may", "june", "sunday"
		}
		return f
	}
	strongF := func(f names.Flags) bool { return f&(names.First|names.Last) != 0 && f&(names.Word|names.Place) == 0 }
	wordEnd := func(i int) int {
		j := i
		for j < len(t) {
			r, n := utf8.DecodeRuneInString(t[j:])
			if !unicode.IsLetter(r) {
				break
			}
			j += n
		}
		return j
	}
	for i := 0; i < len(t); i++ {
		if !wordStart(t, i) {
			continue
		}
		j := wordEnd(i)
		if j-i < 3 {
			if j > i {
				i = j - 1
			}
			continue
		}
		if j < len(t) && t[j] == ',' {
			if e, ok := lowerList(t, i, look, wordEnd, add); ok {
				i = e - 1
				continue
			}
		}
		f := look(t[i:j])
		cue, hasCue := "", false
		if f&(names.First|names.Last) == 0 {
			// An unknown word right after "my name is" or "call me" is a name
			// unless it is a function word or an inflected one ("my name is
			// spelled…").
			if i < 3 || t[i-1] != ' ' || strings.IndexByte("seo", t[i-2]|0x20) < 0 {
				i = j - 1 // no naming cue ("… is", "… me", "llamo") ends here
				continue
			}
			if pw, _ := prevWord(t, i); !foldIn(pw, "is", "me", "appelle", "llamo", "chiamo") {
				i = j - 1 // no naming cue can end here (cheap test before cueBefore)
				continue
			}
			if cue, hasCue = cueBefore(t, i); !hasCue || !lowerNamingCue[cue] || !lowerNameShaped(t[i:j]) {
				i = j - 1
				continue
			}
			f = names.First
		} else {
			cue, hasCue = cueBefore(t, i)
			hasCue = hasCue && (!weakCue[cue] || f&names.Word == 0) // "by foot"
		}
		strongTok := strongF(f)
		tokens := 1
		// Extend over following names, initials ("a", "m.") and particles.
		e := j
		for e+1 < len(t) && t[e] == ' ' {
			k := wordEnd(e + 1)
			if k == e+1 {
				break
			}
			w := t[e+1 : k]
			if k-(e+1) == 1 && k+1 < len(t) && (t[k] == ' ' || t[k] == '.' && k+2 < len(t) && t[k+1] == ' ') {
				if kk := k + 1 + b2n(t[k] == '.'); kk < len(t) {
					if nk := wordEnd(kk); nk-kk >= 3 && look(t[kk:nk])&(names.First|names.Last) != 0 {
						e = nk // "benjamin a seiler", "eric g. samoylova"
						strongTok = strongTok || strongF(look(t[kk:nk]))
						tokens += 2
						continue
					}
				}
				break
			}
			g := look(w)
			if g&(names.First|names.Last) == 0 && !(nameParticles[w] && k+1 < len(t)) {
				break
			}
			if nameParticles[w] {
				nk := wordEnd(k + 1)
				if nk-(k+1) < 3 || look(t[k+1:nk])&(names.First|names.Last) == 0 {
					break
				}
				e = nk
				tokens += 2
				continue
			}
			strongTok = strongTok || strongF(g)
			tokens++
			e = k
		}
		// Without capitals a lone name is too often a place or a brand
		// ("flights to dallas", "call joe" is the exception): it needs a
		// cue; a run of two or more needs one name that is no word.
		if hasCue || tokens >= 2 && strongTok || tokens == 1 && e+1 < len(t) && t[e] == ' ' && hasWordPrefix(t[e+1:], personVerbs) && sentenceStart(t, i) {
			sc := nameMention
			if hasCue {
				sc = cueScore(cue)
			}
			add("person", sc, i, nameEnd(t, i, e))
		}
		i = e - 1
	}
}

func b2n(b bool) int {
	if b {
		return 1
	}
	return 0
}

// blockName returns the span of a first line that holds only two or
// three capitalised words (a middle initial allowed): the name that opens
// a contact card or an address label ("Janka M. Szász\n\nPhone: …") when
// contact data follows it (see piiScanner.Scan). Later lines of such
// blocks are mostly companies and places ("Knowledge Agency", "Cite Belle
// Vue"), so only the first counts.
func blockName(t string) (s, e int, ok bool) {
	le := strings.IndexByte(t, '\n')
	if le < 0 {
		return 0, 0, false
	}
	s, e = 0, le
	for s < e && (t[s] == ' ' || t[s] == '>' || t[s] == '\t') {
		s++
	}
	for e > s && (t[e-1] == ' ' || t[e-1] == '\r' || t[e-1] == ',') {
		e--
	}
	return s, e, s < e && e-s <= 60 && nameLine(t, s, e)
}

// nameLine reports whether t[s:e] is two or three capitalised words,
// none of them a function word or a place/organisation word.
func nameLine(t string, s, e int) bool {
	words, full := 0, 0
	for i := s; i < e; {
		j := capWord(t, i)
		if j < 0 {
			return false
		}
		w := t[i:j]
		if notName[strings.TrimRight(w, ".")] || notPersonWord[w] {
			return false
		}
		words++
		if j-i > 2 {
			full++
		}
		for j < e && t[j] == ' ' {
			j++
		}
		if j < e && !wordStart(t, j) {
			return false
		}
		i = j
	}
	return words >= 2 && words <= 3 && full >= 2
}
