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

// Train fits one logistic regression per head with Adagrad on hashed
// features and quantizes the weights to int8.
func Train(heads []string, ex []Example, o TrainOptions) *Model {
	dim := 1 << o.Bits
	nh := len(heads)
	w := make([]float64, dim*nh)
	g2 := make([]float64, dim*nh)
	bias := make([]float64, nh)
	bg2 := make([]float64, nh)
	mask := uint64(dim - 1)
	type fv struct {
		idx []int32
		val float64
	}
	feats := make([]fv, len(ex))
	var x Extraction
	for i, e := range ex {
		x.Reset(e.Norm)
		idx := make([]int32, len(x.Feats))
		for j, f := range x.Feats {
			idx[j] = int32(uint64(f.H) & mask)
		}
		v := 0.0
		if len(idx) > 0 {
			v = 1 / math.Sqrt(float64(len(idx)))
		}
		feats[i] = fv{idx, v}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	for range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			f := feats[i]
			sw := ex[i].Weight
			if sw == 0 {
				sw = 1
			}
			for h := range nh {
				y := ex[i].Labels[h]
				if y < 0 {
					continue
				}
				z := bias[h]
				for _, k := range f.idx {
					z += w[int(k)*nh+h] * f.val
				}
				p := 1 / (1 + math.Exp(-z))
				g := (p - float64(y)) * sw
				bg2[h] += g * g
				bias[h] -= o.LR * g / (math.Sqrt(bg2[h]) + 1e-8)
				for _, k := range f.idx {
					j := int(k)*nh + h
					gj := g*f.val + o.L2*w[j]
					g2[j] += gj * gj
					w[j] -= o.LR * gj / (math.Sqrt(g2[j]) + 1e-8)
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
