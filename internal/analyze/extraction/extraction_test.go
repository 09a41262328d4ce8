package extraction

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

var (
	t0    = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	topic = []string{"invoice", "refund", "password", "delivery", "account", "order", "subscription", "card", "address", "discount"}
	verbs = []string{"change", "cancel", "find", "update", "check", "reset", "track", "renew"}
)

func ordinaryQuestion(r *rand.Rand) string {
	return fmt.Sprintf("How do I %s my %s? It says %s is not available.", verbs[r.IntN(len(verbs))], topic[r.IntN(len(topic))], topic[r.IntN(len(topic))])
}

// attackerQuery perturbs a fixed probing template with random tokens, the way an extraction
// attack maps a decision boundary.
func attackerQuery(r *rand.Rand) string {
	return fmt.Sprintf("Classify the sentiment of this review: product %d was %s and %s, rating %d of 10, code %x",
		r.IntN(100000), randWord(r), randWord(r), r.IntN(11), r.Uint32())
}

func randWord(r *rand.Rand) string {
	var b strings.Builder
	for range 4 + r.IntN(6) {
		b.WriteByte(byte('a' + r.IntN(26)))
	}
	return b.String()
}

func inf(id int, consumer, input string, at time.Time) *event.Event {
	return &event.Event{ID: fmt.Sprintf("e%d", id), Type: event.TypeInference, Time: at, Environment: "prod",
		Model: event.Model{Name: "sentiment"}, Actor: event.Actor{Consumer: consumer}, Request: &event.Request{Input: input}}
}

type traffic struct {
	name     string
	consumer string
	perWin   int
	query    func(*rand.Rand) string
}

func run(t *testing.T, extra []traffic, windows int) map[string][]Finding {
	t.Helper()
	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var all []traffic
	for i := range 40 {
		all = append(all, traffic{consumer: fmt.Sprintf("app-%02d", i), perWin: 5 + r.IntN(60), query: ordinaryQuestion})
	}
	all = append(all, extra...)
	found := map[string][]Finding{}
	id := 0
	for w := range windows {
		ws := t0.Add(time.Duration(w) * 10 * time.Minute)
		for _, tr := range all {
			if tr.perWin == 0 {
				continue
			}
			step := 10 * time.Minute / time.Duration(tr.perWin+1)
			// only send the extra (attack) traffic in the last windows, after a baseline formed
			if tr.name != "" && w < windows-2 {
				continue
			}
			for q := range tr.perWin {
				id++
				for _, f := range d.Observe(inf(id, tr.consumer, tr.query(r), ws.Add(step*time.Duration(q+1)))) {
					found[f.Consumer] = append(found[f.Consumer], f)
				}
			}
		}
	}
	for _, f := range d.Flush(t0.Add(time.Duration(windows+1) * 10 * time.Minute)) {
		found[f.Consumer] = append(found[f.Consumer], f)
	}
	return found
}

func TestExtractionAttackVersusOrdinaryUsers(t *testing.T) {
	batch := []string{"Summarise ticket 1", "Summarise ticket 2", "Summarise ticket 3"}
	tests := []struct {
		name    string
		traffic traffic
		flag    bool
	}{
		{"extraction attack", traffic{name: "x", consumer: "scraper", perWin: 1500, query: attackerQuery}, true},
		{"repetitive batch job", traffic{name: "x", consumer: "batch", perWin: 1500, query: func(r *rand.Rand) string { return batch[r.IntN(3)] }}, false},
		{"busier ordinary app", traffic{name: "x", consumer: "busy", perWin: 120, query: ordinaryQuestion}, false},
		{"diverse but low volume", traffic{name: "x", consumer: "curious", perWin: 40, query: attackerQuery}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			found := run(t, []traffic{tc.traffic}, 8)
			got := found[tc.traffic.consumer]
			if tc.flag && len(got) == 0 {
				t.Fatalf("%s not flagged", tc.traffic.consumer)
			}
			if !tc.flag && len(got) > 0 {
				t.Fatalf("%s flagged: score %.2f features %+v", tc.traffic.consumer, got[0].Score, got[0].Features)
			}
			for c, fs := range found {
				if c != tc.traffic.consumer {
					t.Errorf("ordinary consumer %s flagged: score %.2f %+v", c, fs[0].Score, fs[0].Features)
				}
			}
			for _, f := range got {
				t.Logf("%s: score %.2f (V %.2f D %.2f P %.2f) %+v", f.Consumer, f.Score, f.Volume, f.Diversity, f.Probing, f.Features)
				d := f.Detection()
				if d.Kind != Kind || d.Value < d.Threshold || d.Consumer != tc.traffic.consumer || len(d.EventIDs) == 0 {
					t.Errorf("detection %+v", d)
				}
				if f.Features.NearDupRatio <= 0.2 && f.Features.Coverage <= 0.2 {
					t.Errorf("attack features look ordinary: %+v", f.Features)
				}
			}
		})
	}
}

func TestSimhashNearDuplicates(t *testing.T) {
	a := simhash("Classify the sentiment of this review: product 123 was great and cheap, rating 9 of 10")
	b := simhash("Classify the sentiment of this review: product 124 was great and cheap, rating 9 of 10")
	c := simhash("Where is my parcel? I ordered a lamp last week and nothing arrived yet.")
	if d := popcount(a ^ b); d > 8 {
		t.Errorf("one-token perturbation at Hamming distance %d, want ≤ 8", d)
	}
	if d := popcount(a ^ c); d <= 8 {
		t.Errorf("unrelated texts at Hamming distance %d, want > 8", d)
	}
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestBoundedMemory(t *testing.T) {
	d, err := New(Options{MaxConsumers: 10, MaxInputs: 16})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		d.Observe(inf(i, fmt.Sprintf("c%d", i), fmt.Sprintf("input %d", i), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	if len(d.windows) > 10 {
		t.Fatalf("%d open windows, cap 10", len(d.windows))
	}
	for i := range 1000 {
		d.Observe(inf(i, "one", fmt.Sprintf("input number %d with more text", i), t0.Add(time.Second)))
	}
	for k, w := range d.windows {
		if k.consumer == "one" && len(w.sigs) > 16 {
			t.Fatalf("%d signatures kept, cap 16", len(w.sigs))
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	d, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	evs := make([]*event.Event, 4096)
	for i := range evs {
		evs[i] = inf(i, fmt.Sprintf("app-%d", i%50), ordinaryQuestion(r), t0.Add(time.Duration(i)*time.Millisecond))
	}
	i := 0
	for b.Loop() {
		d.Observe(evs[i%len(evs)])
		i++
	}
}
