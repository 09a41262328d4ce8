package worker

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/bus"
	"github.com/warden-ai/warden/internal/event"
)

// BenchmarkState: the snapshot a partition owner stores before acknowledging a batch — State of
// a worker that analysed 20,000 events of 10 models and 200 users — and its gzip'd size, what
// one key of the state bucket holds.
func BenchmarkState(b *testing.B) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var es []bus.Entry
	for i := range 20_000 {
		ev := &event.Event{ID: fmt.Sprint("e", i), Type: event.TypeInference, Time: now.Add(time.Duration(i) * 100 * time.Millisecond),
			Model: event.Model{Name: fmt.Sprint("model-", i%10)}, Actor: event.Actor{User: fmt.Sprint("user-", i%200)},
			Request:  &event.Request{Input: "What are your opening hours?", InputTokens: new(int64(10 + i%50))},
			Response: &event.Response{Output: "Nine to five.", OutputTokens: new(int64(20 + i%30)), LatencyMS: new(float64(100 + i%400)), Status: "ok"}}
		ev.Normalize()
		leaf, err := ev.Leaf()
		if err != nil {
			b.Fatal(err)
		}
		es = append(es, bus.Entry{Index: uint64(i), ID: ev.ID, Leaf: leaf}) //nolint:gosec // i ≥ 0
	}
	w := newWorker(b, nil, "", &sink{})
	w.Analyze(context.Background(), es)
	var size, zsize int
	b.ResetTimer()
	for range b.N {
		st, err := w.State()
		if err != nil {
			b.Fatal(err)
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		_, _ = zw.Write(st)
		_ = zw.Close()
		size, zsize = len(st), z.Len()
	}
	b.ReportMetric(float64(size), "state-bytes")
	b.ReportMetric(float64(zsize), "gzip-bytes")
}
