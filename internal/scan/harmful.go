package scan

import "context"

// HarmCategories are the harmful-content sub-categories; detector names are
// "harmful.<category>".
var HarmCategories = []string{"hate", "harassment", "violence", "self_harm", "sexual_minors", "illegal"}

// harmfulScanner is a learned lexical classifier with one head per harm
// category, plus a small lexicon that raises categories the public training
// data barely covers (sexual content involving minors, self-harm).
type harmfulScanner struct {
	model *learned
	heads []int    // result index per HarmCategories entry, -1 without a head
	lex   *matcher // over lexP, or shared with other scanners from base on
	base  int
	lexP  []string
	lexC  []int // lexicon pattern -> category index
}

var harmLexicon = map[string][]string{
	"sexual_minors": {"child porn", "cp pics", "underage sex", "sex with a minor", "sex with minors", "sexual images of children",
		"nude children", "naked children", "lolicon", "preteen nude", "sexualize children", "csam"},
	"self_harm": {"kill myself", "end my life", "commit suicide", "suicide method", "how to cut myself", "want to die",
		"hang myself", "overdose on", "self-harm", "painless way to die"},
	"violence": {"build a bomb", "make a bomb", "pipe bomb", "mass shooting", "kill people", "murder someone", "poison someone",
		"make a weapon", "shoot up"},
	"illegal": {"make meth", "cook meth", "synthesize", "launder money", "money laundering", "buy drugs", "counterfeit",
		"steal a car", "hotwire", "hack into", "ransomware", "credit card fraud", "fake id", "smuggle"},
}

func newHarmfulScanner(l *learned) *harmfulScanner {
	s := &harmfulScanner{model: l}
	for _, c := range HarmCategories {
		s.heads = append(s.heads, l.head("harmful.wlm", c))
	}
	var pats []string
	for ci, c := range HarmCategories {
		for _, p := range harmLexicon[c] {
			pats = append(pats, p)
			s.lexC = append(s.lexC, ci)
		}
	}
	s.lexP = pats
	s.lex = newMatcher(pats)
	return s
}

func (*harmfulScanner) Name() string { return ScannerHarmful }

func (s *harmfulScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	if len(in.Norm) == 0 {
		return nil, nil
	}
	var lex [8]float64
	var lexSpan [8][2]int
	for _, mt := range in.matches(s.lex) {
		id, end := int(mt.id)-s.base, int(mt.end)
		if id < 0 || id >= len(s.lexP) {
			continue
		}
		st := end - len(s.lexP[id])
		if st > 0 && isWordChar(in.Norm[st-1]) {
			continue
		}
		c := s.lexC[id]
		lex[c] = 0.6
		lexSpan[c] = [2]int{st, end}
	}
	var out []Finding
	res := in.scores(s.model)
	for ci, c := range HarmCategories {
		sc := 0.0
		sp := [2]int{0, len(in.Norm)}
		if h := s.heads[ci]; h >= 0 {
			r := res[h]
			sc = r.Max()
			if r.Best.Score > r.Whole {
				sp = [2]int{r.Best.Start, r.Best.End}
			}
		}
		if lex[ci] > 0 {
			sc = noisyOr(sc, lex[ci])
			sp = lexSpan[ci]
		}
		if sc < 0.5 {
			continue
		}
		st, en := in.Span(sp[0], sp[1])
		out = append(out, Finding{Detector: "harmful." + c, Category: CatHarmful, Score: round3(sc), Start: st, End: en})
	}
	return out, nil
}
