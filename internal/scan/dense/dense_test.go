package dense

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// xorData is a problem logistic regression cannot solve and one hidden
// layer can: the label is the sign of x0·x1. Head 1 is x0 > 0 (linear),
// unknown on every third example.
func xorData(n int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 3))
	ex := make([]Example, n)
	for i := range ex {
		a, b := rng.Float64()*2-1, rng.Float64()*2-1
		l0, l1 := int8(0), int8(0)
		if a*b > 0 {
			l0 = 1
		}
		if a > 0 {
			l1 = 1
		}
		if i%3 == 0 {
			l1 = -1
		}
		ex[i] = Example{X: []float64{a, b, rng.Float64()}, Labels: []int8{l0, l1}}
	}
	return ex
}

func accuracy(m *Model, ex []Example, h int) float64 {
	z := make([]float64, len(m.Heads))
	scratch := make([]float64, m.ScratchSize())
	ok, n := 0, 0
	for _, e := range ex {
		if e.Labels[h] < 0 {
			continue
		}
		m.Logits(z, e.X, scratch)
		n++
		if (z[h] > 0) == (e.Labels[h] == 1) {
			ok++
		}
	}
	return float64(ok) / float64(n)
}

func TestTrain(t *testing.T) {
	train, test := xorData(3000, 1), xorData(1000, 2)
	feats, heads := []string{"a", "b", "noise"}, []string{"xor", "pos"}
	for _, tc := range []struct {
		name           string
		hidden         int
		minXor, maxXor float64
		minPos         float64
	}{
		{"logistic regression cannot fit xor", 0, 0, 0.65, 0.95},
		{"one hidden layer fits xor", 8, 0.9, 1, 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Train(feats, heads, train, TrainOptions{Hidden: tc.hidden, Epochs: 40, Batch: 32, LR: 0.01, L2: 1e-4, Seed: 1})
			if a := accuracy(m, test, 0); a < tc.minXor || a > tc.maxXor {
				t.Errorf("xor accuracy %.3f, want [%.2f, %.2f]", a, tc.minXor, tc.maxXor)
			}
			if a := accuracy(m, test, 1); a < tc.minPos {
				t.Errorf("linear head accuracy %.3f, want ≥ %.2f", a, tc.minPos)
			}
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	ex := xorData(500, 1)
	o := TrainOptions{Hidden: 4, Epochs: 3, Batch: 16, LR: 0.01, Seed: 7}
	a, _ := Train([]string{"a", "b", "c"}, []string{"x", "y"}, ex, o).Marshal()
	b, _ := Train([]string{"a", "b", "c"}, []string{"x", "y"}, ex, o).Marshal()
	if string(a) != string(b) {
		t.Fatal("two trainings with one seed differ")
	}
}

func TestRoundTripAndCalibrate(t *testing.T) {
	ex := xorData(500, 1)
	m := Train([]string{"a", "b", "c"}, []string{"x", "y"}, ex, TrainOptions{Hidden: 4, Epochs: 3, Batch: 16, LR: 0.01, Seed: 7})
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	c := m2.Clone()
	c.Calibrate(0, 0.5, -1)
	c.Disable(1)
	z1, z2, zc := make([]float64, 2), make([]float64, 2), make([]float64, 2)
	s := make([]float64, m.ScratchSize())
	for _, e := range ex[:20] {
		m.Logits(z1, e.X, s)
		m2.Logits(z2, e.X, s)
		c.Logits(zc, e.X, s)
		if z1[0] != z2[0] || z1[1] != z2[1] {
			t.Fatalf("loaded model differs: %v vs %v", z1, z2)
		}
		if want := 0.5*z1[0] - 1; math.Abs(zc[0]-want) > 1e-9 {
			t.Fatalf("calibrated logit %g, want %g", zc[0], want)
		}
		if zc[1] != -12 {
			t.Fatalf("disabled head logit %g, want -12", zc[1])
		}
	}
	// Clone does not share the output layer.
	m2.Logits(z2, ex[0].X, s)
	m.Logits(z1, ex[0].X, s)
	if z1[0] != z2[0] {
		t.Fatal("calibrating a clone changed the original")
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not json", `{`, "unexpected end"},
		{"no features", `{"features":[],"heads":["x"],"mean":[],"std":[],"w2":[[]],"b2":[0]}`, "0 inputs"},
		{"std zero", `{"features":["a"],"heads":["x"],"mean":[0],"std":[0],"w2":[[1]],"b2":[0]}`, "standard deviation"},
		{"mean length", `{"features":["a"],"heads":["x"],"mean":[0,1],"std":[1],"w2":[[1]],"b2":[0]}`, "mean/std length"},
		{"output width", `{"features":["a"],"heads":["x"],"mean":[0],"std":[1],"w2":[[1,2]],"b2":[0]}`, "output row"},
		{"hidden width", `{"features":["a"],"heads":["x"],"mean":[0],"std":[1],"w1":[[1,2]],"b1":[0],"w2":[[1]],"b2":[0]}`, "hidden row"},
		{"hidden bias", `{"features":["a"],"heads":["x"],"mean":[0],"std":[1],"w1":[[1]],"b1":[],"w2":[[1]],"b2":[0]}`, "hidden layer"},
		{"orphan bias", `{"features":["a"],"heads":["x"],"mean":[0],"std":[1],"b1":[1],"w2":[[1]],"b2":[0]}`, "without hidden"},
		{"heads vs rows", `{"features":["a"],"heads":["x","y"],"mean":[0],"std":[1],"w2":[[1]],"b2":[0]}`, "output layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.doc))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrFormat mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	ex := xorData(100, 1)
	m := Train([]string{"a", "b", "c"}, []string{"x", "y"}, ex, TrainOptions{Hidden: 2, Epochs: 1, Batch: 16, LR: 0.01, Seed: 7})
	b, _ := m.Marshal()
	f.Add(b)
	f.Add([]byte(`{"features":["a"],"heads":["x"],"mean":[0],"std":[1],"w2":[[1]],"b2":[0]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := Load(doc)
		if err != nil {
			return
		}
		x := make([]float64, len(m.Features))
		z := make([]float64, len(m.Heads))
		m.Logits(z, x, make([]float64, m.ScratchSize()))
		if _, err := m.Marshal(); err != nil {
			t.Fatalf("a loaded model does not marshal: %v", err)
		}
	})
}

func BenchmarkLogits(b *testing.B) {
	feats := make([]string, 50)
	for i := range feats {
		feats[i] = string(rune('a' + i%26))
	}
	ex := make([]Example, 200)
	for i := range ex {
		x := make([]float64, 50)
		x[i%50] = 1
		ex[i] = Example{X: x, Labels: []int8{int8(i % 2), int8(i % 3 % 2)}}
	}
	m := Train(feats, []string{"x", "y"}, ex, TrainOptions{Hidden: 16, Epochs: 1, Batch: 16, LR: 0.01, Seed: 1})
	z, s := make([]float64, 2), make([]float64, m.ScratchSize())
	b.ReportAllocs()
	for b.Loop() {
		m.Logits(z, ex[0].X, s)
	}
}

func TestAverage(t *testing.T) {
	ex := xorData(600, 5)
	feats, heads := []string{"a", "b", "noise"}, []string{"xor", "pos"}
	var ms []*Model
	for seed := uint64(1); seed <= 3; seed++ {
		ms = append(ms, Train(feats, heads, ex, TrainOptions{Hidden: 4, Epochs: 3, Batch: 32, LR: 0.01, Seed: seed}))
	}
	avg, err := Average(ms...)
	if err != nil {
		t.Fatal(err)
	}
	if len(avg.W1) != 12 {
		t.Fatalf("averaged hidden width %d, want 12", len(avg.W1))
	}
	got, want := make([]float64, 2), make([]float64, 2)
	z := make([]float64, 2)
	for _, e := range ex[:50] {
		clear(want)
		for _, m := range ms {
			m.Logits(z, e.X, make([]float64, m.ScratchSize()))
			for h := range z {
				want[h] += z[h] / 3
			}
		}
		avg.Logits(got, e.X, make([]float64, avg.ScratchSize()))
		for h := range got {
			if math.Abs(got[h]-want[h]) > 1e-9 {
				t.Fatalf("head %d: averaged network %g, mean of logits %g", h, got[h], want[h])
			}
		}
	}
	lr := Train(feats, heads, ex, TrainOptions{Epochs: 1, Seed: 1})
	if _, err := Average(ms[0], lr); !errors.Is(err, ErrFormat) {
		t.Fatalf("averaging a network without hidden layer: %v, want ErrFormat", err)
	}
}
