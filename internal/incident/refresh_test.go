package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// TestRefreshCaseFilesDropsErasedText: a case file keeps the actor activity the index returned
// when it was compiled; after the index erased an actor's text, RefreshCaseFiles rewrites the
// case files of that actor's incidents (only those) and the text is gone from the directory.
func TestRefreshCaseFilesDropsErasedText(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	index := map[string]string{"mallory": "MALLORY-SECRET-1", "trent": "TRENT-SECRET-2"}
	s := newStack(t, Options{Dir: dir, Search: func(_ context.Context, actor string, _, _ time.Time) ([]json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		b, err := json.Marshal(map[string]string{"actor": actor, "input": index[actor]})
		return []json.RawMessage{b}, err
	}})
	defer s.stop()
	ctx := context.Background()
	if err := s.am.Receive(ctx, []alert.Alert{p1("exfil", "bot", "mallory", "e1"), p1("leak", "bot2", "trent", "e2")}); err != nil {
		t.Fatal(err)
	}
	grep := func(needle string) bool {
		t.Helper()
		found := false
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			found = found || bytes.Contains(b, []byte(needle))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	for deadline := time.Now().Add(10 * time.Second); !grep("MALLORY-SECRET-1") || !grep("TRENT-SECRET-2"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("case files were not compiled with the actors' activity")
		}
	}
	mu.Lock()
	index["mallory"] = "" // the index erased mallory's text
	mu.Unlock()
	n, err := s.im.RefreshCaseFiles(ctx, "mallory")
	if err != nil || n != 1 {
		t.Fatalf("RefreshCaseFiles(mallory) = %d, %v; want 1 case file", n, err)
	}
	if grep("MALLORY-SECRET-1") {
		t.Error("mallory's erased text is still in the incident directory")
	}
	if !grep("TRENT-SECRET-2") {
		t.Error("trent's case file lost its activity")
	}
	if n, err := s.im.RefreshCaseFiles(ctx, ""); err != nil || n != 2 {
		t.Fatalf("RefreshCaseFiles(all) = %d, %v; want 2", n, err)
	}
}
