package jetstream

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
)

// TestAppenderSkipsConflictingIDs: a record whose id is already in the log with other content
// (audit.IDConflictError, issue 12) is skipped instead of failing its batch forever; the other
// records of the batch and later ones are appended.
func TestAppenderSkipsConflictingIDs(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), 2*time.Second)
	dir := t.TempDir()
	log := openLog(t, filepath.Join(dir, "log"))
	defer log.Close()
	ctx := context.Background()
	// ev-3 and ev-7 are already in the log with other content.
	if _, err := log.Append(ctx, []audit.Record{{ID: "ev-3", Leaf: []byte(`{"original":3}`)}, {ID: "ev-7", Leaf: []byte(`{"original":7}`)}}); err != nil {
		t.Fatal(err)
	}
	recs, models := records("ev", 0, 10)
	if _, err := b.Publish(ctx, recs, models); err != nil {
		t.Fatal(err)
	}
	_, stop := runAppender(t, b, log, dir, "a")
	defer stop()
	waitFor(t, "the other 8 records in the log", 10*time.Second, func() bool { return log.Size() == 10 })
	more, mmodels := records("later", 0, 5)
	if _, err := b.Publish(ctx, more, mmodels); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "later records in the log", 10*time.Second, func() bool { return log.Size() == 15 })
	i, _ := log.Lookup("ev-3")
	if leaf, err := log.Leaf(i); err != nil || string(leaf) != `{"original":3}` {
		t.Fatalf("ev-3 in the log: %s %v; want the original", leaf, err)
	}
}
