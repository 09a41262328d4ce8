package quality

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/probe"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

func TestParseScores(t *testing.T) {
	tests := []struct {
		text    string
		rag     bool
		want    Scores
		wantErr string
	}{
		{`{"relevance": 5}`, false, Scores{Relevance: 1}, ""},
		{"Sure! Here is my grade:\n```json\n{\"relevance\": \"3\"}\n```", false, Scores{Relevance: 0.5}, ""},
		{`{"relevance": 1, "faithfulness": 2, "hallucination": true}`, true, Scores{Relevance: 0, Faithfulness: 0.25, Hallucination: true, HasRAG: true}, ""},
		{`{"relevance": 9}`, false, Scores{}, "outside 1..5"},
		{`{"relevance": 4}`, true, Scores{}, `lacks "faithfulness"`},
		{`{"relevance": 4, "faithfulness": 4}`, true, Scores{}, `boolean "hallucination"`},
		{`I think it is fine.`, false, Scores{}, "no JSON object"},
		{`{relevance: 4}`, false, Scores{}, "not JSON"},
		{`{"relevance": [4]}`, false, Scores{}, "not a number"},
	}
	for _, tc := range tests {
		got, err := ParseScores(tc.text, tc.rag)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseScores(%q) error %v, want %q", tc.text, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseScores(%q) = %+v, %v; want %+v", tc.text, got, err, tc.want)
		}
	}
}

func FuzzParseScores(f *testing.F) {
	f.Add(`{"relevance": 5, "faithfulness": 1, "hallucination": false}`, true)
	f.Add("text {\"relevance\": \"2\"} more", false)
	f.Fuzz(func(t *testing.T, text string, rag bool) {
		sc, err := ParseScores(text, rag)
		if err != nil {
			return
		}
		if sc.Relevance < 0 || sc.Relevance > 1 || sc.Faithfulness < 0 || sc.Faithfulness > 1 || sc.HasRAG != rag {
			t.Fatalf("scores out of range: %+v", sc)
		}
	})
}

func fb(model string, judge bool, v float64, i int) *event.Event {
	ev := &event.Event{ID: fmt.Sprintf("fb-%d", i), Type: event.TypeFeedback, Time: time.Unix(int64(1e9+i), 0), Model: event.Model{Name: model}, RequestID: "r"}
	if judge {
		ev.Actor.ServiceAccount = JudgeAccount
		ev.Attributes = map[string]any{AttrRelevance: v}
	} else {
		r := int(v)
		ev.Rating = &r
	}
	return ev
}

// TestTracker: after a baseline of good scores, a recent window whose mean falls by more than
// the drop raises one detection, none while it stays low, and another after a recovery.
func TestTracker(t *testing.T) {
	for _, tc := range []struct {
		name       string
		judge      bool
		good, bad  float64
		kind, feat string
	}{
		{"judge relevance", true, 0.9, 0.4, KindQualityDrop, "relevance"},
		{"user ratings", false, 1, -1, KindFeedbackDrop, "user_rating"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(TrackerOptions{Baseline: 10, Window: 5})
			i := 0
			feed := func(v float64, n int) (kinds []string) {
				for range n {
					for _, d := range tr.Observe(fb("bot", tc.judge, v, i)) {
						if d.Recovered {
							kinds = append(kinds, "recovered "+d.Kind)
						} else {
							kinds = append(kinds, d.Kind)
						}
						if d.Feature != tc.feat || d.Value >= d.Threshold != d.Recovered {
							t.Errorf("detection %+v", d)
						}
						if err := detection.Validate(&d); err != nil {
							t.Errorf("detection outside its registered schema: %v", err)
						}
					}
					i++
				}
				return kinds
			}
			if k := feed(tc.good, 15); len(k) != 0 {
				t.Fatalf("baseline and a good window raised %v", k)
			}
			if k := feed(tc.bad, 10); len(k) != 1 || k[0] != tc.kind {
				t.Fatalf("a bad window raised %v, want one %s", k, tc.kind)
			}
			if k := feed(tc.good, 5); len(k) != 1 || k[0] != "recovered "+tc.kind {
				t.Fatalf("recovery raised %v, want one recovered %s (its alert resolves)", k, tc.kind)
			}
			var buf bytes.Buffer
			if err := tr.Snapshot(&buf); err != nil {
				t.Fatal(err)
			}
			back := NewTracker(TrackerOptions{Baseline: 10, Window: 5})
			if err := back.Restore(&buf); err != nil {
				t.Fatal(err)
			}
			tr = back
			if k := feed(tc.bad, 5); len(k) != 1 {
				t.Fatalf("a second drop after restore raised %v", k)
			}
			st := tr.Status("bot")
			if len(st) != 1 || st[0].Metric != tc.feat || st[0].Baseline == nil || !st[0].Low {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestScorer judges sampled events through the simulated judge: relevant answers score high,
// an off-topic answer low, a RAG answer outside its context is a hallucination; the spend
// cap stops judging; a judge that answers garbage counts errors.
func TestScorer(t *testing.T) {
	sim := upstreamsim.New(upstreamsim.Options{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	models := map[string]config.Model{
		"bot":    {Name: "bot", Quality: config.Quality{Judge: "grader", Sample: 1}},
		"capped": {Name: "capped", Quality: config.Quality{Judge: "grader", Sample: 1, MaxSpendUSD: 1e-9}},
		"broken": {Name: "broken", Quality: config.Quality{Judge: "garbler", Sample: 1}},
		"grader": {Name: "grader", Upstream: config.Upstream{Model: "sim-judge"}, Price: config.Price{InputPerMTok: 1}},
	}
	var mu sync.Mutex
	var got []*event.Event
	target := &probe.GatewayTarget{BaseURL: srv.URL, HTTP: srv.Client()}
	s, err := NewScorer(Options{
		Target: judgeRoute{target, map[string]string{"grader": "sim-judge", "garbler": "sim-garbage"}},
		Models: func(n string) (config.Model, bool) { m, ok := models[n]; return m, ok },
		Emit: func(_ context.Context, evs []*event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, evs...)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	now := time.Now()
	inf := func(model, id, in, out, rag string) *event.Event {
		ev := &event.Event{ID: id, Type: event.TypeInference, Time: now, Model: event.Model{Name: model},
			Request: &event.Request{ID: id, Input: in}, Response: &event.Response{Status: "ok", Output: out}}
		if rag != "" {
			ev.Request.Features = map[string]any{"context": rag}
		}
		return ev
	}
	s.Offer(inf("bot", "r1", "How long does a refund take?", "A refund does not take long: about five days.", ""))
	s.Offer(inf("bot", "r2", "How long does a refund take?", "Our office has a lovely garden.", ""))
	s.Offer(inf("bot", "r3", "What is the deductible?", "The deductible is 500 euros per claim.", "Policy: the deductible is 500 euros per claim."))
	s.Offer(inf("bot", "r4", "What is the deductible?", "The deductible is waived for members of the golf club.", "Policy: the deductible is 500 euros per claim."))
	s.Offer(inf("capped", "r5", "q", "a", ""))
	s.Offer(inf("capped", "r6", "q", "a", ""))
	s.Offer(inf("broken", "r7", "q", "a", ""))
	old := inf("bot", "r8", "q", "a", "")
	old.Time = now.Add(-time.Hour)
	s.Offer(old) // replayed history is not judged
	deadline := time.Now().Add(10 * time.Second)
	for s.Counts("bot").Judged < 4 || s.Counts("broken").Errors < 1 || s.Counts("capped").Capped < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("counts bot %+v capped %+v broken %+v", s.Counts("bot"), s.Counts("capped"), s.Counts("broken"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	by := map[string]*event.Event{}
	for _, ev := range got {
		if err := ev.Validate(); err != nil {
			t.Errorf("invalid feedback event: %v", err)
		}
		by[ev.RequestID] = ev
	}
	rel := func(id string) float64 { v, _ := by[id].Attributes[AttrRelevance].(float64); return v }
	if rel("r1") < 0.75 || rel("r2") > 0.25 {
		t.Errorf("relevance on-topic %v, off-topic %v", rel("r1"), rel("r2"))
	}
	if by["r3"].Attributes[AttrHallucination] != false || by["r4"].Attributes[AttrHallucination] != true {
		t.Errorf("hallucination grounded %v, ungrounded %v", by["r3"].Attributes, by["r4"].Attributes)
	}
	if by["r8"] != nil || s.Counts("capped").Judged != 1 {
		t.Errorf("old event judged %v; capped counts %+v", by["r8"] != nil, s.Counts("capped"))
	}
	for _, ev := range got {
		if ev.Actor.ServiceAccount != JudgeAccount || ev.Type != event.TypeFeedback || ev.Rating != nil {
			t.Errorf("feedback event %+v", ev)
		}
	}
}

// judgeRoute maps the judge's inventory name to its simulated upstream model, as the gateway's
// route would.
type judgeRoute struct {
	t      *probe.GatewayTarget
	routes map[string]string
}

func (j judgeRoute) Chat(ctx context.Context, req probe.Request) (probe.Reply, error) {
	req.Model = j.routes[req.Model]
	return j.t.Chat(ctx, req)
}
