package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
)

// memLog is an in-memory audit log.
type memLog struct {
	mu   sync.Mutex
	recs []audit.Record
	err  error
	// during, when set, runs inside Append before the records become readable.
	during func(recs []audit.Record)
}

func (l *memLog) Append(_ context.Context, recs []audit.Record) ([]uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.during != nil {
		l.during(recs)
	}
	if l.err != nil {
		return nil, l.err
	}
	idx := make([]uint64, len(recs))
	for i, r := range recs {
		idx[i] = uint64(len(l.recs))
		l.recs = append(l.recs, r)
	}
	return idx, nil
}

func inference(model, input string) *event.Event {
	return &event.Event{Type: event.TypeInference, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Model: event.Model{Name: model},
		Request: &event.Request{Input: input}, Response: &event.Response{Output: "answer"}}
}

// testRedact stands in for the PII redactor: it replaces the word "secret".
func testRedact(s string) string { return strings.ReplaceAll(s, "secret", "[SECRET_1]") }

func TestSubmitRecordsLeafWithoutTextAndBlobPerPolicy(t *testing.T) {
	l := &memLog{}
	p, err := New(Options{Log: l, Redact: testRedact, TextPolicy: func(model string) string { return strings.TrimPrefix(model, "m-") }})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.Submit(context.Background(), []*event.Event{inference("m-redacted", "secret prompt"), inference("m-none", "other prompt"), inference("m-full", "secret kept")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0] == "" || ids[0] == ids[1] || l.recs[0].ID != ids[0] {
		t.Fatalf("ids %v, records %+v", ids, l.recs)
	}
	for i, r := range l.recs {
		if strings.Contains(string(r.Leaf), "prompt") || strings.Contains(string(r.Leaf), "answer") || strings.Contains(string(r.Leaf), "kept") {
			t.Fatalf("leaf %d holds raw text: %s", i, r.Leaf)
		}
		ev, err := event.ParseLeaf(r.Leaf)
		if err != nil || ev.Request.InputSHA256 == "" || ev.Response.Status != "ok" {
			t.Fatalf("leaf %d not normalized: %s (%v)", i, r.Leaf, err)
		}
	}
	// store_text: redacted — the blob (on disk) holds only the redacted text.
	text, err := event.ParseText(l.recs[0].Blob)
	if err != nil || text.Input != "[SECRET_1] prompt" || text.Output != "answer" || !text.Redacted || strings.Contains(string(l.recs[0].Blob), "secret") {
		t.Fatalf("blob of the redacted-policy event: %q (%v)", l.recs[0].Blob, err)
	}
	if l.recs[1].Blob != nil {
		t.Fatalf("store_text none wrote text to the log: %q", l.recs[1].Blob)
	}
	if text, err := event.ParseText(l.recs[2].Blob); err != nil || text.Input != "secret kept" || text.Redacted {
		t.Fatalf("blob of the full-policy event: %q (%v)", l.recs[2].Blob, err)
	}
	// The raw text of redacted and none events reaches analysis from memory, once; full has its blob.
	for i, want := range map[int]string{0: "secret prompt", 1: "other prompt"} {
		if got, ok := p.EphemeralText(ids[i]); !ok || got.Input != want {
			t.Fatalf("ephemeral text %d = %+v, %v; want %q", i, got, ok, want)
		}
		if _, ok := p.EphemeralText(ids[i]); ok {
			t.Fatalf("ephemeral text %d handed out twice", i)
		}
	}
	if _, ok := p.EphemeralText(ids[2]); ok {
		t.Fatal("full-policy text kept in memory as well")
	}
}

func TestSubmitRefuses(t *testing.T) {
	evs := []*event.Event{inference("m", "a"), inference("m", "b")}
	tests := []struct {
		name    string
		opts    Options
		logErr  error
		wantErr error
	}{
		{name: "more in flight than allowed", opts: Options{MaxInFlight: 1}},
		{name: "followers too far behind", opts: Options{Backlog: func() uint64 { return 11 }, MaxBacklog: 10}, wantErr: ErrOverloaded},
		{name: "log failure", logErr: errors.New("disk full")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &memLog{err: tt.logErr}
			tt.opts.Log, tt.opts.Redact = l, testRedact
			p, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Submit(context.Background(), evs)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.logErr != nil && (!errors.Is(err, tt.logErr) || errors.Is(err, ErrOverloaded)):
				t.Fatalf("err = %v, want the wrapped log error", err)
			case tt.wantErr == nil && tt.logErr == nil && err != nil:
				// A single submission larger than MaxInFlight is still accepted (it could never fit).
				t.Fatalf("err = %v, want an oversized single submission accepted", err)
			}
			if tt.wantErr != nil && len(l.recs) != 0 {
				t.Fatalf("%d records appended by a refused submission", len(l.recs))
			}
		})
	}
}

func TestSubmitBoundsEventsInFlight(t *testing.T) {
	block := make(chan struct{})
	l := &blockingLog{memLog: &memLog{}, block: block, entered: make(chan struct{})}
	p, err := New(Options{Log: l, MaxInFlight: 3, Redact: testRedact})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Submit(context.Background(), []*event.Event{inference("m", "a"), inference("m", "b")})
		done <- err
	}()
	<-l.entered
	if _, err := p.Submit(context.Background(), []*event.Event{inference("m", "c"), inference("m", "d")}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("second submission: err = %v, want ErrOverloaded", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(context.Background(), []*event.Event{inference("m", "e")}); err != nil {
		t.Fatalf("after the first completed: %v", err)
	}
}

// blockingLog holds Append until block is closed.
type blockingLog struct {
	*memLog
	block   chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (l *blockingLog) Append(ctx context.Context, recs []audit.Record) ([]uint64, error) {
	l.once.Do(func() { close(l.entered) })
	<-l.block
	return l.memLog.Append(ctx, recs)
}

// A follower woken by the log itself may read an entry the moment it is durable, before Submit
// returns: the raw text of a store_text none/redacted event must already be there. A failed
// append leaves nothing behind.
func TestEphemeralTextIsThereBeforeTheEntryIsReadable(t *testing.T) {
	l := &memLog{}
	p, err := New(Options{Log: l, Redact: testRedact, TextPolicy: func(string) string { return "none" }})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	l.during = func(recs []audit.Record) {
		for _, r := range recs {
			if txt, ok := p.EphemeralText(r.ID); ok {
				seen = append(seen, txt.Input)
			}
		}
	}
	if _, err := p.Submit(context.Background(), []*event.Event{inference("m", "first"), inference("m", "second")}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "first,second" {
		t.Fatalf("texts available while appending: %q, want first,second", seen)
	}

	l.during, l.err = nil, errors.New("disk full")
	ev := inference("m", "lost")
	if _, err := p.Submit(context.Background(), []*event.Event{ev}); err == nil {
		t.Fatal("Submit succeeded on a failing log")
	}
	if _, ok := p.EphemeralText(ev.ID); ok {
		t.Fatal("the text of an event that was never appended is still held")
	}
}
