// Package dense is a small multi-head neural network over a fixed, short
// vector of dense features: standardisation, one hidden layer (tanh, or none
// for logistic regression) and one sigmoid output per head. It is the
// second-stage model of the injection scanner, which feeds it structural
// features of instructions addressed to a model and the first stage's
// scores. Weights are a small JSON document written by cmd/scantrain.
package dense

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Model is an immutable network. Safe for concurrent use; Score needs a
// caller-provided scratch buffer so it does not allocate.
type Model struct {
	Features []string    `json:"features"` // input names, in order
	Heads    []string    `json:"heads"`
	Mean     []float64   `json:"mean"` // standardisation of each input
	Std      []float64   `json:"std"`
	W1       [][]float64 `json:"w1,omitempty"` // hidden × inputs (empty: no hidden layer)
	B1       []float64   `json:"b1,omitempty"`
	W2       [][]float64 `json:"w2"` // heads × (hidden or inputs)
	B2       []float64   `json:"b2"`
}

// ErrFormat reports a malformed weight document.
var ErrFormat = errors.New("malformed dense model")

// maxDim bounds every dimension a weight document may declare.
const maxDim = 1024

// Load parses and validates a weight document.
func Load(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func (m *Model) validate() error {
	nin, nh := len(m.Features), len(m.Heads)
	if nin == 0 || nin > maxDim || nh == 0 || nh > maxDim {
		return fmt.Errorf("%w: %d inputs, %d heads", ErrFormat, nin, nh)
	}
	if len(m.Mean) != nin || len(m.Std) != nin {
		return fmt.Errorf("%w: mean/std length %d/%d, want %d", ErrFormat, len(m.Mean), len(m.Std), nin)
	}
	if !finite(m.Mean...) || !finite(m.Std...) {
		return fmt.Errorf("%w: non-finite standardisation", ErrFormat)
	}
	for _, s := range m.Std {
		if s <= 0 {
			return fmt.Errorf("%w: standard deviation %g", ErrFormat, s)
		}
	}
	width := nin
	if len(m.W1) > 0 {
		if len(m.W1) > maxDim || len(m.B1) != len(m.W1) || !finite(m.B1...) {
			return fmt.Errorf("%w: hidden layer %d rows, %d biases", ErrFormat, len(m.W1), len(m.B1))
		}
		for _, r := range m.W1 {
			if len(r) != nin || !finite(r...) {
				return fmt.Errorf("%w: hidden row of %d weights, want %d finite", ErrFormat, len(r), nin)
			}
		}
		width = len(m.W1)
	} else if len(m.B1) != 0 {
		return fmt.Errorf("%w: hidden biases without hidden weights", ErrFormat)
	}
	if len(m.W2) != nh || len(m.B2) != nh || !finite(m.B2...) {
		return fmt.Errorf("%w: output layer %d rows, %d biases, want %d", ErrFormat, len(m.W2), len(m.B2), nh)
	}
	for _, r := range m.W2 {
		if len(r) != width || !finite(r...) {
			return fmt.Errorf("%w: output row of %d weights, want %d finite", ErrFormat, len(r), width)
		}
	}
	return nil
}

// Marshal encodes the model as its weight document.
func (m *Model) Marshal() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
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

// ScratchSize is the length of the scratch buffer Logits needs.
func (m *Model) ScratchSize() int { return len(m.Features) + len(m.W1) }

// Logits writes the pre-sigmoid output of every head for input x into dst
// (len(Heads)) using scratch (ScratchSize()).
func (m *Model) Logits(dst, x, scratch []float64) {
	nin := len(m.Features)
	z := scratch[:nin]
	for i := range nin {
		z[i] = (x[i] - m.Mean[i]) / m.Std[i]
	}
	in := z
	if len(m.W1) > 0 {
		h := scratch[nin : nin+len(m.W1)]
		for j, row := range m.W1 {
			s := m.B1[j]
			for i, w := range row {
				s += w * z[i]
			}
			h[j] = math.Tanh(s)
		}
		in = h
	}
	for k, row := range m.W2 {
		s := m.B2[k]
		for i, w := range row {
			s += w * in[i]
		}
		dst[k] = s
	}
}

// Sigmoid is the logistic function.
func Sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Calibrate folds a Platt map p = sigmoid(a·z + b) of head h's logit z into
// the output layer.
func (m *Model) Calibrate(h int, a, b float64) {
	for i := range m.W2[h] {
		m.W2[h][i] *= a
	}
	m.B2[h] = a*m.B2[h] + b
}

// Disable makes head h output (almost) zero whatever the input.
func (m *Model) Disable(h int) {
	for i := range m.W2[h] {
		m.W2[h][i] = 0
	}
	m.B2[h] = -12
}

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	rows := func(rs [][]float64) [][]float64 {
		var out [][]float64
		for _, r := range rs {
			out = append(out, append([]float64(nil), r...))
		}
		return out
	}
	return &Model{
		Features: append([]string(nil), m.Features...), Heads: append([]string(nil), m.Heads...),
		Mean: append([]float64(nil), m.Mean...), Std: append([]float64(nil), m.Std...),
		W1: rows(m.W1), B1: append([]float64(nil), m.B1...), W2: rows(m.W2), B2: append([]float64(nil), m.B2...),
	}
}

// Average returns one network whose logits are the mean of the logits of
// ms (an ensemble folded into a wider hidden layer: the hidden units side
// by side, the output weights divided by len(ms)). The models must share
// features, heads and standardisation and have a hidden layer.
func Average(ms ...*Model) (*Model, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: no models to average", ErrFormat)
	}
	out := ms[0].Clone()
	out.W1, out.B1 = nil, nil
	for k := range out.W2 {
		out.W2[k] = nil
		out.B2[k] = 0
	}
	n := float64(len(ms))
	for _, m := range ms {
		if len(m.W1) == 0 || len(m.Features) != len(out.Features) || len(m.Heads) != len(out.Heads) {
			return nil, fmt.Errorf("%w: models differ in shape", ErrFormat)
		}
		for i := range m.Mean {
			if m.Mean[i] != out.Mean[i] || m.Std[i] != out.Std[i] || m.Features[i] != out.Features[i] {
				return nil, fmt.Errorf("%w: models differ in input %d", ErrFormat, i)
			}
		}
		c := m.Clone()
		out.W1 = append(out.W1, c.W1...)
		out.B1 = append(out.B1, c.B1...)
		for k := range out.W2 {
			for _, w := range c.W2[k] {
				out.W2[k] = append(out.W2[k], w/n)
			}
			out.B2[k] += c.B2[k] / n
		}
	}
	if err := out.validate(); err != nil {
		return nil, err
	}
	return out, nil
}
