package incident

import (
	"context"
	"fmt"
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

// BenchmarkChangeInLargeStore measures one incident change (a note) in stores of different
// sizes: with the journal the cost is one appended line and an fsync, whatever the store holds
// (issue 12: each change rewrote all of incidents.json).
func BenchmarkChangeInLargeStore(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprint(n, "_incidents"), func(b *testing.B) {
			m, err := New(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			for i := range n {
				a := p1(fmt.Sprint("rule-", i), fmt.Sprint("model-", i), "mallory", fmt.Sprint("e", i))
				a.ID = fmt.Sprint("a", i)
				m.ObserveAlert(ctx, a)
			}
			id := m.List(Filter{})[0].ID
			for b.Loop() {
				if _, err := m.Apply(ctx, id, Update{Owner: "ann", Actor: "ann"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
