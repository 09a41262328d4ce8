package linear

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Model is an immutable multi-head linear model. Safe for concurrent use.
type Model struct {
	Bits  int
	Heads []string
	Bias  []float32
	Scale []float32
	W     []int8 // bucket-major: W[bucket*len(Heads)+head]
}

// Hash seeds keep the feature families apart in the shared bucket space.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	seedBi    = 0x9e3779b97f4a7c15
	seedC4    = 0x5bd1e9955bd1e995
	ngramMul  = 0x9ddfea08eb382d69 // combines word hashes into bigrams
)

// mix finishes a 64-bit hash into the 32-bit feature hash: Fibonacci
// hashing (one multiply, keep the high half), whose low bits, used as the
// bucket index, depend on all input bits.
func mix(h uint64) uint32 {
	return uint32((h ^ h>>29) * 0x9e3779b97f4a7c15 >> 32)
}

// sep marks the bytes that separate words.
var sep = func() (t [256]bool) {
	for _, c := range []byte(" \n.,!?:;\"'()[]{}*`/\\-_") {
		t[c] = true
	}
	return t
}()

// Feature is one hashed feature of a text: the hash (mask it to the model's
// bits) and the index of the window it starts in.
type Feature struct {
	H   uint32
	Win int32
}

// Extraction holds the features and windows of one normalized text. It is
// reusable: Reset overwrites it without allocating once its buffers have
// grown. An Extraction is not safe for concurrent mutation; scoring it with
// several models concurrently is safe only with separate scratch (see
// Model.ScoreInto, which uses the Extraction's own scratch).
type Extraction struct {
	Norm  string
	Feats []Feature
	Wins  [][2]int
	acc   []int32
	cnt   []int32
}

// Extract returns the extraction of norm (a convenience for tools and tests).
func Extract(norm string) *Extraction {
	x := new(Extraction)
	x.Reset(norm)
	return x
}

// Reset extracts the features of norm, which should be the scan package's
// normalized (lower-cased, whitespace-folded) text: word unigrams, word
// bigrams and character 4-grams over runes (so CJK and other
// scripts without spaces get n-grams too). Each byte of norm is hashed in
// place; nothing is allocated per feature.
func (x *Extraction) Reset(norm string) {
	x.Norm = norm
	x.Wins = Windows(x.Wins[:0], norm)
	f := x.Feats[:0]
	// Words and bigrams.
	win, nextCut := int32(0), x.cut(0)
	prev, havePrev := uint64(0), false
	for i := 0; i < len(norm); {
		for i < len(norm) && sep[norm[i]] {
			i++
		}
		if i >= len(norm) {
			break
		}
		for i >= nextCut {
			win++
			nextCut = x.cut(int(win))
		}
		h := uint64(fnvOffset)
		j := i
		for ; j < len(norm) && !sep[norm[j]]; j++ {
			h ^= uint64(norm[j])
			h *= fnvPrime
		}
		f = append(f, Feature{mix(h), win})
		if havePrev {
			f = append(f, Feature{mix(prev*ngramMul ^ h ^ seedBi), win})
		}
		prev, havePrev = h, true
		i = j
	}
	// Character 4-grams over runes: a 64-bit shift register holds the last
	// four runes, 16 bits each (exact for the Basic Multilingual Plane,
	// folded above it), so each n-gram key costs one shift and one xor.
	var key uint64
	var p1, p2, p3 int // start offsets of the last three runes
	win, nextCut = 0, x.cut(0)
	n := 0
	for i := 0; i < len(norm); {
		c := uint64(norm[i])
		sz := 1
		if c >= utf8.RuneSelf {
			r, s := utf8.DecodeRuneInString(norm[i:])
			c, sz = uint64(r), s
			c = (c ^ c>>16) & 0xFFFF
		}
		key = key<<16 | c
		n++
		if n >= 4 {
			for p3 >= nextCut {
				win++
				nextCut = x.cut(int(win))
			}
			f = append(f, Feature{mix(key ^ seedC4), win})
		}
		p3, p2, p1 = p2, p1, i
		i += sz
	}
	x.Feats = f
}

// cut returns the end offset of window w, or a huge value past the last.
func (x *Extraction) cut(w int) int {
	if w+1 >= len(x.Wins) {
		return math.MaxInt
	}
	return x.Wins[w][1]
}

// Features calls fn for every hashed feature of norm with the index of the
// window it starts in. Masks to bits are left to the caller.
func Features(norm string, fn func(h uint32, win int)) {
	x := Extract(norm)
	for _, f := range x.Feats {
		fn(f.H, int(f.Win))
	}
}

// Window is a scored byte range of the normalized text.
type Window struct {
	Start, End int
	Score      float64
}

// maybeEnd marks the bytes that can end a sentence (see boundary).
var maybeEnd = func() (t [256]bool) {
	for _, c := range []byte{'\n', '.', '!', '?', ';', 0x82, 0x81, 0x9F} {
		t[c] = true
	}
	return t
}()

// boundary reports whether a window may end after byte i of s.
func boundary(s string, i int) bool {
	c := s[i]
	if !maybeEnd[c] {
		return false
	}
	if c == '\n' {
		return true
	}
	if (c == '.' || c == '!' || c == '?' || c == ';') && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\n') {
		return true
	}
	// CJK full stops: 。！？ are E3 80 82, EF BC 81, EF BC 9F.
	if i >= 2 && (s[i-2] == 0xE3 && s[i-1] == 0x80 && c == 0x82 || s[i-2] == 0xEF && s[i-1] == 0xBC && (c == 0x81 || c == 0x9F)) {
		return true
	}
	return false
}

// MaxWindow is the target window size in bytes.
const MaxWindow = 320

// Windows splits s into sentence-packed windows of about MaxWindow bytes
// and appends their [start,end) ranges to dst. The windows tile s.
func Windows(dst [][2]int, s string) [][2]int {
	if len(s) <= MaxWindow {
		if len(s) > 0 {
			dst = append(dst, [2]int{0, len(s)})
		}
		return dst
	}
	start := 0
	for len(s)-start > MaxWindow {
		// The last sentence end within the next MaxWindow bytes.
		end := start + MaxWindow
		cut := -1
		for i := end - 1; i >= start; i-- {
			if maybeEnd[s[i]] && boundary(s, i) {
				cut = i + 1
				break
			}
		}
		if cut <= start {
			// No sentence end: cut at the last space in the second half,
			// else inside the text but never inside a UTF-8 sequence.
			cut = end
			for k := end - 1; k > start+MaxWindow/2; k-- {
				if s[k] == ' ' {
					cut = k + 1
					break
				}
			}
			for cut < len(s) && cut > start+1 && s[cut]&0xC0 == 0x80 {
				cut--
			}
		}
		dst = append(dst, [2]int{start, cut})
		start = cut
	}
	if start < len(s) {
		dst = append(dst, [2]int{start, len(s)})
	}
	return dst
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Result is the score of one head: the probability for the whole text and
// the highest-scoring window (the whole text when it is a single window).
type Result struct {
	Whole float64
	Best  Window
}

// Max is the larger of the whole-text and best-window probabilities.
func (r Result) Max() float64 { return max(r.Whole, r.Best.Score) }

// ScoreInto scores every head of m over x in one pass over the features and
// appends one Result per head to dst. It uses x's scratch buffers, so one
// Extraction must not be scored concurrently.
func (m *Model) ScoreInto(dst []Result, x *Extraction) []Result {
	nh := len(m.Heads)
	nw := max(len(x.Wins), 1)
	if cap(x.acc) < nw*nh {
		x.acc = make([]int32, nw*nh)
	}
	if cap(x.cnt) < nw {
		x.cnt = make([]int32, nw)
	}
	acc, cnt := x.acc[:nw*nh], x.cnt[:nw]
	clear(acc)
	clear(cnt)
	mask := uint32(1)<<m.Bits - 1
	w := m.W
	switch nh {
	case 1:
		for _, f := range x.Feats {
			acc[f.Win] += int32(w[f.H&mask])
			cnt[f.Win]++
		}
	case 2:
		for _, f := range x.Feats {
			b := int(f.H&mask) * 2
			a := acc[f.Win*2 : f.Win*2+2 : f.Win*2+2]
			a[0] += int32(w[b])
			a[1] += int32(w[b+1])
			cnt[f.Win]++
		}
	case 6: // the merged injection (2) + harmful (4) model
		for _, f := range x.Feats {
			b := int(f.H&mask) * 6
			ws := w[b : b+6 : b+6]
			k := int(f.Win) * 6
			a := acc[k : k+6 : k+6]
			a[0] += int32(ws[0])
			a[1] += int32(ws[1])
			a[2] += int32(ws[2])
			a[3] += int32(ws[3])
			a[4] += int32(ws[4])
			a[5] += int32(ws[5])
			cnt[f.Win]++
		}
	case 8: // the merged injection (2) + harmful (6) model
		for _, f := range x.Feats {
			b := int(f.H&mask) * 8
			ws := w[b : b+8 : b+8]
			k := int(f.Win) * 8
			a := acc[k : k+8 : k+8]
			a[0] += int32(ws[0])
			a[1] += int32(ws[1])
			a[2] += int32(ws[2])
			a[3] += int32(ws[3])
			a[4] += int32(ws[4])
			a[5] += int32(ws[5])
			a[6] += int32(ws[6])
			a[7] += int32(ws[7])
			cnt[f.Win]++
		}
	default:
		for _, f := range x.Feats {
			b := int(f.H&mask) * nh
			ws := w[b : b+nh : b+nh]
			a := acc[int(f.Win)*nh : int(f.Win)*nh+nh : int(f.Win)*nh+nh]
			for h := range a {
				a[h] += int32(ws[h])
			}
			cnt[f.Win]++
		}
	}
	var totN int32
	for _, c := range cnt {
		totN += c
	}
	for h := range nh {
		bias, sc := float64(m.Bias[h]), float64(m.Scale[h])
		var tot int64
		best := Window{Score: -1}
		for k := range nw {
			v := acc[k*nh+h]
			tot += int64(v)
			if cnt[k] == 0 || len(x.Wins) <= 1 {
				continue
			}
			p := sigmoid(bias + float64(v)*sc/math.Sqrt(float64(cnt[k])))
			if p > best.Score {
				best = Window{x.Wins[k][0], x.Wins[k][1], p}
			}
		}
		whole := sigmoid(bias)
		if totN > 0 {
			whole = sigmoid(bias + float64(tot)*sc/math.Sqrt(float64(totN)))
		}
		if best.Score < 0 {
			best = Window{0, len(x.Norm), whole}
		}
		dst = append(dst, Result{Whole: whole, Best: best})
	}
	return dst
}

// Score returns the probability of head for the whole text and the highest
// scoring window (the whole text when it is a single window). Scoring an
// Extraction with ScoreInto is cheaper when several heads or models are
// needed.
func (m *Model) Score(norm string, head int) (whole float64, best Window) {
	r := m.ScoreInto(nil, Extract(norm))[head]
	return r.Whole, r.Best
}

// Head returns the index of the named head or -1.
func (m *Model) Head(name string) int {
	for i, h := range m.Heads {
		if h == name {
			return i
		}
	}
	return -1
}

// Merge returns one model with the heads of all ms (which must share Bits),
// so a text's features are looked up once for all of them.
func Merge(ms ...*Model) (*Model, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: merge of no models", ErrFormat)
	}
	out := &Model{Bits: ms[0].Bits}
	for _, m := range ms {
		if m.Bits != out.Bits {
			return nil, fmt.Errorf("%w: merge of %d-bit and %d-bit models", ErrFormat, out.Bits, m.Bits)
		}
		out.Heads = append(out.Heads, m.Heads...)
		out.Bias = append(out.Bias, m.Bias...)
		out.Scale = append(out.Scale, m.Scale...)
	}
	nh := len(out.Heads)
	if nh > 255 {
		return nil, fmt.Errorf("%w: %d heads", ErrFormat, nh)
	}
	out.W = make([]int8, (1<<out.Bits)*nh)
	off := 0
	for _, m := range ms {
		mh := len(m.Heads)
		for b := range 1 << out.Bits {
			copy(out.W[b*nh+off:b*nh+off+mh], m.W[b*mh:b*mh+mh])
		}
		off += mh
	}
	return out, nil
}

// ErrFormat reports a malformed weight file.
var ErrFormat = errors.New("malformed linear model")

// magic identifies the weight format; it changes whenever the feature
// hashing changes, so stale weights are rejected instead of misread.
const magic = "WLM2"

// Load parses a weight file.
func Load(b []byte) (*Model, error) {
	if len(b) < 6 || string(b[:4]) != magic {
		return nil, fmt.Errorf("%w: bad magic (want %s; retrain with cmd/scantrain)", ErrFormat, magic)
	}
	m := &Model{Bits: int(b[4])}
	nh := int(b[5])
	if m.Bits < 8 || m.Bits > 24 || nh < 1 {
		return nil, fmt.Errorf("%w: bits %d heads %d", ErrFormat, m.Bits, nh)
	}
	p := 6
	for range nh {
		if p >= len(b) {
			return nil, fmt.Errorf("%w: truncated header", ErrFormat)
		}
		l := int(b[p])
		p++
		if p+l+8 > len(b) {
			return nil, fmt.Errorf("%w: truncated header", ErrFormat)
		}
		m.Heads = append(m.Heads, string(b[p:p+l]))
		p += l
		m.Bias = append(m.Bias, math.Float32frombits(binary.LittleEndian.Uint32(b[p:])))
		m.Scale = append(m.Scale, math.Float32frombits(binary.LittleEndian.Uint32(b[p+4:])))
		p += 8
	}
	n := (1 << m.Bits) * nh
	if len(b)-p != n {
		return nil, fmt.Errorf("%w: %d weight bytes, want %d", ErrFormat, len(b)-p, n)
	}
	for i := range nh {
		if f := float64(m.Bias[i]) + float64(m.Scale[i]); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: head %q has a non-finite bias or scale", ErrFormat, m.Heads[i])
		}
	}
	m.W = make([]int8, n)
	for i := range n {
		m.W[i] = int8(b[p+i])
	}
	return m, nil
}

// Marshal encodes the model in the weight file format.
func (m *Model) Marshal() []byte {
	var buf bytes.Buffer
	buf.WriteString(magic)
	buf.WriteByte(byte(m.Bits))
	buf.WriteByte(byte(len(m.Heads)))
	for i, h := range m.Heads {
		buf.WriteByte(byte(len(h)))
		buf.WriteString(h)
		_ = binary.Write(&buf, binary.LittleEndian, m.Bias[i])
		_ = binary.Write(&buf, binary.LittleEndian, m.Scale[i])
	}
	for _, w := range m.W {
		buf.WriteByte(byte(w))
	}
	return buf.Bytes()
}
