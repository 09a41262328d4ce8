// Command storebench fills an SQLite index store with N synthetic events (leaf metadata as the
// index writer stores it; 1,000 users × 100 models) and measures GET /v1/events-style searches
// by user + model, by user alone and by time range.
//
//	go run ./cmd/storebench -n 10000000 -db /tmp/index.db
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/sqlite"
)

func main() {
	n := flag.Int("n", 1_000_000, "events to index (skipped when the db already holds them)")
	db := flag.String("db", "/tmp/storebench.db", "database file")
	queries := flag.Int("q", 200, "queries per kind")
	flag.Parse()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer st.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pos, err := st.Position(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	const batch = 5000
	lat, tok := 120.0, int64(300)
	for i := int(pos); i < *n; i += batch {
		rows := make([]store.Row, 0, batch)
		for j := i; j < min(i+batch, *n); j++ {
			ev := &event.Event{ID: fmt.Sprintf("ev-%09d", j), Type: event.TypeInference, Time: base.Add(time.Duration(j) * 100 * time.Millisecond), Environment: "prod",
				Model: event.Model{Name: fmt.Sprintf("model-%03d", j%100)}, Actor: event.Actor{User: fmt.Sprintf("user-%04d", (j/100)%1000)},
				Request:  &event.Request{InputSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", InputTokens: &tok, InputChars: 1000},
				Response: &event.Response{Status: "ok", LatencyMS: &lat, OutputTokens: &tok}}
			leaf, _ := ev.Leaf()
			rows = append(rows, store.Row{Seq: uint64(j), Event: ev, Leaf: leaf, Tier: "medium"})
		}
		if err := st.Apply(ctx, rows); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *n > int(pos) {
		el := time.Since(start)
		fmt.Printf("indexed %d events in %s (%.0f rows/s)\n", *n-int(pos), el.Round(time.Second), float64(*n-int(pos))/el.Seconds())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	run := func(name string, q func() store.Query) {
		var ds []time.Duration
		total := 0
		for range *queries {
			t0 := time.Now()
			p, err := st.Search(ctx, q())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			ds = append(ds, time.Since(t0))
			total += len(p.Events)
		}
		slices.Sort(ds)
		fmt.Printf("%-28s p50 %-10v p99 %-10v max %-10v (%.1f results/query)\n", name, ds[len(ds)/2].Round(time.Microsecond), ds[len(ds)*99/100].Round(time.Microsecond), ds[len(ds)-1].Round(time.Microsecond), float64(total)/float64(len(ds)))
	}
	end := base.Add(time.Duration(*n) * 100 * time.Millisecond)
	run("user + model, limit 50", func() store.Query {
		u := rng.IntN(1000)
		return store.Query{User: fmt.Sprintf("user-%04d", u), Model: fmt.Sprintf("model-%03d", rng.IntN(100)), Limit: 50}
	})
	run("user, limit 50", func() store.Query {
		return store.Query{User: fmt.Sprintf("user-%04d", rng.IntN(1000)), Limit: 50}
	})
	run("user + model + 1 day", func() store.Query {
		from := base.Add(time.Duration(rng.Int64N(int64(end.Sub(base)))))
		return store.Query{User: fmt.Sprintf("user-%04d", rng.IntN(1000)), Model: fmt.Sprintf("model-%03d", rng.IntN(100)), Since: from, Until: from.Add(24 * time.Hour), Limit: 50}
	})
	run("newest 50", func() store.Query { return store.Query{Limit: 50} })
}
