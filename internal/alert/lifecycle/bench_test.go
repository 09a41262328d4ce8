package lifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// BenchmarkReceiveDedup measures the hot path of a rule re-firing an active alert.
func BenchmarkReceiveDedup(b *testing.B) {
	for _, dir := range []string{"memory", "journal"} {
		b.Run(dir, func(b *testing.B) {
			opt := Options{Deliverer: &recorder{}}
			if dir == "journal" {
				opt.Dir = b.TempDir()
			}
			m, err := New(opt)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			batch := []alert.Alert{mk("inject", alert.P1, "bot")}
			batch[0].EventIDs = []string{"e"}
			ctx := context.Background()
			for b.Loop() {
				if err := m.Receive(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFlush measures one due-processing pass over n active alerts in n/10 groups, with
// the default inhibition rule and one silence.
func BenchmarkFlush(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m, err := New(Options{Deliverer: &recorder{}})
			if err != nil {
				b.Fatal(err)
			}
			as := make([]alert.Alert, n)
			for i := range as {
				as[i] = mk(fmt.Sprintf("r%d", i%10), []alert.Severity{alert.P1, alert.P2, alert.P3, alert.P4}[i%4], fmt.Sprintf("m%d", i/10))
				as[i].DedupKey = fmt.Sprint(i)
			}
			ctx := context.Background()
			if err := m.Receive(ctx, as); err != nil {
				b.Fatal(err)
			}
			ms, _ := ParseMatchers(`model=~"m1.*"`)
			if _, err := m.CreateSilence(ctx, Silence{Matchers: ms, EndsAt: time.Now().Add(time.Hour), CreatedBy: "b", Comment: "c"}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				m.mu.Lock()
				for _, g := range m.groups {
					g.NextFlush = time.Now()
					g.Sent = nil
				}
				m.processDueLocked(time.Now())
				m.outbox = nil
				m.mu.Unlock()
			}
		})
	}
}
