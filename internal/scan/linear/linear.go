// Package linear is the hashed n-gram logistic-regression model shared by
// Warden's learned scanners and by the training command cmd/scantrain:
// feature extraction, window scoring, training and the compact int8 weight
// file format.
//
// Features of a normalized text are word unigrams, word bigrams and
// character 4-grams, hashed (FNV-1a) into 2^Bits buckets and scaled by
// 1/sqrt(n). A model has one or more heads (one logistic output each) that
// share the feature space.
//
// Weight file layout (little endian): "WLM1", uint8 bits, uint8 heads,
// for each head: uint8 name length, name, float32 bias, float32 scale;
// then 2^bits × heads int8 weights, bucket-major. A weight is q×scale.
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

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func isSep(c byte) bool {
	return c == ' ' || c == '\n' || c == '.' || c == ',' || c == '!' || c == '?' || c == ':' ||
		c == ';' || c == '"' || c == '\'' || c == '(' || c == ')' || c == '[' || c == ']' ||
		c == '{' || c == '}' || c == '*' || c == '`' || c == '/' || c == '\\' || c == '-' || c == '_'
}

// Features calls fn for every hashed feature of norm with the byte offset at
// which the feature starts. norm should be the scan package's normalized
// (lower-cased, whitespace-folded) text. Masks to bits are left to the caller.
func Features(norm string, fn func(h uint64, pos int)) {
	// Words and bigrams.
	prev := uint64(0)
	havePrev := false
	for i := 0; i < len(norm); {
		for i < len(norm) && isSep(norm[i]) {
			i++
		}
		j := i
		for j < len(norm) && !isSep(norm[j]) {
			j++
		}
		if j > i {
			w := fnv(fnvOffset, norm[i:j])
			fn(w, i)
			if havePrev {
				fn((prev*31+w)^0x9e3779b97f4a7c15, i)
			}
			prev, havePrev = w, true
		}
		i = j
	}
	// Character 4-grams over runes (so CJK and other scripts get n-grams too).
	var r [4]int // start offsets of the last 4 runes
	n := 0
	for i := 0; i < len(norm); {
		_, sz := utf8.DecodeRuneInString(norm[i:])
		r[0], r[1], r[2], r[3] = r[1], r[2], r[3], i
		n++
		i += sz
		if n >= 4 {
			fn(fnv(fnvOffset^0x5bd1e995, norm[r[0]:i]), r[0])
		}
	}
}

// Window is a scored byte range of the normalized text.
type Window struct {
	Start, End int
	Score      float64
}

// boundary reports whether a window may end after byte i of s.
func boundary(s string, i int) bool {
	c := s[i]
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
// and appends their [start,end) ranges to dst.
func Windows(dst [][2]int, s string) [][2]int {
	start, last := 0, -1
	for i := 0; i < len(s); i++ {
		if boundary(s, i) {
			last = i + 1
		}
		if i+1-start >= MaxWindow {
			cut := last
			if cut <= start {
				// No sentence end: cut at the last space.
				cut = i + 1
				for k := i; k > start+MaxWindow/2; k-- {
					if s[k] == ' ' {
						cut = k + 1
						break
					}
				}
			}
			dst = append(dst, [2]int{start, cut})
			start = cut
			last = -1
		}
	}
	if start < len(s) {
		dst = append(dst, [2]int{start, len(s)})
	}
	return dst
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Score returns the probability of head for the whole text and the highest
// scoring window (the whole text when it is a single window).
func (m *Model) Score(norm string, head int) (whole float64, best Window) {
	var wins [16][2]int
	ws := Windows(wins[:0], norm)
	nh := len(m.Heads)
	mask := uint64(1)<<m.Bits - 1
	sc := float64(m.Scale[head])
	var tot float64
	var totN int
	wi := 0
	var wsum float64
	var wn int
	best = Window{Score: -1}
	flush := func() {
		if wn > 0 {
			p := sigmoid(float64(m.Bias[head]) + wsum/math.Sqrt(float64(wn)))
			if p > best.Score {
				best = Window{ws[wi][0], ws[wi][1], p}
			}
		}
		wsum, wn = 0, 0
	}
	// Features are emitted words first, then 4-grams, each in position
	// order, so accumulate per window with a small table instead.
	if len(ws) <= 1 {
		Features(norm, func(h uint64, _ int) {
			tot += float64(m.W[int(h&mask)*nh+head])
			totN++
		})
		if totN == 0 {
			p := sigmoid(float64(m.Bias[head]))
			return p, Window{0, len(norm), p}
		}
		p := sigmoid(float64(m.Bias[head]) + tot*sc/math.Sqrt(float64(totN)))
		return p, Window{0, len(norm), p}
	}
	sums := make([]float64, len(ws))
	cnts := make([]int, len(ws))
	Features(norm, func(h uint64, pos int) {
		v := float64(m.W[int(h&mask)*nh+head])
		tot += v
		totN++
		k := locate(ws, pos)
		sums[k] += v
		cnts[k]++
	})
	for wi = range ws {
		wsum, wn = sums[wi]*sc, cnts[wi]
		flush()
	}
	whole = sigmoid(float64(m.Bias[head]) + tot*sc/math.Sqrt(float64(max(totN, 1))))
	return whole, best
}

func locate(ws [][2]int, pos int) int {
	lo, hi := 0, len(ws)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ws[mid][0] <= pos {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
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

// ErrFormat reports a malformed weight file.
var ErrFormat = errors.New("malformed linear model")

// Load parses a weight file.
func Load(b []byte) (*Model, error) {
	if len(b) < 6 || string(b[:4]) != "WLM1" {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
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
	m.W = make([]int8, n)
	for i := range n {
		m.W[i] = int8(b[p+i])
	}
	return m, nil
}

// Marshal encodes the model in the weight file format.
func (m *Model) Marshal() []byte {
	var buf bytes.Buffer
	buf.WriteString("WLM1")
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
