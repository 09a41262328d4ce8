package audit

import (
	"testing"
	"time"
)

func TestGrownIsClosedWhenAppendedEntriesAreReadable(t *testing.T) {
	l := openT(t, testOptions(t.TempDir()))
	grown := l.Grown()
	select {
	case <-grown:
		t.Fatal("Grown closed before anything was appended")
	default:
	}
	appendN(t, l, 0, 3)
	select {
	case <-grown:
	case <-time.After(10 * time.Second):
		t.Fatal("Grown not closed after a durable append")
	}
	if got := l.Size(); got != 3 {
		t.Fatalf("size %d when Grown fired, want 3", got)
	}
	next := l.Grown()
	select {
	case <-next:
		t.Fatal("the next Grown channel is already closed")
	default:
	}
	// A re-sent batch adds nothing and must not wake followers.
	appendN(t, l, 0, 3)
	select {
	case <-next:
		t.Fatal("Grown closed by an append that added no entry")
	default:
	}
	appendN(t, l, 3, 1)
	select {
	case <-next:
	case <-time.After(10 * time.Second):
		t.Fatal("Grown not closed after the second append")
	}
}
