package demo

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/ingest"
	"github.com/warden-ai/warden/internal/pipeline"
)

// TestIngestRoundShowsHardening runs the demo's first ingest round against the real ingest
// handler, pipeline and audit log: the replayed id with different content is shown rejected
// with 409 and the log keeps the original denial.
func TestIngestRoundShowsHardening(t *testing.T) {
	log, err := audit.Open(audit.DefaultOptions(filepath.Join(t.TempDir(), "log")))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p, err := pipeline.New(pipeline.Options{Log: log, Redact: func(s string) string { return s }})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.New(ingest.Options{Submitter: p})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(h.Events))
	defer srv.Close()
	var out bytes.Buffer
	if err := RunIngest(context.Background(), srv.URL, "unused", &out, Options{Rounds: 1, Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "hardening") {
			line = l
		}
	}
	for _, want := range []string{"sent → 202", "re-sent unchanged → 202", "→ 409 id_conflict", "already accepted with different content"} {
		if !strings.Contains(line, want) {
			t.Fatalf("hardening line %q lacks %q; output:\n%s", line, want, out.String())
		}
	}
	id := line[strings.Index(line, "demo-refund-"):]
	id = id[:strings.IndexByte(id, ' ')]
	i, ok := log.Lookup(id)
	if !ok {
		t.Fatalf("%s not in the log", id)
	}
	leaf, err := log.Leaf(i)
	if err != nil || !strings.Contains(string(leaf), `"decision":"deny"`) {
		t.Fatalf("log holds %s for %s (%v), want the original denial", leaf, id, err)
	}
}
