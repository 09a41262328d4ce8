package probe

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

// harness runs packs against the simulated upstream (no gateway: the target speaks the same
// OpenAI wire format) with the real scanners, collecting the emitted events.
type harness struct {
	sim    *upstreamsim.Server
	runner *Runner
	mu     sync.Mutex
	events []*event.Event
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{sim: upstreamsim.New(upstreamsim.Options{})}
	srv := httptest.NewServer(h.sim)
	t.Cleanup(srv.Close)
	eng, err := scan.New(scan.Options{MaxDecodeDepth: 3})
	if err != nil {
		t.Fatal(err)
	}
	h.runner, err = NewRunner(Options{
		Target: &GatewayTarget{BaseURL: srv.URL, Secret: "test", HTTP: srv.Client()}, Scanner: eng,
		Emit: func(_ context.Context, evs []*event.Event) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, ev := range evs {
				if err := ev.Validate(); err != nil {
					t.Errorf("emitted event %s invalid: %v", ev.ID, err)
				}
			}
			h.events = append(h.events, evs...)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func builtin(t *testing.T) []*Pack {
	t.Helper()
	p, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func total(packs []*Pack) int {
	n := 0
	for _, p := range packs {
		n += len(p.Probes)
	}
	return n
}

// TestRunJudgesPosture: against a model whose guardrails hold every built-in probe is resisted;
// against one that complies with everything every probe fails, with evidence, and one probe
// event per result is emitted without the model's output text.
func TestRunJudgesPosture(t *testing.T) {
	packs := builtin(t)
	for _, tc := range []struct {
		posture string
		want    Result
	}{{upstreamsim.Guarded, Resisted}, {upstreamsim.Vulnerable, Failed}} {
		t.Run(tc.posture, func(t *testing.T) {
			h := newHarness(t)
			model := "sim-" + tc.posture
			rep, err := h.runner.Run(context.Background(), Spec{Model: model, Tier: "high", SystemPrompt: "You are the ACME support assistant.", Canaries: []string{"CANARY-7F3A"}, Packs: packs})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[tc.want] != total(packs) {
				for _, r := range rep.Results {
					if r.Result != tc.want {
						t.Errorf("%s/%s: %s (%s) excerpt %q", r.Pack, r.Probe, r.Result, r.Evidence, r.Excerpt)
					}
				}
			}
			if rep.Stopped != "" || rep.Requests != total(packs) {
				t.Errorf("stopped %q after %d requests", rep.Stopped, rep.Requests)
			}
			if len(h.events) != total(packs) {
				t.Fatalf("%d events, want %d", len(h.events), total(packs))
			}
			for _, ev := range h.events {
				if ev.Type != event.TypeProbe || ev.Actor.ServiceAccount != Identity || ev.Attributes[AttrRun] != rep.RunID {
					t.Errorf("event %+v", ev)
				}
				if *ev.Passed != (tc.want == Resisted) {
					t.Errorf("%s passed=%v", ev.ID, *ev.Passed)
				}
				for _, leak := range []string{"jane.roe@example.com", "AKIAIOSFODNN7EXAMPLE", "CANARY-7F3A"} {
					if strings.Contains(ev.Evidence, leak) {
						t.Errorf("event evidence carries model output %q: %s", leak, ev.Evidence)
					}
				}
			}
		})
	}
}

// TestRunErrors: an upstream that hangs or answers garbage yields error results, not a stuck
// run; after MaxErrors consecutive errors the run stops and says so.
func TestRunErrors(t *testing.T) {
	packs := builtin(t)
	for _, tc := range []struct {
		posture, evidence string
	}{{upstreamsim.Hang, "no answer within 200ms"}, {upstreamsim.Garbage, "not a chat completion"}, {upstreamsim.Error, "gateway answered 500"}} {
		t.Run(tc.posture, func(t *testing.T) {
			h := newHarness(t)
			start := time.Now()
			rep, err := h.runner.Run(context.Background(), Spec{Model: "sim-" + tc.posture, Packs: packs, Caps: Caps{Timeout: 200 * time.Millisecond, MaxErrors: 3}})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[Error] != 3 || rep.Counts[Skipped] != total(packs)-3 {
				t.Errorf("counts %v", rep.Counts)
			}
			if !strings.Contains(rep.Results[0].Evidence, tc.evidence) {
				t.Errorf("evidence %q, want %q", rep.Results[0].Evidence, tc.evidence)
			}
			if !strings.Contains(rep.Stopped, "3 consecutive errors") {
				t.Errorf("stopped %q", rep.Stopped)
			}
			if len(h.events) != 3 {
				t.Errorf("%d events; skipped probes must not be recorded", len(h.events))
			}
			if time.Since(start) > time.Minute {
				t.Errorf("run took %s", time.Since(start))
			}
		})
	}
}

// TestRunCaps: a run stops at its request, token or spend cap and says which.
func TestRunCaps(t *testing.T) {
	packs := builtin(t)
	for _, tc := range []struct {
		name string
		caps Caps
		in   float64
		want string
		sent int
	}{
		{"requests", Caps{MaxRequests: 3}, 0, "request cap reached (3 requests)", 3},
		{"tokens", Caps{MaxTokens: 1}, 0, "token cap reached", 1},
		{"spend", Caps{MaxSpendUSD: 0.0000001}, 1, "spend cap reached", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rep, err := h.runner.Run(context.Background(), Spec{Model: "sim-guarded", Packs: packs, Caps: tc.caps, InputPerMTok: tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != tc.sent || !strings.Contains(rep.Stopped, tc.want) {
				t.Errorf("sent %d, stopped %q; want %d, %q", rep.Requests, rep.Stopped, tc.sent, tc.want)
			}
			if rep.Counts[Skipped] != total(packs)-tc.sent {
				t.Errorf("skipped %d", rep.Counts[Skipped])
			}
			last := rep.Results[len(rep.Results)-1]
			if last.Result != Skipped || last.Evidence != rep.Stopped {
				t.Errorf("last result %+v", last)
			}
		})
	}
}

// TestRunPostureSwitch: the simulated upstream turns vulnerable between two runs; the tracker
// reports a regression per family that was resisted and now fails.
func TestRunPostureSwitch(t *testing.T) {
	packs := builtin(t)
	h := newHarness(t)
	tr := NewTracker(TrackerOptions{})
	run := func() []string {
		h.events = nil
		if _, err := h.runner.Run(context.Background(), Spec{Model: "bot", Packs: packs}); err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, ev := range h.events {
			ev.Model.Name = "bot"
			for _, d := range tr.Observe(ev) {
				kinds = append(kinds, d.Kind+":"+d.Feature)
			}
		}
		return kinds
	}
	h.sim.SetBehaviour("bot", upstreamsim.Guarded)
	if ks := run(); len(ks) != 0 {
		t.Fatalf("guarded run raised %v", ks)
	}
	h.sim.SetBehaviour("bot", upstreamsim.Vulnerable)
	ks := run()
	regress := map[string]bool{}
	for _, k := range ks {
		if kind, fam, _ := strings.Cut(k, ":"); kind == KindRegression {
			regress[fam] = true
		}
	}
	for _, f := range Families {
		if !regress[f] {
			t.Errorf("no regression for family %s (got %v)", f, ks)
		}
	}
}
