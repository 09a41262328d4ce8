package report

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

type bigSource struct {
	fakeSource
	alerts []alert.Alert
}

func (b bigSource) Alerts(context.Context, time.Time, time.Time) ([]alert.Alert, error) {
	return b.alerts, nil
}

// BenchmarkGenerate builds and renders a monthly report over n alerts.
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src := bigSource{alerts: make([]alert.Alert, n)}
			for i := range src.alerts {
				src.alerts[i] = alert.Alert{ID: fmt.Sprint(i), RuleName: fmt.Sprint("rule", i%40), Severity: []alert.Severity{alert.P1, alert.P2, alert.P3, alert.P4}[i%4],
					State: alert.Resolved, ResolvedBy: "warden", Model: fmt.Sprint("m", i%7)}
			}
			ctx := context.Background()
			for b.Loop() {
				r, err := Generate(ctx, Monthly, t0, t0.Add(30*24*time.Hour), src)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.WriteHTML(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
