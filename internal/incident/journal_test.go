package incident

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func journalSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestJournalIsIncremental: a change appends only the changed incident (issue 12 finding 3: each
// injection rewrote the whole incidents.json), the state survives a restart, a torn last line
// is dropped, superseded lines are compacted, and closed incidents beyond MaxClosed are dropped
// longest-resolved first with their case files while open ones stay.
func TestJournalIsIncremental(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := New(Options{Dir: dir, MaxClosed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		a := p1(fmt.Sprintf("rule-%d", i), fmt.Sprintf("model-%d", i), "mallory", fmt.Sprint("e", i))
		a.ID = fmt.Sprint("alert-", i)
		m.ObserveAlert(ctx, a)
	}
	if n := len(m.List(Filter{})); n != 20 {
		t.Fatalf("%d incidents, want 20", n)
	}
	// One more change costs one line of about one incident, whatever the store holds.
	before := journalSize(t, dir)
	one := m.List(Filter{})[19]
	if _, err := m.Apply(ctx, one.ID, Update{Note: "looked at it", Actor: "ann"}); err != nil {
		t.Fatal(err)
	}
	grew := journalSize(t, dir) - before
	if grew <= 0 || grew > 4<<10 {
		t.Fatalf("one note grew the journal by %d bytes (store of 20 incidents is %d bytes)", grew, before)
	}

	// Close 5: only the 3 resolved last are kept; open ones all stay.
	list := m.List(Filter{})
	var closed []string
	for _, inc := range list[:5] {
		if _, err := m.Apply(ctx, inc.ID, Update{Phase: PostIncident, Actor: "ann"}); err != nil {
			t.Fatal(err)
		}
		closed = append(closed, inc.ID)
	}
	if n := len(m.List(Filter{})); n != 18 {
		t.Fatalf("%d incidents after closing 5 with MaxClosed 3, want 18", n)
	}
	for k, id := range closed {
		_, err := m.Get(id)
		if kept := err == nil; kept != (k >= 2) {
			t.Fatalf("closed incident %d (%s) kept = %v", k, id, kept)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash mid-append leaves a torn line: dropped on open, nothing else lost.
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"incident":{"id":"inc-torn","tit`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m2, err := New(Options{Dir: dir, MaxClosed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if n := len(m2.List(Filter{})); n != 18 {
		t.Fatalf("%d incidents after restart, want 18", n)
	}
	got, err := m2.Get(one.ID)
	if err != nil || got.Timeline[len(got.Timeline)-1].Text != "looked at it" {
		t.Fatalf("after restart: %+v, %v", got.Timeline, err)
	}
	// Compaction: many updates of one incident keep the journal near the live size.
	id := m2.List(Filter{})[0].ID
	for i := range 600 {
		if _, err := m2.Apply(ctx, id, Update{Owner: fmt.Sprint("owner-", i%2), Actor: "ann"}); err != nil {
			t.Fatal(err)
		}
	}
	if m2.j.lines > 2*18+256 {
		t.Fatalf("journal holds %d lines for 18 incidents after 600 updates", m2.j.lines)
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	m3, err := New(Options{Dir: dir, MaxClosed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	if got, err := m3.Get(id); err != nil || got.Owner != "owner-1" || len(m3.List(Filter{})) != 18 {
		t.Fatalf("after compaction and restart: owner %q, %d incidents, %v", got.Owner, len(m3.List(Filter{})), err)
	}
}

// TestJournalImportsLegacyFile: an incidents.json written by an older version is imported once.
func TestJournalImportsLegacyFile(t *testing.T) {
	dir := t.TempDir()
	legacy := `[{"id":"inc-old1","title":"old","type":"security","phase":"investigation","severity":"P1","alert_ids":["a1"],"opened_at":"2026-01-01T00:00:00Z"}]`
	if err := os.WriteFile(filepath.Join(dir, legacyName), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got, err := m.Get("inc-old1"); err != nil || got.Title != "old" {
		t.Fatalf("imported incident: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyName)); !os.IsNotExist(err) {
		t.Fatalf("legacy file still there: %v", err)
	}
	// Corruption in the middle is an error, not silently skipped.
	if err := os.WriteFile(filepath.Join(dir, journalName), []byte("{not json}\n{\"drop\":\"x\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Dir: dir}); err == nil {
		t.Fatal("corrupt journal opened")
	}
}
