package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

// benchRows returns n inference rows starting at seq from, with about textBytes of text each.
func benchRows(b *testing.B, from, n, textBytes int) []store.Row {
	b.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lat, tok := 120.0, int64(300)
	text := strings.Repeat("customer asks about a refund for order 1234567; ", textBytes/48+1)[:textBytes]
	rows := make([]store.Row, 0, n)
	for j := from; j < from+n; j++ {
		ev := &event.Event{ID: fmt.Sprintf("ev-%09d", j), Type: event.TypeInference, Time: base.Add(time.Duration(j) * 100 * time.Millisecond), Environment: "prod",
			Model:    event.Model{Name: fmt.Sprintf("model-%03d", j%100)},
			Actor:    event.Actor{User: fmt.Sprintf("user-%04d", (j/100)%1000)},
			Request:  &event.Request{InputSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", InputTokens: &tok, InputChars: 1000},
			Response: &event.Response{Status: "ok", LatencyMS: &lat, OutputTokens: &tok}}
		leaf, err := ev.Leaf()
		if err != nil {
			b.Fatal(err)
		}
		r := store.Row{Seq: uint64(j), Event: ev, Leaf: leaf, Tier: "medium"}
		if textBytes > 0 {
			r.Text = event.Text{Input: text[:textBytes*7/8], Output: text[textBytes*7/8:]}
		}
		rows = append(rows, r)
	}
	return rows
}

// BenchmarkApply measures index throughput: batches of 1,000 new rows, with ~1 KB of text per
// row and without text, into an empty index, or appended to the one that
// WARDEN_BENCH_POSTGRES_SCHEMA names (see BenchmarkSearch), to measure at size.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		text int
	}{{"text=0", 0}, {"text=1KB", 1024}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := Open(ctx, benchDSN(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			pos, err := s.Position(ctx)
			if err != nil {
				b.Fatal(err)
			}
			const batch = 1000
			tmpl := benchRows(b, int(pos), batch, tc.text) // times continue after the index's
			rows := make([]store.Row, batch)
			next := int(pos)
			for b.Loop() {
				for i := range rows {
					rows[i] = tmpl[i]
					rows[i].Seq = uint64(next + i)
				}
				next += batch
				if err := s.Apply(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next-int(pos))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchDSN returns a DSN for the schema WARDEN_BENCH_POSTGRES_SCHEMA names (created if
// needed, kept afterwards), or for a fresh schema dropped after the benchmark.
func benchDSN(b *testing.B) string {
	sch := os.Getenv("WARDEN_BENCH_POSTGRES_SCHEMA")
	if sch == "" {
		return newSchema(b)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{sch}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	return withSearchPath(b, testDSN(), sch)
}

// BenchmarkSearch measures searches on an index of 1,000,000 events (100 models, 1,000 users,
// one event in 10 with ~1 KB of text). The index is filled through Apply when the benchmark
// runs, in a fresh schema; set WARDEN_BENCH_POSTGRES_SCHEMA to keep and reuse a filled one.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	const n = 1_000_000
	dsn := benchDSN(b)
	s, err := Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pos, err := s.Position(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if pos < n {
		start := time.Now()
		for i := int(pos); i < n; i += 1000 {
			rows := benchRows(b, i, min(1000, n-i), 0)
			for j := range rows {
				if (i+j)%10 == 0 {
					rows[j].Text = event.Text{Input: fmt.Sprintf("ticket %d: ", i+j) + strings.Repeat("the customer asks about a refund. ", 28), Output: "ok"}
				}
			}
			if err := s.Apply(ctx, rows); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("filled %d rows in %s", n-int(pos), time.Since(start).Round(time.Second))
		if _, err := s.pool.Exec(ctx, "ANALYZE warden_events; ANALYZE warden_texts"); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := base.Add(n * 100 * time.Millisecond) // benchRows spaces events 100 ms apart
	page2, err := s.Search(ctx, store.Query{Type: "inference", Limit: 50})
	if err != nil || page2.NextCursor == "" {
		b.Fatalf("first page: %v", err)
	}
	for _, tc := range []struct {
		name string
		q    store.Query
	}{
		{"user+model", store.Query{User: "user-0421", Model: "model-042", Limit: 50}},
		{"user+model+window", store.Query{User: "user-0421", Model: "model-042", Since: base.Add(10 * time.Hour), Until: base.Add(20 * time.Hour), Limit: 50}},
		{"user", store.Query{User: "user-0421", Limit: 50}},
		{"window=old-1h", store.Query{Since: base.Add(10 * time.Hour), Until: base.Add(11 * time.Hour), Limit: 50}},
		{"window=old-1m", store.Query{Since: base.Add(10 * time.Hour), Until: base.Add(10*time.Hour + time.Minute), Limit: 50}},
		{"window=last-1h", store.Query{Since: end.Add(-time.Hour), Limit: 50}},
		{"window=last-1s", store.Query{Since: end.Add(-time.Second), Limit: 50}},
		{"type+cursor", store.Query{Type: "inference", Limit: 50, Cursor: page2.NextCursor}},
		{"q=common", store.Query{Q: "refund", Limit: 50}},
		{"q=rare", store.Query{Q: "ticket 4240: ", Limit: 50}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var got int
			for b.Loop() {
				p, err := s.Search(ctx, tc.q)
				if err != nil {
					b.Fatal(err)
				}
				got = len(p.Events)
			}
			if got == 0 {
				b.Fatalf("%s found nothing", tc.name)
			}
		})
	}
}
