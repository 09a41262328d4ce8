package scan

import (
	"context"
	"strings"
)

// HarmCategories are the harmful-content sub-categories reported on
// outputs; detector names are "harmful.<category>" (learned) and
// "harmful.lexicon.<category>" (phrase list).
var HarmCategories = []string{"hate", "harassment", "violence", "sexual", "self_harm", "sexual_minors", "illegal"}

// contentHeads maps HarmCategories to the harmful.wlm head trained for it
// ("" = lexicon only).
var contentHeads = map[string]string{"hate": "hate", "harassment": "toxic", "violence": "violence", "sexual": "sexual", "self_harm": "self_harm"}

// harmfulScanner separates two questions. On inputs: does the user ask for
// harmful help (category harmful_request, one learned head trained on
// requests against hard benign negatives that only talk about dangerous
// topics)? On outputs: is the text itself harmful content (category
// harmful, learned heads trained on toxicity and moderation data)? A small
// phrase lexicon adds categories the public data barely covers (sexual
// content involving minors, self-harm encouragement) as separate findings.
type harmfulScanner struct {
	model   *learned
	request int   // result index of the request head, -1 without
	heads   []int // result index per HarmCategories entry, -1 without a head
	lex     *matcher
	base    int
	lexP    []string
	lexC    []int  // lexicon pattern -> category index
	lexOut  []bool // pattern only counts on outputs (addressed to the reader)

	// Harm cues (harmstructure.go) share the automaton from hbase on; the
	// harm second stage (harmstage2.go) reads them on inputs.
	hpats            []string
	hgroup           []uint8
	hstem            []bool
	hbound           []bool
	hbase            int
	inj, hate, toxic int // first-stage heads the second stage reads
	stage            *harmStage2
}

var harmLexicon = map[string][]string{
	"sexual_minors": {"child porn", "cp pics", "underage sex", "sex with a minor", "sex with minors", "sexual images of children",
		"nude children", "naked children", "lolicon", "preteen nude", "sexualize children", "csam"},
	"self_harm": {"kill myself", "end my life", "commit suicide", "suicide method", "how to cut myself", "want to die",
		"hang myself", "painless way to die"},
	"violence": {"build a bomb", "make a bomb", "pipe bomb", "mass shooting", "kill people", "murder someone", "poison someone"},
	"illegal":  {"make meth", "cook meth", "launder money", "credit card fraud", "fake id"},
}

// harmLexiconOutput are phrases that encourage the reader to hurt
// themselves: harmful in an output whatever the topic of the conversation.
var harmLexiconOutput = []string{"kill yourself", "you should die", "you deserve to die", "end your life", "end your own life",
	"nobody would miss you", "no one would miss you", "world would be better without you", "better off dead", "slit your wrists",
	"hang yourself", "go die", "you should just die", "cut yourself", "starve yourself", "take your own life",
	// instructions: harmful in an output whoever asked
	"painless way to die", "painless ways to die", "suicide method", "suicide methods", "methods of suicide",
	"ways to commit suicide", "how to commit suicide", "cut along the vein", "cut vertically along", "enough pills to die",
	"lethal dose to end", "hanging is the most", "most effective way to kill yourself",
	"tie a noose", "tying a noose", "rope around your neck", "to commit suicide, there are", "to kill yourself, there are",
	"to end your life, there are", "if you want to end your life"}

// negations that turn an output phrase into its opposite ("please don't
// kill yourself", "I can't describe suicide methods").
var harmNegations = []string{"not ", "n't ", "never ", "cannot ", "refuse", "no one should ", "nobody should ", "won't ", "against "}

// negatedBefore reports a negation earlier in the same sentence, at most
// 100 bytes before st ("I cannot provide instructions or advice on how to
// hang yourself").
func negatedBefore(norm string, st int) bool {
	w := norm[max(0, st-100):st]
	if i := strings.LastIndexAny(w, ".!?\n"); i >= 0 {
		w = w[i+1:]
	}
	for _, n := range harmNegations {
		if strings.Contains(w, n) {
			return true
		}
	}
	return false
}

func newHarmfulScanner(l *learned) *harmfulScanner {
	s := &harmfulScanner{model: l, request: l.head("harmful.wlm", "request"),
		inj: l.head("injection.wlm", "injection"), hate: l.head("harmful.wlm", "hate"), toxic: l.head("harmful.wlm", "toxic")}
	s.hpats, s.hgroup, s.hstem = harmPatterns()
	for _, p := range s.hpats {
		s.hbound = append(s.hbound, isASCII(p))
	}
	for _, c := range HarmCategories {
		h := -1
		if n, ok := contentHeads[c]; ok {
			h = l.head("harmful.wlm", n)
		}
		s.heads = append(s.heads, h)
	}
	var pats []string
	for ci, c := range HarmCategories {
		for _, p := range harmLexicon[c] {
			pats = append(pats, p)
			s.lexC = append(s.lexC, ci)
			s.lexOut = append(s.lexOut, false)
		}
		if c == "self_harm" {
			for _, p := range harmLexiconOutput {
				pats = append(pats, p)
				s.lexC = append(s.lexC, ci)
				s.lexOut = append(s.lexOut, true)
			}
		}
	}
	s.lexP = pats
	s.lex = newMatcher(pats)
	return s
}

func (*harmfulScanner) Name() string { return ScannerHarmful }

// requestFloor is the lowest harmful-request score reported. The request
// head is calibrated on a pool where about half the inputs are harmful
// requests, so an ordinary greeting scores ≈ 0.4: reporting that on every
// input would be noise, not evidence.
const requestFloor = 0.5

// lexScore is the score of a lexicon phrase; outputs encouraging
// self-harm score higher (no benign reading).
const (
	lexScore       = 0.6
	lexScoreOutput = 0.9
)

func (s *harmfulScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	if len(in.Norm) == 0 {
		return nil, nil
	}
	prefix, cat := "harmful.", CatHarmful
	if in.Role == Input {
		prefix, cat = "harmful_request.", CatHarmfulRequest
	}
	var out []Finding
	var lexSeen [8]int // 1 + index in out of the category's finding
	for _, mt := range in.matches(s.lex) {
		id, end := int(mt.id)-s.base, int(mt.end)
		if id < 0 || id >= len(s.lexP) {
			continue
		}
		if s.lexOut[id] && in.Role != Output {
			continue
		}
		st := end - len(s.lexP[id])
		if s.lexOut[id] && negatedBefore(in.Norm, st) {
			continue
		}
		if st > 0 && isWordChar(in.Norm[st-1]) || end < len(in.Norm) && isWordChar(in.Norm[end]) {
			continue
		}
		c := s.lexC[id]
		sc := lexScore
		if s.lexOut[id] {
			sc = lexScoreOutput
		}
		// One finding per category: the first match, unless an output
		// phrase (encouragement, instructions) comes after a plain one
		// ("To commit suicide, there are several methods").
		if lexSeen[c] > 0 {
			if f := &out[lexSeen[c]-1]; f.Score < sc {
				f.Score, f.Evidence = sc, clip(s.lexP[id], 80)
				f.Start, f.End = in.Span(st, end)
			}
			continue
		}
		a, b := in.Span(st, end)
		out = append(out, Finding{Detector: prefix + "lexicon." + HarmCategories[c], Category: cat, Score: sc, Start: a, End: b,
			Evidence: clip(s.lexP[id], 80)})
		lexSeen[c] = len(out)
	}
	res := in.scores(s.model)
	emit := func(det string, r float64, best [2]int, floor float64) {
		if r < floor {
			return
		}
		a, b := in.Span(best[0], best[1])
		out = append(out, Finding{Detector: det, Category: cat, Score: round3(r), Start: a, End: b})
	}
	pick := func(h int) (float64, [2]int) {
		r := res[h]
		if r.Best.Score > r.Whole {
			return r.Best.Score, [2]int{r.Best.Start, r.Best.End}
		}
		return r.Whole, [2]int{0, len(in.Norm)}
	}
	if in.Role == Input {
		if s.request >= 0 {
			sc, sp := pick(s.request)
			emit("harmful_request.classifier", sc, sp, requestFloor)
		}
		if s.stage != nil && enoughEvidence(in.Norm) {
			var buf [harmStage2MaxIn]float64
			x, sp := s.harmInputs(in, buf[:0])
			emit("harmful_request.structure", s.stage.score(x), sp, harmStage2Floor)
		}
		return out, nil
	}
	for ci, c := range HarmCategories {
		if h := s.heads[ci]; h >= 0 {
			sc, sp := pick(h)
			emit("harmful."+c, sc, sp, minReport)
		}
	}
	return out, nil
}
