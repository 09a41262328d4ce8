package scan

// matcher is a byte-level Aho-Corasick automaton over lower-case patterns.
// The trie keeps sorted sparse edges and failure links; from them a dense
// DFA over byte classes (bytes that occur in no pattern share one class) is
// precomputed, so matching costs one table load per input byte. It is
// immutable after build.
type matcher struct {
	root  [256]int32
	edges [][]edge
	fail  []int32
	out   [][]int32 // pattern ids ending at each state (including via fail links)
	pats  []string

	class  [256]uint8 // byte -> class; class 0 is "in no pattern"
	nclass int
	dfa    []uint16 // dfa[state*nclass+class] | outFlag; nil when the states do not fit 15 bits
}

// outFlag marks DFA entries whose target state ends a pattern, so the scan
// loop touches m.out only on matches.
const outFlag = 1 << 15

type edge struct {
	b    byte
	next int32
}

func (m *matcher) child(s int32, c byte) int32 {
	if s == 0 {
		return m.root[c]
	}
	es := m.edges[s]
	lo, hi := 0, len(es)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if es[h].b < c {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo < len(es) && es[lo].b == c {
		return es[lo].next
	}
	return -1
}

func newMatcher(pats []string) *matcher {
	m := &matcher{pats: pats}
	m.edges = [][]edge{nil}
	m.out = [][]int32{nil}
	rootSet := [256]bool{}
	for id, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := p[i]
			var nx int32 = -1
			if s == 0 {
				if rootSet[c] {
					nx = m.root[c]
				}
			} else {
				for _, e := range m.edges[s] {
					if e.b == c {
						nx = e.next
						break
					}
				}
			}
			if nx < 0 {
				nx = int32(len(m.edges))
				m.edges = append(m.edges, nil)
				m.out = append(m.out, nil)
				if s == 0 {
					m.root[c], rootSet[c] = nx, true
				} else {
					m.edges[s] = insertEdge(m.edges[s], edge{c, nx})
				}
			}
			s = nx
		}
		m.out[s] = append(m.out[s], int32(id))
	}
	m.fail = make([]int32, len(m.edges))
	var queue []int32
	for c := 0; c < 256; c++ {
		if rootSet[c] {
			queue = append(queue, m.root[c])
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range m.edges[s] {
			f := m.fail[s]
			for {
				if n := m.child(f, e.b); n >= 0 && n != e.next {
					m.fail[e.next] = n
					break
				}
				if f == 0 {
					m.fail[e.next] = 0
					break
				}
				f = m.fail[f]
			}
			m.out[e.next] = append(m.out[e.next], m.out[m.fail[e.next]]...)
			queue = append(queue, e.next)
		}
	}
	m.buildDFA()
	return m
}

// buildDFA resolves every failure chain ahead of time.
func (m *matcher) buildDFA() {
	m.nclass = 1
	for _, p := range m.pats {
		for i := 0; i < len(p); i++ {
			if c := p[i]; m.class[c] == 0 {
				m.class[c] = uint8(m.nclass)
				m.nclass++
			}
		}
	}
	if len(m.edges) > outFlag || m.nclass > 256 {
		return
	}
	var rep [256]byte // a byte of each class
	for c := 255; c >= 0; c-- {
		rep[m.class[c]] = byte(c)
	}
	nc := m.nclass
	m.dfa = make([]uint16, len(m.edges)*nc)
	// States in BFS order: a state's failure target is resolved first.
	// Class 0 bytes occur in no pattern and always lead back to the root.
	order := []int32{0}
	for i := 0; i < len(order); i++ {
		s := order[i]
		for k := 1; k < nc; k++ {
			var nx int32
			if n := m.child(s, rep[k]); n >= 0 {
				nx = n
			} else if s != 0 {
				nx = int32(m.dfa[int(m.fail[s])*nc+k] &^ outFlag)
			}
			m.dfa[int(s)*nc+k] = uint16(nx)
		}
		if s == 0 {
			for c := 0; c < 256; c++ {
				if m.rootSet(byte(c)) {
					order = append(order, m.root[c])
				}
			}
		} else {
			for _, e := range m.edges[s] {
				order = append(order, e.next)
			}
		}
	}
	for i, nx := range m.dfa {
		if len(m.out[nx]) > 0 {
			m.dfa[i] = nx | outFlag
		}
	}
}

func (m *matcher) rootSet(c byte) bool {
	n := m.root[c]
	return n > 0 && m.class[c] != 0
}

func insertEdge(es []edge, e edge) []edge {
	i := 0
	for i < len(es) && es[i].b < e.b {
		i++
	}
	es = append(es, edge{})
	copy(es[i+1:], es[i:])
	es[i] = e
	return es
}

// each calls fn(patternID, end) for every match in s; end is exclusive.
func (m *matcher) each(s string, fn func(id int, end int)) {
	if m.dfa != nil {
		nc := m.nclass
		st := 0
		for i := 0; i < len(s); i++ {
			nx := m.dfa[st*nc+int(m.class[s[i]])]
			st = int(nx &^ outFlag)
			if nx&outFlag != 0 {
				for _, id := range m.out[st] {
					fn(int(id), i+1)
				}
			}
		}
		return
	}
	st := int32(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		for {
			if n := m.child(st, c); n >= 0 {
				st = n
				break
			}
			if st == 0 {
				break
			}
			st = m.fail[st]
		}
		for _, id := range m.out[st] {
			fn(int(id), i+1)
		}
	}
}

// match is one pattern occurrence: pattern id and exclusive end offset.
type match struct{ id, end int32 }

// maxMatches bounds the matches kept per text (a 100 KB text of repeated
// trigger words stays bounded).
const maxMatches = 1 << 16

// matches returns the occurrences of m's patterns in in.Norm, computed once
// per Doc: the injection signatures and the harmful-content lexicon share
// one automaton (see New), so the text is walked once for both.
func (in *Doc) matches(m *matcher) []match {
	in.lmu.Lock()
	defer in.lmu.Unlock()
	if in.mfor == m {
		return in.mres
	}
	res := in.mres[:0]
	m.each(in.Norm, func(id, end int) {
		if len(res) < maxMatches {
			res = append(res, match{int32(id), int32(end)})
		}
	})
	in.mres, in.mfor = res, m
	return res
}
