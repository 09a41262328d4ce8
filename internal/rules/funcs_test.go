package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// TestFirstSeenKeepsEverydayValues: past the per-key cap, first_seen forgets the value seen
// least recently, not the one learned first — an actor's everyday destination, used between
// many one-off ones, is never "first seen" again, while a value unseen for more than the cap's
// worth of distinct values is.
func TestFirstSeenKeepsEverydayValues(t *testing.T) {
	s := newFuncState(0, 1, 100, nil)
	ev := &event.Event{Time: t0}
	s.cur, s.ruleID = &evalCtx{ev: ev}, "t.export"
	seen := func(v string) bool {
		ev.Time = ev.Time.Add(time.Second)
		return s.firstSeen("alice", v)
	}
	seen("s3://corp-backups") // learns the key
	if !seen("s3://rare") {
		t.Fatal("a new value after learning is not first seen")
	}
	for i := range 5 * maxSeenValues {
		if !seen(fmt.Sprintf("s3://one-off-%d", i)) {
			t.Fatalf("one-off %d not first seen", i)
		}
		if i%10 == 0 && seen("s3://corp-backups") {
			t.Fatalf("everyday destination first seen again after %d one-off values", i+1)
		}
	}
	if !seen("s3://rare") {
		t.Error("a value unseen for more than the cap's worth of distinct values is still remembered: the cap does not hold")
	}
	if e, _ := s.seen.get("t.export\x00alice"); len(e.values) > maxSeenValues {
		t.Errorf("%d values kept for one key, cap %d", len(e.values), maxSeenValues)
	}
}
