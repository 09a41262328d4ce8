package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type namesDoc struct {
	Version int      `json:"version"`
	Names   []string `json:"names"`
}

type nameCount struct{ n int }

func buildCount(d namesDoc) (*nameCount, error) {
	if d.Version != 1 {
		return nil, errors.New("unknown version")
	}
	return &nameCount{n: len(d.Names)}, nil
}

func TestJSONFileCreatesUpdatesAndSharesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	a, err := OpenJSON(path, namesDoc{Version: 1, Names: []string{}}, 0, nil, buildCount)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v, %v", fi, err)
	}
	if got := a.Get().n; got != 0 {
		t.Fatalf("new file holds %d names", got)
	}
	// A second opener (another process) sees the existing document, not a new empty one.
	if err := a.Update(func(d *namesDoc) error { d.Names = append(d.Names, "x"); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := a.Get().n; got != 1 {
		t.Fatalf("writer reads %d names after its own update, want 1", got)
	}
	b, err := OpenJSON(path, namesDoc{Version: 1, Names: []string{}}, 0, nil, buildCount)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Get().n; got != 1 {
		t.Fatalf("second opener reads %d names, want 1", got)
	}
	if err := b.Update(func(d *namesDoc) error { d.Names = append(d.Names, "y"); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := a.Changed().n; got != 2 {
		t.Fatalf("first opener reads %d names after the other's update, want 2", got)
	}
	// A refused update writes nothing.
	boom := errors.New("boom")
	if err := a.Update(func(d *namesDoc) error { d.Names = nil; return boom }); !errors.Is(err, boom) {
		t.Fatalf("update error = %v, want boom", err)
	}
	if got := b.Changed().n; got != 2 {
		t.Fatalf("refused update changed the file: %d names", got)
	}
}

func TestJSONFileRefusesUndecodableDocument(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(`{"version": 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenJSON(path, namesDoc{Version: 1}, 0, nil, buildCount); err == nil {
		t.Fatal("a document buildCount refuses opened without error")
	}
	if err := os.WriteFile(path, []byte(`{not json`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenJSON(path, namesDoc{Version: 1}, 0, nil, buildCount); err == nil {
		t.Fatal("a corrupt document opened without error")
	}
}
