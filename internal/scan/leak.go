package scan

import (
	"context"
	"hash/fnv"
	"strings"
	"sync"
)

// leakScanner detects system-prompt leakage in outputs: registered canary
// tokens, and word 5-gram overlap with the registered system prompt.
type leakScanner struct {
	mu    sync.Mutex
	cache map[string]map[uint64]struct{} // system prompt -> shingles; bounded
}

func newLeakScanner() *leakScanner {
	return &leakScanner{cache: make(map[string]map[uint64]struct{})}
}

func (*leakScanner) Name() string { return ScannerLeak }

const shingle = 5

// shingles hashes every run of 5 consecutive words of a normalized text.
func shingles(norm string, fn func(h uint64, start, end int)) {
	var starts [shingle]int
	var ends [shingle]int
	var words [shingle]string
	n := 0
	for i := 0; i < len(norm); {
		for i < len(norm) && !isWordChar(norm[i]) {
			i++
		}
		j := i
		for j < len(norm) && isWordChar(norm[j]) {
			j++
		}
		if j == i {
			break
		}
		copy(starts[:], starts[1:])
		copy(ends[:], ends[1:])
		copy(words[:], words[1:])
		starts[shingle-1], ends[shingle-1], words[shingle-1] = i, j, norm[i:j]
		n++
		if n >= shingle {
			h := fnv.New64a()
			for _, w := range words {
				h.Write([]byte(w))
				h.Write([]byte{0})
			}
			fn(h.Sum64(), starts[0], ends[shingle-1])
		}
		i = j
	}
}

func (s *leakScanner) promptShingles(sp string) map[uint64]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.cache[sp]; ok {
		return m
	}
	m := make(map[uint64]struct{})
	d := NewDoc(sp, Input, Context{})
	shingles(d.Norm, func(h uint64, _, _ int) { m[h] = struct{}{} })
	if len(s.cache) >= 64 {
		clear(s.cache)
	}
	s.cache[sp] = m
	return m
}

func (s *leakScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	if in.Role != Output {
		return nil, nil
	}
	var out []Finding
	for _, c := range in.Context.Canaries {
		if len(c) < 4 {
			continue
		}
		if i := strings.Index(in.Text, c); i >= 0 {
			out = append(out, Finding{Detector: "leak.canary", Category: CatSystemPromptLeak, Score: 1,
				Start: i, End: i + len(c), Evidence: "canary token"})
		}
	}
	if in.Context.SystemPrompt == "" {
		return out, nil
	}
	ref := s.promptShingles(in.Context.SystemPrompt)
	if len(ref) == 0 {
		return out, nil
	}
	matched := make(map[uint64]struct{})
	first, last := -1, -1
	shingles(in.Norm, func(h uint64, st, en int) {
		if _, ok := ref[h]; ok {
			matched[h] = struct{}{}
			if first < 0 {
				first = st
			}
			last = en
		}
	})
	if len(matched) == 0 {
		return out, nil
	}
	// Coverage of the system prompt by the output.
	cov := float64(len(matched)) / float64(len(ref))
	sc := min(1, cov*2)
	if len(matched) >= 8 {
		sc = max(sc, 0.8)
	}
	if sc >= 0.2 {
		st, en := in.Span(first, last)
		out = append(out, Finding{Detector: "leak.overlap", Category: CatSystemPromptLeak, Score: round3(sc),
			Start: st, End: en, Evidence: "overlap with the registered system prompt"})
	}
	return out, nil
}
