package incident

import (
	"context"
	"testing"
)

// BenchmarkObserveAlertDedup measures the alert→incident hook for a linked alert re-firing
// with nothing new (the common case under a hot dedup key).
func BenchmarkObserveAlertDedup(b *testing.B) {
	m, err := New(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	a := p1("inject", "bot", "mallory", "e1")
	a.ID = "a1"
	m.ObserveAlert(ctx, a)
	for b.Loop() {
		m.ObserveAlert(ctx, a)
	}
}
