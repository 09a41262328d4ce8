package index

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

// memLog is an in-memory audit log.
type memLog struct {
	mu      sync.Mutex
	leaves  [][]byte
	blobs   [][]byte
	grown   chan struct{}
	readErr error
}

func (l *memLog) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.leaves))
}

func (l *memLog) Read(from uint64, fn func(i uint64, id string, leaf, blob []byte) error) error {
	l.mu.Lock()
	leaves, blobs := l.leaves, l.blobs
	l.mu.Unlock()
	for i := from; i < uint64(len(leaves)); i++ {
		if err := fn(i, "", leaves[i], blobs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLog) wake() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grown
}

// append appends n entries at once, as one group commit does.
func (l *memLog) append(t *testing.T, model, input string, n ...int) {
	t.Helper()
	count := 1
	if len(n) > 0 {
		count = n[0]
	}
	var leaves, blobs [][]byte
	for range count {
		ev := &event.Event{Type: event.TypeInference, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Model: event.Model{Name: model}, Request: &event.Request{Input: input}}
		ev.Normalize()
		leaf, err := ev.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		blob, err := ev.Text().Blob()
		if err != nil {
			t.Fatal(err)
		}
		leaves, blobs = append(leaves, leaf), append(blobs, blob)
	}
	l.mu.Lock()
	l.leaves, l.blobs = append(l.leaves, leaves...), append(l.blobs, blobs...)
	close(l.grown)
	l.grown = make(chan struct{})
	l.mu.Unlock()
}

// memStore records applied rows and how they were batched.
type memStore struct {
	store.Store
	mu      sync.Mutex
	rows    []store.Row
	batches []int
}

func (s *memStore) Apply(_ context.Context, rows []store.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, rows...)
	s.batches = append(s.batches, len(rows))
	return nil
}

func (s *memStore) Position(context.Context) (uint64, error) { return 0, nil }

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

func newWriter(t *testing.T, l *memLog, s *memStore, opts Options) *Writer {
	t.Helper()
	opts.Log, opts.Store = l, s
	opts.Policy = func(model string) (string, string) { return strings.TrimPrefix(model, "m-"), "high" }
	opts.Redact = func(text string) string { return strings.ReplaceAll(text, "4111", "[CARD]") }
	w, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCatchUpAppliesTextPolicy(t *testing.T) {
	l := &memLog{grown: make(chan struct{})}
	for _, m := range []string{"m-full", "m-redacted", "m-none"} {
		l.append(t, m, "card 4111")
	}
	s := &memStore{}
	w := newWriter(t, l, s, Options{BatchSize: 2})
	if err := w.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.Position() != 3 || w.Lag() != 0 {
		t.Fatalf("position %d lag %d, want 3 and 0", w.Position(), w.Lag())
	}
	if fmt.Sprint(s.batches) != "[2 1]" {
		t.Fatalf("batches %v, want [2 1]", s.batches)
	}
	want := []string{"card 4111", "card [CARD]", ""}
	for i, r := range s.rows {
		if r.Seq != uint64(i) || r.Text.Input != want[i] || r.Tier != "high" || r.Event.ID == "" || len(r.Leaf) == 0 {
			t.Errorf("row %d: seq %d text %q tier %q id %q", i, r.Seq, r.Text.Input, r.Tier, r.Event.ID)
		}
	}
}

// A blob the pipeline already redacted (store_text: redacted at write time) is stored as it
// is; only a blob written in full is redacted by the index writer.
func TestCatchUpRedactsOnlyUnredactedBlobs(t *testing.T) {
	l := &memLog{grown: make(chan struct{})}
	l.append(t, "m-redacted", "card 4111")     // written under "full", policy tightened since
	l.append(t, "m-redacted", "card [CARD_1]") // written under "redacted": marked below
	l.mu.Lock()
	b, err := event.Text{Input: "card [CARD_1] 4111", Redacted: true}.Blob()
	if err != nil {
		t.Fatal(err)
	}
	l.blobs[1] = b
	l.mu.Unlock()
	s := &memStore{}
	w := newWriter(t, l, s, Options{})
	calls := 0
	w.opts.Redact = func(text string) string { calls++; return strings.ReplaceAll(text, "4111", "[CARD]") }
	if err := w.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) != 2 {
		t.Fatalf("%d rows, want 2", len(s.rows))
	}
	if got := s.rows[0].Text.Input; got != "card [CARD]" {
		t.Errorf("full blob under the redacted policy: %q, want it redacted", got)
	}
	if got := s.rows[1].Text.Input; got != "card [CARD_1] 4111" {
		t.Errorf("blob marked redacted: %q, want it unchanged (not redacted twice)", got)
	}
	if calls != 2 { // input and output of the first entry only
		t.Errorf("redactor called %d times, want 2", calls)
	}
}

func TestRunCoalescesUnderLoadAndFollowsLightLoad(t *testing.T) {
	l := &memLog{grown: make(chan struct{})}
	s := &memStore{}
	w := newWriter(t, l, s, Options{Wake: l.wake, CoalesceAbove: 10, Coalesce: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s.count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("indexed %d entries, want %d", s.count(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Light load: each append is indexed at once.
	l.append(t, "m-full", "a")
	waitFor(1)
	l.append(t, "m-full", "b")
	waitFor(2)
	// A burst of 20 entries: indexed, then the writer pauses (Coalesce) before following again.
	l.append(t, "m-full", "c", 20)
	waitFor(22)
	l.append(t, "m-full", "d")
	time.Sleep(50 * time.Millisecond)
	if got := s.count(); got != 22 {
		t.Fatalf("indexed %d entries during the pause, want 22", got)
	}
	// Stopping indexes what was appended meanwhile.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := s.count(); got != 23 {
		t.Fatalf("indexed %d entries after stop, want 23", got)
	}
}
