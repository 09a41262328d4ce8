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

// BenchmarkEraseText measures one data-subject erasure (the subject's texts deleted and the
// database scrubbed with VACUUM and a WAL truncate) in an index of 100,000 events with ~1 KB of
// text each (~130 MB): the scrub's cost grows with the database, not with the subject.
func BenchmarkEraseText(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	text := strings.Repeat("the quick brown fox asks about refunds ", 30)[:1000]
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	const total, batch = 100_000, 5_000
	for from := 0; from < total; from += batch {
		rows := make([]store.Row, 0, batch)
		for i := from; i < from+batch; i++ {
			ev := &event.Event{ID: fmt.Sprintf("ev-%d", i), Type: event.TypeInference, Time: base.Add(time.Duration(i) * time.Millisecond),
				Model: event.Model{Name: fmt.Sprintf("m%d", i%10)}, Actor: event.Actor{User: fmt.Sprintf("u%d", i%1000)}}
			leaf, err := ev.Leaf()
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, store.Row{Seq: uint64(i), Event: ev, Leaf: leaf, Text: event.Text{Input: text}, Tier: "medium"})
		}
		if err := s.Apply(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seqs, err := s.EraseText(ctx, fmt.Sprintf("u%d", i%1000))
		if err != nil || len(seqs) != total/1000 {
			b.Fatalf("erased %d, %v", len(seqs), err)
		}
	}
}
