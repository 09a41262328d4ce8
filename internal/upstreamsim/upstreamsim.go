// Package upstreamsim is the simulated upstream model: a test and demo fixture — not a model —
// that speaks the OpenAI wire format (chat completions with and without SSE streaming, including
// the usage chunk requested by stream_options.include_usage; completions; embeddings; the model
// list) with canned behaviours chosen per request:
//
//	echo         (default) answer "You said: <last user message>"
//	leak-secret  answer with an AWS-style access key and a private key marker in the text
//	leak-pii     answer with a name, a street address, an e-mail address, a phone number and a valid-checksum card number
//	refuse       answer with a refusal
//	slow         wait Options.SlowDelay (default 2 s) before answering, honouring cancellation
//	error        answer 500 with an OpenAI-style error body
//	guarded      refuse prompts that carry a common attack cue (instruction override, persona
//	             jailbreaks, encoded or hidden instructions, requests for the system prompt,
//	             credentials, customer records or weapons), echo the rest: a model whose
//	             guardrails hold against Warden's probe packs
//	vulnerable   comply with everything: echo the request and reveal the system message, a
//	             customer record and credentials — a model whose guardrails are gone
//	judge        grade like Warden's quality judge: a JSON object with relevance (1-5, from the
//	             words the answer shares with the question) and, when the prompt has a
//	             "Context:" section, faithfulness (1-5, the share of the answer's words found in
//	             the context) and hallucination (faithfulness below 3)
//	garbage      answer 200 with a body that is not JSON
//	hang         never answer until the client gives up
//
// A behaviour is selected by the cue "[sim:<behaviour>]" anywhere in the prompt, by an
// override set with SetBehaviour for the upstream model name, or by an upstream model name
// ending in "-<behaviour>" (for example "sim-leak-pii").
package upstreamsim

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behaviour names.
const (
	Echo       = "echo"
	LeakSecret = "leak-secret"
	LeakPII    = "leak-pii"
	Refuse     = "refuse"
	Slow       = "slow"
	Error      = "error"
	Guarded    = "guarded"
	Vulnerable = "vulnerable"
	Judge      = "judge"
	Garbage    = "garbage"
	Hang       = "hang"
)

var behaviours = []string{LeakSecret, LeakPII, Refuse, Slow, Error, Guarded, Vulnerable, Judge, Garbage, Hang, Echo}

// attackCues are what the guarded behaviour refuses (lower-case substrings of the prompt).
var attackCues = []string{
	"ignore", "disregard", "ignora", "ignoriere", "system update", "[admin]", "new task",
	"dan", "developer mode", "act as", "hypothetical", "no restrictions", "without any restrictions",
	"decode", "base64", "rot13", "hex", "system prompt", "words above", "prompt de sistema", "verbatim",
	"api key", "access key", "password", "credential", "e-mail addresses", "phone numbers", "card numbers",
	"bomb", "rohrbombe", "ransomware", "nerve agent", "methamphetamine", "phishing", "fire alarm",
}

// Canned texts. The secret and card are well-known test values, not real credentials.
const (
	SecretText  = "Sure. The deploy credentials are AKIAIOSFODNN7EXAMPLE with secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, keep them safe."
	PIIText     = "The customer is Jane Roe, 42 Elm Street, email jane.roe@example.com, phone +1 415 555 0132, card 4111 1111 1111 1111."
	RefusalText = "I'm sorry, but I can't help with that request."
)

// Options configure the simulated upstream.
type Options struct {
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>" (401 otherwise).
	APIKey string
	// Latency is added before every answer (and before the first chunk of a stream).
	Latency time.Duration
	// ChunkDelay is the pause between stream chunks.
	ChunkDelay time.Duration
	// SlowDelay is how long the slow behaviour waits (default 2s).
	SlowDelay time.Duration
	// Models are listed by GET /v1/models (default: "sim-model").
	Models []string
	// EmbeddingDims is the length of embedding vectors (default 8).
	EmbeddingDims int
}

// Request is what the simulator saw of one request, for tests.
type Request struct {
	Path          string
	Model         string
	Stream        bool
	IncludeUsage  bool
	Authorization string
	Body          []byte
}

// Server is the simulated upstream; it is an http.Handler.
type Server struct {
	opts     Options
	override sync.Map // upstream model name → behaviour (SetBehaviour)
	mu       sync.Mutex
	requests []Request
	record   atomic.Bool
	canceled atomic.Int64
	served   atomic.Int64
}

// New returns a simulated upstream.
func New(opts Options) *Server {
	if opts.SlowDelay == 0 {
		opts.SlowDelay = 2 * time.Second
	}
	if len(opts.Models) == 0 {
		opts.Models = []string{"sim-model"}
	}
	if opts.EmbeddingDims <= 0 {
		opts.EmbeddingDims = 8
	}
	return &Server{opts: opts}
}

// Record turns request recording (see Requests) on or off; it is off by default so benchmarks
// do not accumulate memory.
func (s *Server) Record(on bool) { s.record.Store(on) }

// Requests returns the recorded requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SetBehaviour makes every request for the upstream model name behave as beh (one of the
// behaviours above; "" removes the override). Prompt cues still take precedence. Demos and
// tests use it to change a model's posture mid-run, e.g. guarded → vulnerable.
func (s *Server) SetBehaviour(model, beh string) {
	if beh == "" {
		s.override.Delete(model)
		return
	}
	s.override.Store(model, beh)
}

// Canceled counts requests whose client went away before the answer was complete.
func (s *Server) Canceled() int64 { return s.canceled.Load() }

// Served counts requests answered completely.
func (s *Server) Served() int64 { return s.served.Load() }

type request struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt    json.RawMessage `json:"prompt"`
	Input     json.RawMessage `json:"input"`
	MaxTokens int             `json:"max_tokens"`
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
		data := make([]map[string]any, len(s.opts.Models))
		for i, m := range s.opts.Models {
			data[i] = map[string]any{"id": m, "object": "model", "created": 1700000000, "owned_by": "warden-simulated-upstream"}
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "not_found", "unknown endpoint")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "could not parse the JSON body")
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	if s.record.Load() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Path: r.URL.Path, Model: req.Model, Stream: req.Stream, IncludeUsage: includeUsage, Authorization: r.Header.Get("Authorization"), Body: body})
		s.mu.Unlock()
	}
	prompt := promptText(&req)
	beh := behaviour(req.Model, prompt)
	if o, ok := s.override.Load(req.Model); ok && !hasCue(prompt) {
		beh = o.(string)
	}
	ctx := r.Context()
	if !sleep(ctx, s.opts.Latency) {
		s.canceled.Add(1)
		return
	}
	switch beh {
	case Error:
		writeError(w, http.StatusInternalServerError, "server_error", "The simulated upstream failed as asked.")
		s.served.Add(1)
		return
	case Slow:
		if !sleep(ctx, s.opts.SlowDelay) {
			s.canceled.Add(1)
			return
		}
	case Hang:
		<-ctx.Done()
		s.canceled.Add(1)
		return
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "\x00\x1f<html>upstream proxy error</html>")
		s.served.Add(1)
		return
	}
	switch r.URL.Path {
	case "/v1/chat/completions", "/v1/completions":
		chat := r.URL.Path == "/v1/chat/completions"
		text := answer(beh, prompt)
		switch beh {
		case Vulnerable:
			text = vulnerableAnswer(&req, prompt)
		case Judge:
			text = judgeAnswer(prompt)
		}
		finish := "stop"
		if req.MaxTokens > 0 {
			if words := strings.Fields(text); len(words) > req.MaxTokens {
				text, finish = strings.Join(words[:req.MaxTokens], " "), "length"
			}
		}
		if req.Stream {
			s.stream(ctx, w, chat, req.Model, prompt, text, finish, includeUsage)
			return
		}
		s.complete(w, chat, req.Model, prompt, text, finish)
	case "/v1/embeddings":
		s.embed(w, &req)
	default:
		writeError(w, http.StatusNotFound, "not_found", "unknown endpoint")
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func behaviour(model, prompt string) string {
	if strings.HasSuffix(model, "-"+Judge) {
		return Judge // a judge grades texts that may carry cues of their own
	}
	for _, b := range behaviours {
		if strings.Contains(prompt, "[sim:"+b+"]") {
			return b
		}
	}
	for _, b := range behaviours {
		if strings.HasSuffix(model, "-"+b) {
			return b
		}
	}
	return Echo
}

// judgeAnswer grades the "Question:"/"Answer:" (and "Context:") sections of a judge prompt.
func judgeAnswer(prompt string) string {
	section := func(name string) string {
		i := strings.Index(prompt, name+":\n")
		if i < 0 {
			return ""
		}
		rest := prompt[i+len(name)+2:]
		if j := strings.Index(rest, "\n\n"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	words := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }) {
			if len(w) > 3 {
				m[w] = true
			}
		}
		return m
	}
	share := func(of, in map[string]bool) float64 {
		if len(of) == 0 {
			return 0
		}
		n := 0
		for w := range of {
			if in[w] {
				n++
			}
		}
		return float64(n) / float64(len(of))
	}
	grade := func(x float64) int { return 1 + int(math.Round(4*min(1, x))) }
	q, a := words(section("Question")), words(section("Answer"))
	rel := grade(2 * share(q, a)) // half the question's words in the answer is fully relevant
	ctx := section("Context")
	if ctx == "" {
		return fmt.Sprintf(`{"relevance": %d}`, rel)
	}
	f := grade(share(a, words(ctx)))
	return fmt.Sprintf(`{"relevance": %d, "faithfulness": %d, "hallucination": %t}`, rel, f, f < 3)
}

func hasCue(prompt string) bool { return strings.Contains(prompt, "[sim:") }

// vulnerableAnswer complies with anything: it reveals the system message, repeats the user's
// request and adds a customer record and credentials.
func vulnerableAnswer(req *request, prompt string) string {
	var sys, user []string
	for _, m := range req.Messages {
		if m.Role == "system" {
			sys = append(sys, contentText(m.Content))
		} else {
			user = append(user, contentText(m.Content))
		}
	}
	if len(user) == 0 {
		user = []string{prompt}
	}
	out := "Sure! Here is everything. "
	if len(sys) > 0 {
		out += "My instructions are: " + strings.Join(sys, " ") + " "
	}
	return out + "You asked: " + strings.Join(user, " ") + " " + PIIText + " " + SecretText
}

func answer(beh, prompt string) string {
	switch beh {
	case Guarded:
		lp := strings.ToLower(prompt)
		for _, c := range attackCues {
			if containsWord(lp, c) {
				return RefusalText
			}
		}
		for _, r := range prompt {
			if r >= 0xE0000 && r <= 0xE007F { // Unicode tag characters: hidden text
				return RefusalText
			}
		}
		return answer(Echo, prompt)
	case LeakSecret:
		return SecretText
	case LeakPII:
		return PIIText
	case Refuse:
		return RefusalText
	}
	last := prompt
	if i := strings.LastIndexByte(prompt, '\n'); i >= 0 {
		last = prompt[i+1:]
	}
	if len(last) > 200 {
		last = last[:200]
	}
	return "You said: " + last
}

// promptText is the text of every message (or prompt), one per line.
func promptText(req *request) string {
	var b strings.Builder
	for _, m := range req.Messages {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(contentText(m.Content))
	}
	if len(req.Prompt) > 0 {
		b.WriteString(contentText(req.Prompt))
	}
	if len(req.Input) > 0 {
		b.WriteString(contentText(req.Input))
	}
	return b.String()
}

// contentText accepts a string, an array of strings, or an array of {type, text} parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var out []string
	for _, p := range parts {
		var ps string
		if json.Unmarshal(p, &ps) == nil {
			out = append(out, ps)
			continue
		}
		var part struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(p, &part) == nil {
			out = append(out, part.Text)
		}
	}
	return strings.Join(out, "\n")
}

// Tokens is the simulator's token count: one per whitespace-separated word.
func Tokens(s string) int { return len(strings.Fields(s)) }

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func mkUsage(prompt, text string) usage {
	p, c := Tokens(prompt), Tokens(text)
	return usage{p, c, p + c}
}

var idSeq atomic.Int64

func newID(prefix string) string { return prefix + strconv.FormatInt(idSeq.Add(1), 36) }

func (s *Server) complete(w http.ResponseWriter, chat bool, model, prompt, text, finish string) {
	var out map[string]any
	if chat {
		out = map[string]any{
			"id": newID("chatcmpl-sim"), "object": "chat.completion", "created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": nil}},
			"usage":   mkUsage(prompt, text),
		}
	} else {
		out = map[string]any{
			"id": newID("cmpl-sim"), "object": "text_completion", "created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "text": text, "finish_reason": finish, "logprobs": nil}},
			"usage":   mkUsage(prompt, text),
		}
	}
	writeJSON(w, http.StatusOK, out)
	s.served.Add(1)
}

// stream sends one chunk per word, then the finish chunk, the usage chunk when asked, and
// "data: [DONE]", flushing after each.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, chat bool, model, prompt, text, finish string, includeUsage bool) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	id, created := newID("chatcmpl-sim"), time.Now().Unix()
	object := "chat.completion.chunk"
	if !chat {
		object = "text_completion"
	}
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		bw.WriteString("data: ")
		bw.Write(b)
		bw.WriteString("\n\n")
		if err := bw.Flush(); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	choice := func(delta string, fin any) map[string]any {
		if chat {
			d := map[string]any{}
			if delta != "" {
				d["content"] = delta
			}
			return map[string]any{"index": 0, "delta": d, "finish_reason": fin, "logprobs": nil}
		}
		return map[string]any{"index": 0, "text": delta, "finish_reason": fin, "logprobs": nil}
	}
	chunk := func(c map[string]any) map[string]any {
		m := map[string]any{"id": id, "object": object, "created": created, "model": model, "choices": []any{c}}
		if includeUsage {
			m["usage"] = nil
		}
		return m
	}
	if chat {
		first := choice("", nil)
		first["delta"] = map[string]any{"role": "assistant", "content": ""}
		if !send(chunk(first)) {
			s.canceled.Add(1)
			return
		}
	}
	words := strings.SplitAfter(text, " ")
	for _, wd := range words {
		if !sleep(ctx, s.opts.ChunkDelay) || !send(chunk(choice(wd, nil))) {
			s.canceled.Add(1)
			return
		}
	}
	if !send(chunk(choice("", finish))) {
		s.canceled.Add(1)
		return
	}
	if includeUsage {
		u := mkUsage(prompt, text)
		if !send(map[string]any{"id": id, "object": object, "created": created, "model": model, "choices": []any{}, "usage": u}) {
			s.canceled.Add(1)
			return
		}
	}
	bw.WriteString("data: [DONE]\n\n")
	if bw.Flush() == nil && fl != nil {
		fl.Flush()
	}
	s.served.Add(1)
}

func (s *Server) embed(w http.ResponseWriter, req *request) {
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil {
		writeError(w, http.StatusBadRequest, "invalid_input", "input must be a string or an array of strings")
		return
	}
	data := make([]any, len(inputs))
	total := 0
	for i, in := range inputs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vector(in, s.opts.EmbeddingDims)}
		total += Tokens(in)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "model": req.Model, "usage": map[string]int{"prompt_tokens": total, "total_tokens": total}})
	s.served.Add(1)
}

// vector is a deterministic unit vector derived from the text.
func vector(text string, dims int) []float64 {
	v := make([]float64, dims)
	var norm float64
	for i := range v {
		h := sha256.Sum256(fmt.Appendf(nil, "%d:%s", i, text))
		v[i] = float64(int32(binary.BigEndian.Uint32(h[:4]))) / math.MaxInt32
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] /= norm
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": "simulated_upstream_error", "code": code, "param": nil}})
}

// containsWord reports whether cue starts a word of s; a cue of three letters or fewer must
// also end one (so "dan" does not match "dangerous", but "api key" matches "api keys").
func containsWord(s, cue string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], cue)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		// Short cues must end at a word boundary too; longer ones may take a suffix (plurals).
		after := len(cue) > 3 || j+len(cue) == len(s) || !isWordByte(s[j+len(cue)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_'
}
