package scan

import (
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/warden-ai/warden/internal/scan/dense"
)

// stage2File is the second-stage model's weight document.
const stage2File = "structure.json"

// stage2Floor is the lowest second-stage score reported.
const stage2Floor = 0.5

// stage2MaxIn bounds the second stage's input vector.
const stage2MaxIn = 80

// firstStageInputs are the first stage's scores the second stage reads
// (logits of the calibrated head probabilities).
var firstStageInputs = []string{"clf_injection", "clf_jailbreak", "clf_request"}

// Stage2FeatureNames lists the second stage's inputs in order: the
// structural features of structure.go, then the first stage's scores.
func Stage2FeatureNames() []string {
	return append(append([]string{}, StructFeatureNames...), firstStageInputs...)
}

// stage2 is the second-stage model: a small network (package dense) over
// structural features of instructions addressed to a model and the first
// stage's scores, trained by cmd/scantrain leave-one-source-out and
// Platt-calibrated on held-out sources.
type stage2 struct {
	m         *dense.Model
	inj, jail int
}

// loadStage2 loads the second stage from the weight overrides or the
// embedded weights. An override present but empty disables it (used by
// cmd/scantrain to measure the first stage alone).
func loadStage2(over map[string][]byte) (*stage2, error) {
	m, err := loadDense(over, stage2File, Stage2FeatureNames(), stage2MaxIn)
	if m == nil || err != nil {
		return nil, err
	}
	s := &stage2{m: m, inj: m.Head("injection"), jail: m.Head("jailbreak")}
	if s.inj < 0 || s.jail < 0 {
		return nil, fmt.Errorf("weights %s: heads %v, want injection and jailbreak", stage2File, m.Heads)
	}
	return s, nil
}

// loadDense loads a second-stage network from the weight overrides or the
// embedded weights and checks that it reads exactly the features this build
// computes (want) and fits the scratch space of maxIn inputs. It returns
// nil without an error when an override of the file is present but empty
// (switched off) or no such file is embedded.
func loadDense(over map[string][]byte, file string, want []string, maxIn int) (*dense.Model, error) {
	b, ok := over[file]
	if ok && len(b) == 0 {
		return nil, nil
	}
	if !ok {
		var err error
		b, err = weightFS.ReadFile("weights/" + file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	m, err := dense.Load(b)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", file, err)
	}
	if len(m.Features) != len(want) {
		return nil, fmt.Errorf("weights %s: %d features, this build computes %d (retrain with cmd/scantrain)", file, len(m.Features), len(want))
	}
	for i, f := range want {
		if m.Features[i] != f {
			return nil, fmt.Errorf("weights %s: feature %d is %q, this build computes %q (retrain with cmd/scantrain)", file, i, m.Features[i], f)
		}
	}
	if m.ScratchSize() > 4*maxIn {
		return nil, fmt.Errorf("weights %s: network too wide (%d)", file, m.ScratchSize())
	}
	return m, nil
}

// score returns the injection and jailbreak probabilities of input x.
func (s *stage2) score(x []float64) (inj, jail float64) {
	var scratch [4 * stage2MaxIn]float64
	var out [8]float64
	z := out[:len(s.m.Heads)]
	s.m.Logits(z, x, scratch[:s.m.ScratchSize()])
	return dense.Sigmoid(z[s.inj]), dense.Sigmoid(z[s.jail])
}

func clampLogit(p float64) float64 {
	p = min(max(p, 1e-4), 1-1e-4)
	return math.Log(p / (1 - p))
}

// stage2Inputs appends the second stage's input vector for in to dst and
// returns it with the evidence span (Norm offsets).
func (s *injectionScanner) stage2Inputs(in *Doc, r sigResult, dst []float64) ([]float64, [2]int) {
	var hb [256]cueHit
	hits := s.cueHits(in, hb[:0])
	st := structFeatures(in, r, hits, dst)
	x := st.x
	res := in.scores(s.model)
	for _, h := range []int{s.inj, s.jail, s.req} {
		p := 0.0
		if h >= 0 {
			p = res[h].Max()
		}
		x = append(x, clampLogit(p))
	}
	return x, st.span
}

// Stage2Inputs returns the second stage's input vector for text (see
// Stage2FeatureNames), nil when the text has too little evidence for a
// learned score. cmd/scantrain trains the second stage on it.
func (e *Engine) Stage2Inputs(text string, role Role) []float64 {
	in := NewDoc(text, role, Context{})
	if !enoughEvidence(in.Norm) {
		return nil
	}
	x, _ := e.inj.stage2Inputs(in, e.inj.signatures(in), nil)
	return x
}
