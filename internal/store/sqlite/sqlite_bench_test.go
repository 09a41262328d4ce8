package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

// BenchmarkApply measures the index writer's store cost: batches of 2,000 rows shaped like the
// ingest benchmark's events (10 models, 1,000 users, ~1 KB of input text each), into a store
// that already holds earlier batches.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	text := strings.Repeat("the quick brown fox asks about refunds ", 30)[:1000]
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	const batch = 2000
	seq := uint64(0)
	next := func() []store.Row {
		rows := make([]store.Row, batch)
		for i := range rows {
			ev := &event.Event{ID: fmt.Sprintf("ev-%d", seq), Type: event.TypeInference, Time: base.Add(time.Duration(seq) * time.Millisecond),
				Model: event.Model{Name: fmt.Sprintf("bench-%d", seq%10)}, Actor: event.Actor{User: fmt.Sprintf("user-%d", seq%1000)},
				Request: &event.Request{InputSHA256: strings.Repeat("ab", 32), InputChars: len(text)}, Response: &event.Response{Status: "ok"}}
			leaf, err := ev.Leaf()
			if err != nil {
				b.Fatal(err)
			}
			rows[i] = store.Row{Seq: seq, Event: ev, Leaf: leaf, Text: event.Text{Input: text, Output: "ok"}, Tier: "medium"}
			seq++
		}
		return rows
	}
	for range 50 {
		if err := s.Apply(ctx, next()); err != nil {
			b.Fatal(err)
		}
	}
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		rows := next()
		c0 := processCPU()
		b.StartTimer()
		if err := s.Apply(ctx, rows); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += processCPU() - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
	// CPU time is the steadier figure on a shared machine, where wall time includes waiting.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/row")
}

// processCPU is the user+system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
