package scan

import (
	"embed"
	"fmt"
	"unicode"

	"github.com/warden-ai/warden/internal/scan/linear"
)

//go:embed weights
var weightFS embed.FS

func loadModel(name string, over map[string][]byte) (*linear.Model, error) {
	b, ok := over[name]
	var err error
	if !ok {
		b, err = weightFS.ReadFile("weights/" + name)
	}
	if err != nil {
		return nil, fmt.Errorf("read embedded weights %s (run cmd/scantrain): %w", name, err)
	}
	m, err := linear.Load(b)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", name, err)
	}
	return m, nil
}

// learned holds the linear models of the learned scanners. When their hash
// sizes agree they are merged into one model, so a text's features are
// extracted once and looked up once for every head of every scanner.
type learned struct {
	models []*linear.Model
	heads  map[string]int // "file/head" -> index into the concatenated results
}

func newLearned(over map[string][]byte, files ...string) (*learned, error) {
	l := &learned{heads: map[string]int{}}
	var ms []*linear.Model
	n := 0
	for _, f := range files {
		m, err := loadModel(f, over)
		if err != nil {
			return nil, err
		}
		for i, h := range m.Heads {
			l.heads[f+"/"+h] = n + i
		}
		n += len(m.Heads)
		ms = append(ms, m)
	}
	if merged, err := linear.Merge(ms...); err == nil {
		l.models = []*linear.Model{merged}
	} else {
		l.models = ms
	}
	return l, nil
}

// head returns the result index of a head or -1.
func (l *learned) head(file, name string) int {
	if i, ok := l.heads[file+"/"+name]; ok {
		return i
	}
	return -1
}

// scores returns the results of every head of l for in.Norm, computing them
// once per Doc (the injection and harmful scanners share them).
func (in *Doc) scores(l *learned) []linear.Result {
	in.lmu.Lock()
	defer in.lmu.Unlock()
	if in.lfor == l {
		return in.lres
	}
	in.lres = in.lres[:0]
	in.lfor = l
	if !enoughEvidence(in.Norm) {
		// One or two words, numbers or punctuation: a learned model has
		// nothing to go on and its bias alone is not a probability.
		for _, m := range l.models {
			for range m.Heads {
				in.lres = append(in.lres, linear.Result{Best: linear.Window{End: len(in.Norm)}})
			}
		}
		return in.lres
	}
	in.lx.Reset(in.Norm)
	for _, m := range l.models {
		in.lres = m.ScoreInto(in.lres, &in.lx)
	}
	return in.lres
}

// MinEvidenceWords is the number of words (runs of letters; each
// ideograph or kana counts half a word) below which the learned models give
// no score.
const MinEvidenceWords = 3

// enoughEvidence reports whether norm has at least MinEvidenceWords words.
// Numbers and punctuation are not words. It stops reading as soon as the
// answer is known, so it costs a few bytes on ordinary text.
func enoughEvidence(norm string) bool {
	words, half := 0, 0
	inWord := false
	for _, r := range norm {
		switch {
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar):
			half++
			inWord = false
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) || r == '\'' && inWord:
			if !inWord {
				words++
				inWord = true
			}
		default:
			inWord = false
		}
		if 2*words+half >= 2*MinEvidenceWords {
			return true
		}
	}
	return false
}
