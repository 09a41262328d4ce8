// Package guardsim is a SIMULATED guard model: a test and demo fixture — not a classifier — that
// stands where a GPU-served prompt-attack classifier (Prompt Guard, ProtectAI DeBERTa, …) would
// be. Its "model" is a short list of weighted phrases; it exists so that the demo, the tests and
// the example adapter (examples/guard-adapter) run without a GPU or a download.
//
// It speaks two wire formats:
//
//   - [Server.HFHandler]: the Hugging Face text-classification format served by Text Embeddings
//     Inference (POST /predict) and Inference Endpoints: {"inputs": "text" | ["a", "b"]} →
//     [{"label": "INJECTION", "score": 0.93}, ...] (a list per input for a batch);
//   - [Server.GuardHandler]: Warden's guard contract warden.guard/v1 (docs/INTEGRATIONS.md).
//
// Labels are BENIGN, INJECTION and JAILBREAK; scores of a text sum to 1.
package guardsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"unicode"
)

// Labels of the simulated classifier.
const (
	LabelBenign    = "BENIGN"
	LabelInjection = "INJECTION"
	LabelJailbreak = "JAILBREAK"
)

// cue is one weighted phrase of the simulated model.
type cue struct {
	phrase string
	label  string
	weight float64
}

// cues: paraphrases of instruction overrides and persona jailbreaks, the kind a learned guard
// generalises to and a phrase list does not — simulated here with a phrase list all the same.
var cues = []cue{
	{"disregard", LabelInjection, 0.45},
	{"what you were told", LabelInjection, 0.45},
	{"earlier instructions", LabelInjection, 0.6},
	{"previous instructions", LabelInjection, 0.6},
	{"ignore", LabelInjection, 0.25},
	{"hidden setup", LabelInjection, 0.6},
	{"system prompt", LabelInjection, 0.35},
	{"system message", LabelInjection, 0.35},
	{"initial instructions", LabelInjection, 0.45},
	{"reveal", LabelInjection, 0.2},
	{"verbatim", LabelInjection, 0.2},
	{"developer mode", LabelJailbreak, 0.6},
	{"no restrictions", LabelJailbreak, 0.5},
	{"without any filters", LabelJailbreak, 0.5},
	{"stay in character", LabelJailbreak, 0.4},
	{"pretend you are", LabelJailbreak, 0.35},
	{"you are now", LabelJailbreak, 0.3},
	{"dan", LabelJailbreak, 0.3},
}

// Score is one label's probability.
type Score struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Classify scores text: for each attack label 1 − Π(1 − w) over the cues found (whole words),
// scaled so the three scores sum to 1; sorted by score, highest first.
func Classify(text string) []Score {
	norm := " " + strings.Join(strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ") + " "
	keep := map[string]float64{LabelInjection: 1, LabelJailbreak: 1}
	for _, c := range cues {
		if strings.Contains(norm, " "+c.phrase+" ") {
			keep[c.label] *= 1 - c.weight
		}
	}
	inj, jb := 1-keep[LabelInjection], 1-keep[LabelJailbreak]
	benign := (1 - inj) * (1 - jb)
	sum := inj + jb + benign
	out := []Score{{LabelBenign, round(benign / sum)}, {LabelInjection, round(inj / sum)}, {LabelJailbreak, round(jb / sum)}}
	for i := 1; i < len(out); i++ { // three entries: insertion sort
		for j := i; j > 0 && out[j].Score > out[j-1].Score; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func round(x float64) float64 { return float64(int(x*10000+0.5)) / 10000 }

// Server serves the simulated model; SetDown makes it answer 503 (a guard outage).
type Server struct {
	down  atomic.Bool
	calls atomic.Int64
}

// SetDown switches the simulated outage on or off.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Calls is the number of requests served.
func (s *Server) Calls() int64 { return s.calls.Load() }

const maxBody = 1 << 20

// HFHandler serves the Hugging Face text-classification format on any path.
func (s *Server) HFHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if !s.ready(w, r) {
			return
		}
		var req struct {
			Inputs json.RawMessage `json:"inputs"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "body must be {\"inputs\": string or [string]}"})
			return
		}
		var one string
		if json.Unmarshal(req.Inputs, &one) == nil {
			writeJSON(w, http.StatusOK, Classify(one))
			return
		}
		var many []string
		if err := json.Unmarshal(req.Inputs, &many); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "inputs must be a string or a list of strings"})
			return
		}
		out := make([][]Score, len(many))
		for i, t := range many {
			out[i] = Classify(t)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// GuardHandler serves Warden's guard contract (warden.guard/v1): INJECTION maps to
// prompt_injection and JAILBREAK to jailbreak, each reported when asked for (request
// "categories"; all when absent) with its score, whole-text span.
func (s *Server) GuardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if !s.ready(w, r) {
			return
		}
		var req struct {
			Text       string   `json:"text"`
			Categories []string `json:"categories"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a warden.guard/v1 request"})
			return
		}
		type finding struct {
			Category string  `json:"category"`
			Score    float64 `json:"score"`
			Label    string  `json:"label"`
		}
		findings := []finding{}
		for _, sc := range Classify(req.Text) {
			cat := map[string]string{LabelInjection: "prompt_injection", LabelJailbreak: "jailbreak"}[sc.Label]
			if cat == "" || sc.Score == 0 || (len(req.Categories) > 0 && !contains(req.Categories, cat)) {
				continue
			}
			findings = append(findings, finding{cat, sc.Score, sc.Label})
		}
		writeJSON(w, http.StatusOK, map[string]any{"version": "warden.guard/v1", "findings": findings})
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return false
	}
	if s.down.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "simulated guard outage"})
		return false
	}
	return true
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
