// Package storetest is the conformance suite every index store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

func row(t *testing.T, seq uint64, ev *event.Event) store.Row {
	t.Helper()
	leaf, err := ev.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	return store.Row{Seq: seq, Event: ev, Leaf: leaf, Tier: "medium"}
}

// Run exercises a fresh, empty store made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rows := func(from, n int) []store.Row {
		var out []store.Row
		for i := from; i < from+n; i++ {
			ev := &event.Event{ID: fmt.Sprintf("ev-%03d", i), Type: event.TypeInference, Time: base.Add(time.Duration(i) * time.Minute),
				Model: event.Model{Name: []string{"bot-a", "bot-b"}[i%2]}, Actor: event.Actor{User: fmt.Sprintf("u%d", i%3)}}
			leaf, err := ev.Leaf()
			if err != nil {
				t.Fatal(err)
			}
			r := store.Row{Seq: uint64(i), Event: ev, Leaf: leaf, Tier: []string{"low", "critical"}[i%2]}
			if i%5 == 0 {
				r.Text = event.Text{Input: fmt.Sprintf("question number %d about refunds_100%%", i), Output: "ok"}
			}
			out = append(out, r)
		}
		return out
	}

	t.Run("apply, position and search", func(t *testing.T) {
		s := newStore(t)
		if p, err := s.Position(ctx); err != nil || p != 0 {
			t.Fatalf("empty position = %d, %v", p, err)
		}
		if err := s.Apply(ctx, rows(0, 60)); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Position(ctx); p != 60 {
			t.Fatalf("position = %d, want 60", p)
		}
		page, err := s.Search(ctx, store.Query{Model: "bot-a", User: "u0", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		// i%2==0 and i%3==0 → multiples of 6 below 60: 10 events.
		if len(page.Events) != 10 || page.Events[0].ID != "ev-054" {
			t.Fatalf("got %d events, first %v", len(page.Events), page.Events)
		}
		var all []string
		cursor := ""
		for {
			p, err := s.Search(ctx, store.Query{Type: "inference", Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				all = append(all, e.ID)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if len(all) != 60 || all[0] != "ev-059" || all[59] != "ev-000" {
			t.Fatalf("pagination returned %d events (%v…)", len(all), all[:min(3, len(all))])
		}
		p, err := s.Search(ctx, store.Query{Since: base.Add(10 * time.Minute), Until: base.Add(20 * time.Minute)})
		if err != nil || len(p.Events) != 10 {
			t.Fatalf("time range: %d, %v", len(p.Events), err)
		}
		p, err = s.Search(ctx, store.Query{Q: "number 25 ABOUT"})
		if err != nil || len(p.Events) != 1 || p.Events[0].Request == nil || p.Events[0].Request.Input == "" {
			t.Fatalf("text search: %+v, %v", p.Events, err)
		}
		p, _ = s.Search(ctx, store.Query{Q: "refunds_1"})
		if len(p.Events) != 12 {
			t.Fatalf("LIKE escaping: %d", len(p.Events))
		}
		p, _ = s.Search(ctx, store.Query{Q: "refunds%1"})
		if len(p.Events) != 0 {
			t.Fatalf("%% must be literal: %d", len(p.Events))
		}
		if _, err := s.Search(ctx, store.Query{Cursor: "!!"}); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("bad cursor: %v", err)
		}
	})

	// A bounded search examines only the newest Scan entries per page, says so, and its cursors
	// still reach every match; with a user (an index narrows it) Scan does not apply.
	t.Run("bounded search", func(t *testing.T) {
		s := newStore(t)
		if err := s.Apply(ctx, rows(0, 60)); err != nil {
			t.Fatal(err)
		}
		p, err := s.Search(ctx, store.Query{Model: "bot-a", Limit: 100, Scan: 20})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) != 10 || p.Events[0].ID != "ev-058" || p.Events[9].ID != "ev-040" || !p.Bounded || p.ScannedFrom != 40 || p.NextCursor == "" {
			t.Fatalf("first window: %d events (bounded %v from %d, next %q)", len(p.Events), p.Bounded, p.ScannedFrom, p.NextCursor)
		}
		var all []string
		pages := 0
		for cursor := ""; ; pages++ {
			p, err := s.Search(ctx, store.Query{Model: "bot-b", Q: "", Limit: 4, Scan: 25, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				all = append(all, e.ID)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if len(all) != 30 || all[0] != "ev-059" || all[29] != "ev-001" {
			t.Fatalf("bounded pagination returned %d events (%v…)", len(all), all[:min(3, len(all))])
		}
		p, err = s.Search(ctx, store.Query{Q: "number 5 about", Scan: 30})
		if err != nil || len(p.Events) != 0 || !p.Bounded {
			t.Fatalf("an old match beyond the window: %d events, bounded %v, %v", len(p.Events), p.Bounded, err)
		}
		if p, err = s.Search(ctx, store.Query{Q: "number 5 about", Scan: 30, Cursor: p.NextCursor}); err != nil || len(p.Events) != 1 {
			t.Fatalf("the next window: %d events, %v", len(p.Events), err)
		}
		p, err = s.Search(ctx, store.Query{User: "u0", Limit: 100, Scan: 5})
		if err != nil || len(p.Events) != 20 || p.Bounded {
			t.Fatalf("user search with Scan: %d events, bounded %v, %v", len(p.Events), p.Bounded, err)
		}
	})

	t.Run("re-apply is idempotent", func(t *testing.T) {
		s := newStore(t)
		r := rows(0, 10)
		if err := s.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, r[5:]); err != nil {
			t.Fatal(err)
		}
		p, _ := s.Search(ctx, store.Query{Limit: 100})
		if len(p.Events) != 10 {
			t.Fatalf("got %d events after re-apply", len(p.Events))
		}
	})

	t.Run("aggregate", func(t *testing.T) {
		s := newStore(t)
		var rs []store.Row
		for i := 0; i < 20; i++ {
			lat, cost := float64(i+1), 0.5
			ev := &event.Event{ID: fmt.Sprintf("agg-%d", i), Type: event.TypeInference, Time: base.Add(time.Duration(i) * time.Second),
				Model: event.Model{Name: "m"}, Response: &event.Response{Status: "ok", LatencyMS: &lat}, CostUSD: &cost}
			if i%5 == 0 {
				ev.Response.Status = "error"
			}
			if i == 7 {
				ev.Response.Status = "blocked"
			}
			rs = append(rs, row(t, uint64(i), ev))
		}
		for i, d := range []struct{ decision, privilege, approval string }{{"allow", "", ""}, {"deny", "", ""}, {"allow", "elevated", ""}, {"allow", "elevated", "CHG-1"}} {
			ev := &event.Event{ID: fmt.Sprintf("acc-%d", i), Type: event.TypeAccess, Time: base, Action: "invoke", Decision: d.decision, Privilege: d.privilege, ApprovalID: d.approval}
			rs = append(rs, row(t, uint64(100+i), ev))
		}
		// Warden's own probe traffic (reserved identity + run id) stays out of the figures: an
		// expensive, slow, failing inference and a denied access of model m.
		probeActor := event.Actor{ServiceAccount: event.ProbeServiceAccount, Consumer: event.ProbeServiceAccount}
		probeAttrs := map[string]any{event.AttrProbeRun: "pr-1"}
		plat, pcost := 99999.0, 1000.0
		rs = append(rs,
			row(t, 200, &event.Event{ID: "probe-inf", Type: event.TypeInference, Time: base, Model: event.Model{Name: "m"}, Actor: probeActor, Attributes: probeAttrs,
				Response: &event.Response{Status: "error", LatencyMS: &plat}, CostUSD: &pcost}),
			row(t, 201, &event.Event{ID: "probe-only", Type: event.TypeInference, Time: base, Model: event.Model{Name: "probed-only"}, Actor: probeActor, Attributes: probeAttrs,
				Response: &event.Response{Status: "ok", LatencyMS: &plat}, CostUSD: &pcost}),
			row(t, 202, &event.Event{ID: "probe-acc", Type: event.TypeAccess, Time: base, Model: event.Model{Name: "m"}, Actor: probeActor, Attributes: probeAttrs, Action: "invoke", Decision: "deny"}))
		if err := s.Apply(ctx, rs); err != nil {
			t.Fatal(err)
		}
		agg, err := s.Aggregate(ctx, base, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(agg.Models) != 1 {
			t.Fatalf("models: %+v", agg.Models)
		}
		m := agg.Models[0]
		if m.Events != 20 || m.Errors != 4 || m.Blocked != 1 || m.CostUSD != 10 || m.LatencyP95Ms != 19 {
			t.Fatalf("model aggregate: %+v", m)
		}
		if a := agg.Access; a.Total != 4 || a.Allowed != 3 || a.Denied != 1 || a.Compliant != 2 {
			t.Fatalf("access aggregate: %+v", a)
		}
		agg, err = s.Aggregate(ctx, base.Add(time.Hour), base.Add(2*time.Hour))
		if err != nil || len(agg.Models) != 0 || agg.Access.Total != 0 {
			t.Fatalf("empty window: %+v %v", agg, err)
		}
	})

	t.Run("prune text by tier", func(t *testing.T) {
		s := newStore(t)
		if err := s.Apply(ctx, rows(0, 40)); err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneText(ctx, "low", base.Add(21*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 { // i%5==0, i%2==0 (low), i<21 → 0, 10, 20
			t.Fatalf("pruned %d, want 3", n)
		}
		p, _ := s.Search(ctx, store.Query{Q: "number 10 "})
		if len(p.Events) != 0 {
			t.Fatal("pruned text still searchable")
		}
		p, _ = s.Search(ctx, store.Query{User: "u1", Model: "bot-a", Limit: 100})
		if len(p.Events) == 0 {
			t.Fatal("metadata pruned with text")
		}
		if err := s.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if pos, _ := s.Position(ctx); pos != 0 {
			t.Fatalf("position after reset %d", pos)
		}
	})
	t.Run("prune events by model", func(t *testing.T) {
		s := newStore(t)
		if err := s.Apply(ctx, rows(0, 40)); err != nil {
			t.Fatal(err)
		}
		count := func(model string) int {
			t.Helper()
			p, err := s.Search(ctx, store.Query{Model: model, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(p.Events)
		}
		if n, err := s.PruneEvents(ctx, store.ModelSet{}, base.Add(time.Hour)); err != nil || n != 0 {
			t.Fatalf("empty set pruned %d, %v", n, err)
		}
		// bot-a: even i; before minute 21 → 0, 2, …, 20 (11 events, text at 0, 10, 20).
		n, err := s.PruneEvents(ctx, store.ModelSet{Models: []string{"bot-a"}}, base.Add(21*time.Minute))
		if err != nil || n != 11 {
			t.Fatalf("pruned %d, %v; want 11", n, err)
		}
		if got := count("bot-a"); got != 9 {
			t.Fatalf("bot-a has %d events left, want 9", got)
		}
		if got := count("bot-b"); got != 20 {
			t.Fatalf("bot-b has %d events left, want 20 (not selected)", got)
		}
		if p, _ := s.Search(ctx, store.Query{Q: "number 10 "}); len(p.Events) != 0 {
			t.Fatal("the text of a pruned event is still searchable")
		}
		if p, _ := s.Search(ctx, store.Query{Q: "number 30 "}); len(p.Events) != 1 {
			t.Fatal("the text of a kept event is gone")
		}
		// Others: every model but bot-a (here bot-b), before minute 11 → 1, 3, …, 9.
		n, err = s.PruneEvents(ctx, store.ModelSet{Models: []string{"bot-a"}, Others: true}, base.Add(11*time.Minute))
		if err != nil || n != 5 || count("bot-b") != 15 || count("bot-a") != 9 {
			t.Fatalf("others: pruned %d, %v; bot-b %d, bot-a %d", n, err, count("bot-b"), count("bot-a"))
		}
		if pos, _ := s.Position(ctx); pos != 40 {
			t.Fatalf("position after pruning %d, want 40", pos)
		}
	})
	t.Run("erase a subject's text", func(t *testing.T) {
		s := newStore(t)
		e, ok := s.(TextEraser)
		if !ok {
			t.Fatalf("%T does not implement EraseText", s)
		}
		if err := s.Apply(ctx, rows(0, 40)); err != nil {
			t.Fatal(err)
		}
		seqs, err := e.EraseText(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		// Text rows: i%5==0; user u1: i%3==1 → 10, 25, 40>39 → 10, 25.
		if fmt.Sprint(seqs) != "[10 25]" {
			t.Fatalf("erased %v, want [10 25]", seqs)
		}
		p, err := s.Search(ctx, store.Query{User: "u1", Limit: 100})
		if err != nil || len(p.Events) == 0 {
			t.Fatalf("u1's events gone with their text: %d, %v", len(p.Events), err)
		}
		for _, ev := range p.Events {
			if !ev.Text().Empty() {
				t.Fatalf("u1's event %s still has text %+v", ev.ID, ev.Text())
			}
		}
		if p, _ := s.Search(ctx, store.Query{Q: "number 15 "}); len(p.Events) != 1 {
			t.Fatalf("another user's text went too: %d hits", len(p.Events))
		}
		if seqs, err := e.EraseText(ctx, "u1"); err != nil || len(seqs) != 0 {
			t.Fatalf("second erasure = %v, %v", seqs, err)
		}
	})
}

// TextEraser is what a data-subject erasure needs from a store.
type TextEraser interface {
	EraseText(ctx context.Context, actor string) ([]uint64, error)
}
