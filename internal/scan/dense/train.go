package dense

import (
	"math"
	"math/rand/v2"
)

// Example is one training input with a 0/1 label per head (negative:
// unknown for that head, no loss) and a sample weight (0 means 1).
type Example struct {
	X      []float64
	Labels []int8
	Weight float64
}

// TrainOptions control Train. Hidden 0 trains logistic regression.
type TrainOptions struct {
	Hidden int
	Epochs int
	Batch  int
	LR     float64 // Adam step size
	L2     float64 // weight decay on every weight (not biases)
	Seed   uint64
}

// Train fits a model with Adam on minibatches of the examples, in an order
// fixed by Seed, so the result is deterministic.
func Train(features, heads []string, ex []Example, o TrainOptions) *Model {
	nin, nh := len(features), len(heads)
	m := &Model{Features: features, Heads: heads, Mean: make([]float64, nin), Std: make([]float64, nin)}
	// Weighted standardisation.
	var sw float64
	for _, e := range ex {
		w := weight(e)
		sw += w
		for i, v := range e.X {
			m.Mean[i] += w * v
		}
	}
	for i := range m.Mean {
		m.Mean[i] /= max(sw, 1e-12)
	}
	for _, e := range ex {
		w := weight(e)
		for i, v := range e.X {
			d := v - m.Mean[i]
			m.Std[i] += w * d * d
		}
	}
	for i := range m.Std {
		m.Std[i] = math.Sqrt(m.Std[i]/max(sw, 1e-12)) + 1e-3
	}
	rng := rand.New(rand.NewPCG(o.Seed, 11))
	width := nin
	if o.Hidden > 0 {
		width = o.Hidden
		m.W1 = make([][]float64, o.Hidden)
		m.B1 = make([]float64, o.Hidden)
		sc := 1 / math.Sqrt(float64(nin))
		for j := range m.W1 {
			m.W1[j] = make([]float64, nin)
			for i := range m.W1[j] {
				m.W1[j][i] = rng.NormFloat64() * sc
			}
		}
	}
	m.W2 = make([][]float64, nh)
	m.B2 = make([]float64, nh)
	for k := range m.W2 {
		m.W2[k] = make([]float64, width)
		if o.Hidden > 0 {
			for i := range m.W2[k] {
				m.W2[k][i] = rng.NormFloat64() / math.Sqrt(float64(width))
			}
		}
	}
	// Parameters as flat views for Adam.
	var params [][]float64
	var decay []bool
	for j := range m.W1 {
		params = append(params, m.W1[j])
		decay = append(decay, true)
	}
	if o.Hidden > 0 {
		params = append(params, m.B1)
		decay = append(decay, false)
	}
	for k := range m.W2 {
		params = append(params, m.W2[k])
		decay = append(decay, true)
	}
	params = append(params, m.B2)
	decay = append(decay, false)
	grads := make([][]float64, len(params))
	m1 := make([][]float64, len(params))
	m2 := make([][]float64, len(params))
	for i, p := range params {
		grads[i] = make([]float64, len(p))
		m1[i] = make([]float64, len(p))
		m2[i] = make([]float64, len(p))
	}
	// Gradient views matching the layout above.
	gi := 0
	gW1 := grads[gi : gi+len(m.W1)]
	gi += len(m.W1)
	var gB1 []float64
	if o.Hidden > 0 {
		gB1 = grads[gi]
		gi++
	}
	gW2 := grads[gi : gi+nh]
	gi += nh
	gB2 := grads[gi]

	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	batch := max(o.Batch, 1)
	z := make([]float64, nin)
	h := make([]float64, width)
	dh := make([]float64, width)
	const b1, b2, eps = 0.9, 0.999, 1e-8
	t := 0
	for range o.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for lo := 0; lo < len(order); lo += batch {
			hi := min(lo+batch, len(order))
			for _, g := range grads {
				clear(g)
			}
			var bw float64
			for _, idx := range order[lo:hi] {
				e := ex[idx]
				w := weight(e)
				bw += w
				for i := range nin {
					z[i] = (e.X[i] - m.Mean[i]) / m.Std[i]
				}
				in := z
				if o.Hidden > 0 {
					for j, row := range m.W1 {
						s := m.B1[j]
						for i, v := range row {
							s += v * z[i]
						}
						h[j] = math.Tanh(s)
					}
					in = h
				}
				clear(dh)
				for k := range nh {
					if e.Labels[k] < 0 {
						continue
					}
					s := m.B2[k]
					for i, v := range m.W2[k] {
						s += v * in[i]
					}
					d := (Sigmoid(s) - float64(e.Labels[k])) * w
					gB2[k] += d
					for i, v := range in {
						gW2[k][i] += d * v
						if o.Hidden > 0 {
							dh[i] += d * m.W2[k][i]
						}
					}
				}
				if o.Hidden > 0 {
					for j := range m.W1 {
						d := dh[j] * (1 - h[j]*h[j])
						if d == 0 {
							continue
						}
						gB1[j] += d
						for i, v := range z {
							gW1[j][i] += d * v
						}
					}
				}
			}
			if bw == 0 {
				continue
			}
			t++
			c1 := 1 - math.Pow(b1, float64(t))
			c2 := 1 - math.Pow(b2, float64(t))
			for pi, p := range params {
				g := grads[pi]
				for i := range p {
					gv := g[i] / bw
					if decay[pi] {
						gv += o.L2 * p[i]
					}
					m1[pi][i] = b1*m1[pi][i] + (1-b1)*gv
					m2[pi][i] = b2*m2[pi][i] + (1-b2)*gv*gv
					p[i] -= o.LR * (m1[pi][i] / c1) / (math.Sqrt(m2[pi][i]/c2) + eps)
				}
			}
		}
	}
	return m
}

func weight(e Example) float64 {
	if e.Weight == 0 {
		return 1
	}
	return e.Weight
}
