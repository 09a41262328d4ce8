package scan

import "context"

// refusalScanner detects a model refusing in an output. Refusals open the
// answer, so only the first 300 normalized bytes are weighed fully.
type refusalScanner struct {
	m *matcher
	w []float64
}

var refusalPhrases = []struct {
	w    float64
	pats []string
}{
	{0.9, []string{
		"i can't assist", "i cannot assist", "i can't help with", "i cannot help with", "i can't provide",
		"i cannot provide", "i won't provide", "i will not provide", "i'm not able to provide", "i am not able to provide",
		"i'm unable to", "i am unable to", "i can't fulfill", "i cannot fulfill", "i can't comply", "i cannot comply",
		"i must decline", "i have to decline", "i won't be able to", "i will not be able to", "i can't do that",
		"i cannot do that", "i won't help", "i will not help", "i'm not going to help", "i can't support",
		"i cannot support", "i can not", "i can't create", "i cannot create", "i can't write", "i cannot write",
		"i can't give", "i cannot give", "i can't answer", "i cannot answer", "i'm not comfortable", "i am not comfortable",
		"it is not appropriate", "it's not appropriate", "it would be inappropriate", "i cannot engage", "i can't engage",
		"i'm sorry, but i can", "sorry, but i can", "i apologize, but i", "i'm sorry, but as", "i can't share",
		"i cannot share", "i can't generate", "i cannot generate", "i can't recommend", "i cannot recommend",
		"i'm not able to help", "i am not able to help", "not able to assist", "unable to assist",
		"ich kann dabei nicht helfen", "je ne peux pas", "no puedo ayudar", "я не могу", "我不能", "我无法", "申し訳ありませんが",
	}},
	{0.6, []string{
		"as an ai", "as a language model", "against my programming", "against my guidelines", "violates",
		"not ethical", "unethical", "illegal and", "is illegal", "is harmful", "i strongly advise against",
		"i'd strongly advise", "i must emphasize", "i'm sorry", "i am sorry", "i apologize", "please seek",
		"seek professional help", "it is never okay", "it's never okay", "is not something i", "i would advise against",
		"i don't feel comfortable", "i do not feel comfortable", "instead, i", "however, i can",
	}},
}

func newRefusalScanner() *refusalScanner {
	s := &refusalScanner{}
	var pats []string
	for _, g := range refusalPhrases {
		for _, p := range g.pats {
			pats = append(pats, p)
			s.w = append(s.w, g.w)
		}
	}
	s.m = newMatcher(pats)
	return s
}

func (*refusalScanner) Name() string { return ScannerRefusal }

func (s *refusalScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	if in.Role != Output {
		return nil, nil
	}
	head := in.Norm
	if len(head) > 600 {
		head = head[:600]
	}
	// Curly apostrophes are common in model output.
	best, bs, be := 0.0, 0, 0
	score := 0.0
	s.m.each(head, func(id, end int) {
		w := s.w[id]
		if end > 300 {
			w *= 0.6
		}
		score = noisyOr(score, w*0.7)
		if w > best {
			best, bs, be = w, end-len(s.m.pats[id]), end
		}
	})
	score = max(score, best)
	if score < minReport {
		return nil, nil
	}
	st, en := in.Span(bs, be)
	return []Finding{{Detector: "refusal.phrase", Category: CatRefusal, Score: round3(min(score, 0.99)),
		Start: st, End: en, Evidence: clip(in.Norm[bs:be], 80)}}, nil
}
