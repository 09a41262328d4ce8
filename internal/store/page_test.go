package store

import (
	"errors"
	"testing"

	"github.com/warden-ai/warden/internal/event"
)

func TestCursor(t *testing.T) {
	for _, c := range []string{"", "!!", "AAAA", "gAAAAAAAAAA", "AAAAAAAAAAAA"} { // last: 9 bytes
		if _, err := DecodeCursor(c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrBadCursor", c, err)
		}
	}
	for _, seq := range []int64{0, 1, 1 << 40, 1<<63 - 1} {
		if got, err := DecodeCursor(EncodeCursor(seq)); err != nil || got != seq {
			t.Errorf("round trip %d = %d, %v", seq, got, err)
		}
	}
}

func TestPageBuilder(t *testing.T) {
	leaf := []byte(`{"id":"e","type":"access","time":"2026-01-01T00:00:00Z","action":"login","decision":"allow"}`)
	b := NewPageBuilder(2)
	for i, seq := range []int64{9, 7, 4} {
		more, err := b.Add(seq, leaf, event.Text{})
		if err != nil {
			t.Fatal(err)
		}
		if more != (i < 2) {
			t.Fatalf("row %d: more = %v", i, more)
		}
	}
	p := b.Page()
	if len(p.Events) != 2 || p.NextCursor != EncodeCursor(7) {
		t.Fatalf("page: %d events, cursor %q", len(p.Events), p.NextCursor)
	}
	if p := NewPageBuilder(5).Page(); p.NextCursor != "" || len(p.Events) != 0 {
		t.Fatalf("empty page: %+v", p)
	}
	if _, err := NewPageBuilder(5).Add(1, []byte("{"), event.Text{}); err == nil {
		t.Fatal("bad leaf accepted")
	}
}
