package sqlite

import (
	"context"
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
