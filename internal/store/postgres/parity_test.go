package postgres

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/sqlite"
)

// TestParityWithSQLite indexes the same random events into this store and the embedded one
// and requires the same searches and aggregates: the two drivers must be interchangeable.
func TestParityWithSQLite(t *testing.T) {
	ctx := context.Background()
	pg := openTest(t)
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()

	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	models := []string{"bot-a", "bot-b", "Bot-C", "m_1"}
	var rows []store.Row
	for i := range 400 {
		ev := &event.Event{ID: fmt.Sprintf("p-%d", i), Time: base.Add(time.Duration(rng.IntN(3600)) * time.Second),
			Model: event.Model{Name: models[rng.IntN(len(models))]}, Actor: event.Actor{User: fmt.Sprintf("u%d", rng.IntN(5))}}
		switch rng.IntN(3) {
		case 0, 1:
			ev.Type = event.TypeInference
			ev.Response = &event.Response{Status: []string{"ok", "ok", "ok", "error", "blocked"}[rng.IntN(5)]}
			if rng.IntN(10) > 0 {
				lat := float64(rng.IntN(5000)) / 4
				ev.Response.LatencyMS = &lat
			}
			if rng.IntN(3) > 0 {
				cost := float64(rng.IntN(1000)) / 1024
				ev.CostUSD = &cost
			}
		default:
			ev.Type = event.TypeAccess
			ev.Action = "invoke"
			ev.Decision = []string{"allow", "deny"}[rng.IntN(2)]
			ev.Privilege = []string{"", "elevated"}[rng.IntN(2)]
			ev.ApprovalID = []string{"", "CHG-9"}[rng.IntN(2)]
		}
		leaf, err := ev.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		r := store.Row{Seq: uint64(i), Event: ev, Leaf: leaf, Tier: []string{"low", "high"}[i%2]}
		if i%3 == 0 {
			r.Text = event.Text{Input: fmt.Sprintf("Refund request #%d for 50%% off, Über", i), Output: "Sure_thing"}
		}
		rows = append(rows, r)
	}
	for _, s := range []store.Store{pg, lite} {
		for i := 0; i < len(rows); i += 64 {
			if err := s.Apply(ctx, rows[i:min(i+64, len(rows))]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.PruneText(ctx, "low", base.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}

	for _, q := range []store.Query{
		{Limit: 1000},
		{Model: "bot-a", User: "u1"},
		{User: "u3", Type: "access", Limit: 13},
		{Since: base.Add(10 * time.Minute), Until: base.Add(50 * time.Minute), Limit: 1000},
		{Since: base.Add(59 * time.Minute)},
		{Until: base.Add(time.Minute), Limit: 1000},
		{Q: "refund REQUEST #1", Limit: 1000},
		{Q: "sure_", Limit: 1000},
		{Q: "50%", Limit: 1000},
		{Q: "bot-c", Limit: 1000},
		{Q: "m_1", Model: "m_1", Limit: 1000},
		{Q: "Über", Limit: 1000},
		{Q: "über", Limit: 1000}, // only ASCII letters match regardless of case: nothing
	} {
		var got [2][]string
		for k, s := range []store.Store{pg, lite} {
			cursor := ""
			for {
				q.Cursor = cursor
				p, err := s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					in := ""
					if e.Request != nil {
						in = e.Request.Input
					}
					got[k] = append(got[k], e.ID+"|"+in)
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
		}
		if (len(got[0]) == 0 && q.Q != "über") || !slices.Equal(got[0], got[1]) {
			t.Errorf("search %+v:\npostgres %d %v\nsqlite   %d %v", q, len(got[0]), got[0][:min(4, len(got[0]))], len(got[1]), got[1][:min(4, len(got[1]))])
		}
	}

	for _, w := range [][2]time.Duration{{0, time.Hour}, {0, 7 * time.Minute}, {13 * time.Minute, 14 * time.Minute}, {time.Hour, 2 * time.Hour}} {
		a, err := pg.Aggregate(ctx, base.Add(w[0]), base.Add(w[1]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := lite.Aggregate(ctx, base.Add(w[0]), base.Add(w[1]))
		if err != nil {
			t.Fatal(err)
		}
		if a.Access != b.Access || len(a.Models) != len(b.Models) {
			t.Fatalf("window %v: postgres %+v, sqlite %+v", w, a, b)
		}
		for i := range a.Models {
			x, y := a.Models[i], b.Models[i]
			cx, cy := x.CostUSD, y.CostUSD
			x.CostUSD, y.CostUSD = 0, 0
			if x != y || math.Abs(cx-cy) > 1e-9 {
				t.Errorf("window %v model %d: postgres %+v cost %v, sqlite %+v cost %v", w, i, x, cx, y, cy)
			}
		}
	}
}
