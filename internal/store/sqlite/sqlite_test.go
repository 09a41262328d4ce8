package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestApplyOverwritesSameSeq checks that re-applying a log index (a rebuild over a partly
// indexed store) replaces the row and its text, as INSERT OR REPLACE did.
func TestApplyOverwritesSameSeq(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	row := func(id, input string) store.Row {
		ev := &event.Event{ID: id, Type: event.TypeInference, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Model: event.Model{Name: "m"}, Actor: event.Actor{User: "u-" + id}}
		leaf, err := ev.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		return store.Row{Seq: 7, Event: ev, Leaf: leaf, Text: event.Text{Input: input}, Tier: "low"}
	}
	for _, r := range []store.Row{row("first", "old text"), row("second", "new text")} {
		if err := s.Apply(ctx, []store.Row{r}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.Search(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].ID != "second" || page.Events[0].Request == nil || page.Events[0].Request.Input != "new text" {
		t.Fatalf("got %+v", page.Events)
	}
	for _, q := range []store.Query{{User: "u-first"}, {Q: "old"}} {
		if page, err := s.Search(ctx, q); err != nil || len(page.Events) != 0 {
			t.Fatalf("query %+v still finds the replaced row: %v %v", q, page.Events, err)
		}
	}
	if p, err := s.Position(ctx); err != nil || p != 8 {
		t.Fatalf("position %d, %v; want 8", p, err)
	}
}

// TestErasedTextLeavesNoBytes checks that erasure and retention leave none of the text in any
// file of the database (main file, WAL, shared memory), not only out of search results.
func TestErasedTextLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "index.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	secret := func(i int) string { return fmt.Sprintf("SSN 078-05-%04d card 4111111111111111", i) }
	var rows []store.Row
	for i := range 200 {
		ev := &event.Event{ID: fmt.Sprintf("ev-%d", i), Type: event.TypeInference, Time: base.Add(time.Duration(i) * time.Second),
			Model: event.Model{Name: "m"}, Actor: event.Actor{User: []string{"alice", "bob"}[i%2]}}
		leaf, err := ev.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, store.Row{Seq: uint64(i), Event: ev, Leaf: leaf, Text: event.Text{Input: secret(i), Output: "reply"}, Tier: []string{"low", "high"}[i/100]})
	}
	if err := s.Apply(ctx, rows); err != nil {
		t.Fatal(err)
	}
	onDisk := func() map[int]bool {
		var all []byte
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		hits := map[int]bool{}
		for i := range 200 {
			if bytes.Contains(all, []byte(secret(i))) {
				hits[i] = true
			}
		}
		return hits
	}
	if n := len(onDisk()); n != 200 {
		t.Fatalf("before: %d of 200 texts on disk", n)
	}
	seqs, err := s.EraseText(ctx, "alice") // even seqs
	if err != nil || len(seqs) != 100 {
		t.Fatalf("EraseText = %d seqs, %v", len(seqs), err)
	}
	// Retention for the "high" tier (seq 100..199) up to seq 150.
	if n, err := s.PruneText(ctx, "high", base.Add(150*time.Second)); err != nil || n != 25 {
		t.Fatalf("PruneText = %d, %v; want 25 (odd seqs 101..149)", n, err)
	}
	hits := onDisk()
	for i := range 200 {
		want := i%2 == 1 && (i < 100 || i >= 150)
		if hits[i] != want {
			t.Errorf("text %d on disk = %v, want %v", i, hits[i], want)
		}
	}
}

// TestSearchPlans: the searches that must not read every event use an index in seq order — a
// type other than inference its partial index, a user its index — and a bounded search without
// a user walks the primary key, never sorting a model's rows.
func TestSearchPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := func(where string, args ...any) string {
		t.Helper()
		rows, err := s.r.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT e.seq FROM events e WHERE `+where+` ORDER BY e.seq DESC LIMIT 51`, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return fmt.Sprint(out)
	}
	since := time.Now().UnixNano()
	for _, tc := range []struct {
		where, want string
		args        []any
	}{
		{"e.type = 'probe' AND e.time >= ? AND e.time < ?", "events_probe_seq", []any{since, since + 1}},
		{"e.type = 'access' AND +e.model = ?", "events_access_seq", []any{"bot"}},
		{"e.user = ? AND e.model = ?", "events_model_user_seq", []any{"u", "bot"}},
		{"e.seq >= ? AND +e.model = ? AND e.type = ?", "USING INTEGER PRIMARY KEY", []any{10, "bot", "inference"}},
		{"e.seq >= ? AND +e.model = ? AND e.type = 'access'", "events_access_seq", []any{10, "bot"}},
	} {
		if p := plan(tc.where, tc.args...); !bytes.Contains([]byte(p), []byte(tc.want)) || bytes.Contains([]byte(p), []byte("TEMP B-TREE")) {
			t.Errorf("%s: plan %s, want %s without a sort", tc.where, p, tc.want)
		}
	}
}
