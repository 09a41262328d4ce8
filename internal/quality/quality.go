// Package quality scores the output quality of live traffic and watches user feedback
// (docs/QUALITY.md). A [Scorer] samples a model's inference events and asks a judge model from
// the inventory (any OpenAI-compatible route, called through Warden's gateway under the reserved
// probe identity, so the judge's own traffic stays out of the analytics) to rate relevance and,
// when the event carries retrieval context, faithfulness and hallucination; every score is
// recorded as a feedback event from the service account warden-judge. A [Tracker] follows
// feedback events — the judge's scores and users' ratings — per model and reports a drop
// against the model's own earlier level as a detection for the rules (quality_drop,
// feedback_drop).
//
// Concurrency: Scorer and Tracker are safe for concurrent use; Scorer.Offer never blocks.
package quality

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/probe"
)

// JudgeAccount is the service account of the judge's feedback events.
const JudgeAccount = "warden-judge"

// Attribute keys of judge feedback events.
const (
	AttrRelevance     = "quality.relevance"     // 0..1
	AttrFaithfulness  = "quality.faithfulness"  // 0..1, RAG events only
	AttrHallucination = "quality.hallucination" // true when the answer asserts what the context does not support
	AttrJudge         = "quality.judge"         // the judge model
)

// Target sends one chat request; *probe.GatewayTarget implements it.
type Target interface {
	Chat(ctx context.Context, req probe.Request) (probe.Reply, error)
}

// Options configure a Scorer.
type Options struct {
	Target Target
	// Models returns a model's inventory entry (its quality settings and the judge's price).
	Models func(name string) (config.Model, bool)
	Emit   func(ctx context.Context, evs []*event.Event) error
	Logger *slog.Logger
	Now    func() time.Time
	// Queue bounds events waiting for the judge (default 256); beyond it samples are dropped.
	Queue int
}

// maxAge is the oldest event Offer takes.
const maxAge = 10 * time.Minute

// Scorer samples inference events and has them judged.
type Scorer struct {
	opts Options
	log  *slog.Logger
	ch   chan *event.Event

	mu    sync.Mutex
	spend map[string]float64 // model|day → USD spent on judging
	stats map[string]*Counts
}

// Counts are a model's judging totals since start.
type Counts struct {
	Sampled  int     `json:"sampled"`
	Judged   int     `json:"judged"`
	Errors   int     `json:"errors"`
	Dropped  int     `json:"dropped"`
	Capped   int     `json:"capped"` // skipped because the day's judge spend cap was reached
	SpendUSD float64 `json:"spend_usd"`
}

// NewScorer returns a scorer; run it with Run.
func NewScorer(opts Options) (*Scorer, error) {
	if opts.Target == nil || opts.Models == nil || opts.Emit == nil {
		return nil, errors.New("quality: Options.Target, Models and Emit are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	return &Scorer{opts: opts, log: opts.Logger.With("component", "quality"), ch: make(chan *event.Event, opts.Queue),
		spend: map[string]float64{}, stats: map[string]*Counts{}}, nil
}

// sampled decides deterministically (by request id) whether an event is in a rate's sample.
func sampled(id string, rate float64) bool {
	if rate >= 1 {
		return true
	}
	if rate <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return float64(h.Sum64()%1_000_000) < rate*1_000_000
}

func (s *Scorer) counts(model string) *Counts {
	c := s.stats[model]
	if c == nil {
		c = &Counts{}
		s.stats[model] = c
	}
	return c
}

// Offer hands an inference event to the scorer; it keeps it when the model has a judge and the
// event is in the sample. It never blocks: a full queue drops the sample (counted).
func (s *Scorer) Offer(ev *event.Event) {
	if ev.Type != event.TypeInference || ev.IsProbeTraffic() || ev.Request == nil || ev.Response == nil ||
		ev.Response.Status != "ok" || ev.Request.Input == "" || ev.Response.Output == "" {
		return
	}
	m, ok := s.opts.Models(ev.Model.Name)
	if !ok || m.Quality.Judge == "" || !sampled(ev.ID+ev.Request.ID, m.Quality.Sample) {
		return
	}
	if s.opts.Now().Sub(ev.Time) > maxAge {
		return // replayed history (a restart, a rebuild): judge live traffic only
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts(m.Name)
	c.Sampled++
	cp := *ev
	req, resp := *ev.Request, *ev.Response
	cp.Request, cp.Response = &req, &resp
	select {
	case s.ch <- &cp:
	default:
		c.Dropped++
	}
}

// Counts returns a model's judging totals.
func (s *Scorer) Counts(model string) Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.stats[model]; c != nil {
		return *c
	}
	return Counts{}
}

// Run judges queued samples until ctx ends.
func (s *Scorer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-s.ch:
			s.judge(ctx, ev)
		}
	}
}

// contextOf is the retrieval context of a RAG event: request.features.context or the
// attribute rag.context.
func contextOf(ev *event.Event) string {
	if c, ok := ev.Request.Features["context"].(string); ok {
		return c
	}
	c, _ := ev.Attributes["rag.context"].(string)
	return c
}

const judgeSystem = `You grade the answer of an AI assistant. Reply with one JSON object and nothing else:
{"relevance": 1-5 (does the answer address the question?)%s}`

const judgeRAG = `, "faithfulness": 1-5 (is every claim supported by the context?), "hallucination": true|false (does the answer assert facts the context does not contain?)`

func (s *Scorer) judge(ctx context.Context, ev *event.Event) {
	m, ok := s.opts.Models(ev.Model.Name)
	if !ok {
		return
	}
	q := m.Quality
	judgeModel, _ := s.opts.Models(q.Judge)
	day := s.opts.Now().UTC().Format("2006-01-02")
	s.mu.Lock()
	c := s.counts(m.Name)
	if q.MaxSpendUSD > 0 && s.spend[m.Name+"|"+day] >= q.MaxSpendUSD {
		c.Capped++
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	rag := contextOf(ev)
	sys := fmt.Sprintf(judgeSystem, "")
	user := "Question:\n" + clip(ev.Request.Input, 4000) + "\n\nAnswer:\n" + clip(ev.Response.Output, 4000)
	if rag != "" {
		sys = fmt.Sprintf(judgeSystem, judgeRAG)
		user = "Context:\n" + clip(rag, 8000) + "\n\n" + user
	}
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	reply, err := s.opts.Target.Chat(cctx, probe.Request{Model: q.Judge, MaxTokens: 100, RunID: "quality-judge", Probe: "quality/" + m.Name,
		Messages: []probe.Message{{Role: "system", Content: sys}, {Role: "user", Content: user}}})
	cancel()
	in, out := reply.InputTokens, reply.OutputTokens
	if in == 0 && out == 0 {
		in, out = int64(len(sys)+len(user)+3)/4, int64(len(reply.Text)+3)/4
	}
	cost := float64(in)*judgeModel.Price.InputPerMTok/1e6 + float64(out)*judgeModel.Price.OutputPerMTok/1e6
	s.mu.Lock()
	s.spend[m.Name+"|"+day] += cost
	c.SpendUSD += cost
	s.mu.Unlock()
	var sc Scores
	if err == nil {
		sc, err = ParseScores(reply.Text, rag != "")
	}
	if err != nil {
		s.mu.Lock()
		c.Errors++
		s.mu.Unlock()
		s.log.Warn("quality judge failed", "model", m.Name, "judge", q.Judge, "err", err)
		return
	}
	fb := &event.Event{Type: event.TypeFeedback, Time: s.opts.Now().UTC(), Model: event.Model{Name: m.Name, Version: ev.Model.Version},
		Environment: ev.Environment, Actor: event.Actor{ServiceAccount: JudgeAccount}, RequestID: ev.Request.ID,
		Attributes: map[string]any{AttrRelevance: sc.Relevance, AttrJudge: q.Judge}}
	if fb.RequestID == "" {
		fb.RequestID = ev.ID
	}
	if sc.HasRAG {
		fb.Attributes[AttrFaithfulness] = sc.Faithfulness
		fb.Attributes[AttrHallucination] = sc.Hallucination
	}
	if err := fb.Validate(); err != nil {
		s.log.Error("quality event invalid", "err", err)
		return
	}
	if err := s.opts.Emit(context.WithoutCancel(ctx), []*event.Event{fb}); err != nil {
		s.log.Error("quality score not recorded", "model", m.Name, "err", err)
		return
	}
	s.mu.Lock()
	c.Judged++
	s.mu.Unlock()
}

// Scores are a judge's grades scaled to 0..1.
type Scores struct {
	Relevance     float64
	Faithfulness  float64
	Hallucination bool
	HasRAG        bool
}

var jsonObject = regexp.MustCompile(`(?s)\{.*\}`)

// ParseScores reads the judge's JSON answer (the first {...} in it; grades 1..5 become 0..1).
// A missing or out-of-range grade is an error.
func ParseScores(text string, rag bool) (Scores, error) {
	obj := jsonObject.FindString(text)
	if obj == "" {
		return Scores{}, fmt.Errorf("judge answer has no JSON object: %q", clip(text, 80))
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(obj), &raw); err != nil {
		return Scores{}, fmt.Errorf("judge answer is not JSON: %q", clip(obj, 80))
	}
	grade := func(k string) (float64, error) {
		v, ok := raw[k]
		if !ok {
			return 0, fmt.Errorf("judge answer lacks %q", k)
		}
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case string:
			p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return 0, fmt.Errorf("judge %s %q is not a number", k, x)
			}
			f = p
		default:
			return 0, fmt.Errorf("judge %s is not a number", k)
		}
		if f < 1 || f > 5 {
			return 0, fmt.Errorf("judge %s %v is outside 1..5", k, f)
		}
		return (f - 1) / 4, nil
	}
	var sc Scores
	var err error
	if sc.Relevance, err = grade("relevance"); err != nil {
		return Scores{}, err
	}
	if rag {
		sc.HasRAG = true
		if sc.Faithfulness, err = grade("faithfulness"); err != nil {
			return Scores{}, err
		}
		h, ok := raw["hallucination"].(bool)
		if !ok {
			return Scores{}, errors.New(`judge answer lacks a boolean "hallucination"`)
		}
		sc.Hallucination = h
	}
	return sc, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
