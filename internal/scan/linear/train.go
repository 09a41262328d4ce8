package linear

import (
	"math"
	"math/rand/v2"
)

// Example is one training text (normalized) with a 0/1 label per head;
// a negative label means "unknown for this head" and is skipped.
type Example struct {
	Norm   string
	Labels []int8
	Weight float64 // sample weight, 0 means 1
}

// TrainOptions control Train.
type TrainOptions struct {
	Bits   int
	Epochs int
	LR     float64 // Adagrad base learning rate
	L2     float64
	Seed   uint64
}

// Prepared is a text's hashed feature indexes for one hash size, computed
// once so a training set can be refit on many subsets (cross-validation).
type Prepared struct {
	Idx []int32
	Val float64 // 1/sqrt(len(Idx))
}

// Prepare hashes a normalized text into 2^bits buckets.
func Prepare(x *Extraction, norm string, bits int) Prepared {
	x.Reset(norm)
	mask := uint64(1)<<bits - 1
	idx := make([]int32, len(x.Feats))
	for j, f := range x.Feats {
		idx[j] = int32(uint64(f.H) & mask)
	}
	v := 0.0
	if len(idx) > 0 {
		v = 1 / math.Sqrt(float64(len(idx)))
	}
	return Prepared{idx, v}
}

// Train fits one logistic regression per head with Adagrad on hashed
// features and quantizes the weights to int8.
func Train(heads []string, ex []Example, o TrainOptions) *Model {
	feats := make([]Prepared, len(ex))
	var x Extraction
	for i, e := range ex {
		feats[i] = Prepare(&x, e.Norm, o.Bits)
	}
	return TrainPrepared(heads, ex, feats, o)
}

// TrainPrepared is Train over features prepared with the same Bits;
// ex[i].Norm is not read.
func TrainPrepared(heads []string, ex []Example, feats []Prepared, o TrainOptions) *Model {
	dim := 1 << o.Bits
	nh := len(heads)
	w := make([]float64, dim*nh)
	g2 := make([]float64, dim*nh)
	bias := make([]float64, nh)
	bg2 := make([]float64, nh)
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	z := make([]float64, nh)
	g := make([]float64, nh)
	for range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			f := feats[i]
			sw := ex[i].Weight
			if sw == 0 {
				sw = 1
			}
			labels := ex[i].Labels
			// One pass over the features for every head's logit: a
			// bucket's heads are adjacent, so each feature costs one
			// cache line instead of one per head.
			copy(z, bias)
			for _, k := range f.Idx {
				ws := w[int(k)*nh : int(k)*nh+nh]
				for h, v := range ws {
					z[h] += v * f.Val
				}
			}
			any := false
			for h := range nh {
				g[h] = 0
				if labels[h] < 0 {
					continue
				}
				p := 1 / (1 + math.Exp(-z[h]))
				g[h] = (p - float64(labels[h])) * sw
				bg2[h] += g[h] * g[h]
				bias[h] -= o.LR * g[h] / (math.Sqrt(bg2[h]) + 1e-8)
				any = true
			}
			if !any {
				continue
			}
			for _, k := range f.Idx {
				base := int(k) * nh
				ws, gs := w[base:base+nh], g2[base:base+nh]
				for h := range nh {
					if labels[h] < 0 {
						continue
					}
					gj := g[h]*f.Val + o.L2*ws[h]
					gs[h] += gj * gj
					ws[h] -= o.LR * gj / (math.Sqrt(gs[h]) + 1e-8)
				}
			}
		}
	}
	m := &Model{Bits: o.Bits, Heads: heads, Bias: make([]float32, nh), Scale: make([]float32, nh), W: make([]int8, dim*nh)}
	for h := range nh {
		mx := 0.0
		for k := range dim {
			mx = max(mx, math.Abs(w[k*nh+h]))
		}
		sc := mx / 127
		if sc == 0 {
			sc = 1
		}
		m.Bias[h], m.Scale[h] = float32(bias[h]), float32(sc)
		for k := range dim {
			m.W[k*nh+h] = int8(math.Round(w[k*nh+h] / sc))
		}
	}
	return m
}
