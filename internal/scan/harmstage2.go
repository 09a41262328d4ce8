package scan

import (
	"fmt"

	"github.com/warden-ai/warden/internal/scan/dense"
)

// harmStage2File is the harm second stage's weight document.
const harmStage2File = "harmreq.json"

// harmStage2Floor is the lowest harm second-stage score reported. Its
// scores are calibrated on a pool where about half the inputs are harmful
// requests, and an ordinary question with one alarming word ("How do I
// detect prompt injection attacks?") scores 0.5–0.65: that is no evidence
// worth recording. The flag threshold (calibration.json) lies above it.
const harmStage2Floor = 0.65

// harmStage2MaxIn bounds the harm second stage's input vector.
const harmStage2MaxIn = 64

// harmFirstStageInputs are the first stage's scores the harm second stage
// reads (logits of the calibrated head probabilities).
var harmFirstStageInputs = []string{"clf_request", "clf_injection", "clf_hate", "clf_toxic"}

// HarmStage2FeatureNames lists the harm second stage's inputs in order:
// the structural features of harmstructure.go, then the first stage's
// scores.
func HarmStage2FeatureNames() []string {
	return append(append([]string{}, HarmFeatureNames...), harmFirstStageInputs...)
}

// harmStage2 is the second stage of harmful-request detection: a small
// network (package dense) over harm cue densities and the first stage's
// scores, trained by cmd/scantrain leave-one-source-out and
// Platt-calibrated on held-out sources. Its finding is
// harmful_request.structure (quiet like every harmful_request finding).
type harmStage2 struct {
	m   *dense.Model
	req int
}

// loadHarmStage2 loads the harm second stage from the weight overrides or
// the embedded weights; an override present but empty disables it.
func loadHarmStage2(over map[string][]byte) (*harmStage2, error) {
	m, err := loadDense(over, harmStage2File, HarmStage2FeatureNames(), harmStage2MaxIn)
	if m == nil || err != nil {
		return nil, err
	}
	s := &harmStage2{m: m, req: m.Head("request")}
	if s.req < 0 {
		return nil, fmt.Errorf("weights %s: heads %v, want request", harmStage2File, m.Heads)
	}
	return s, nil
}

// score returns the harmful-request probability of input x.
func (s *harmStage2) score(x []float64) float64 {
	var scratch [4 * harmStage2MaxIn]float64
	var out [4]float64
	z := out[:len(s.m.Heads)]
	s.m.Logits(z, x, scratch[:s.m.ScratchSize()])
	return dense.Sigmoid(z[s.req])
}

// harmInputs appends the harm second stage's input vector for in to dst
// and returns it with the evidence span (Norm offsets).
func (s *harmfulScanner) harmInputs(in *Doc, dst []float64) ([]float64, [2]int) {
	var hb [512]cueHit
	hits := hb[:0]
	lexicon := false
	norm := in.Norm
	for _, mt := range in.matches(s.lex) {
		id, end := int(mt.id), int(mt.end)
		if r := id - s.base; r >= 0 && r < len(s.lexP) {
			lexicon = true
			continue
		}
		id -= s.hbase
		if id < 0 || id >= len(s.hpats) {
			continue
		}
		p := s.hpats[id]
		start := end - len(p)
		if s.hbound[id] {
			if start > 0 && isWordChar(norm[start-1]) && isWordChar(p[0]) {
				continue
			}
			if !s.hstem[id] && end < len(norm) && isWordChar(norm[end]) && isWordChar(p[len(p)-1]) {
				continue
			}
		}
		if len(hits) < cap(hb) {
			hits = append(hits, cueHit{s.hgroup[id], start, end})
		}
	}
	x, span := harmFeatures(norm, hits, lexicon, dst)
	res := in.scores(s.model)
	for _, h := range []int{s.request, s.inj, s.hate, s.toxic} {
		p := 0.0
		if h >= 0 {
			p = res[h].Max()
		}
		x = append(x, clampLogit(p))
	}
	return x, span
}

// HarmStage2Inputs returns the harm second stage's input vector for text
// (see HarmStage2FeatureNames), nil when the text has too little evidence
// for a learned score. cmd/scantrain trains the harm second stage on it.
func (e *Engine) HarmStage2Inputs(text string, role Role) []float64 {
	in := NewDoc(text, role, Context{})
	if !enoughEvidence(in.Norm) || e.harm == nil {
		return nil
	}
	x, _ := e.harm.harmInputs(in, nil)
	return x
}
