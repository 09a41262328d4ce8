package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/pipeline"
)

// durable returns an ingest handler on a real audit log and pipeline in a temporary directory.
func durable(t testing.TB) (*Handler, *audit.Log) {
	t.Helper()
	log, err := audit.Open(audit.DefaultOptions(filepath.Join(t.TempDir(), "log")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	p, err := pipeline.New(pipeline.Options{Log: log, Redact: strings.ToUpper})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Submitter: p})
	if err != nil {
		t.Fatal(err)
	}
	return h, log
}

func postTo(h *Handler, path, contentType string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	if path == "/v1/traces" {
		h.Traces(w, r)
	} else {
		h.Events(w, r)
	}
	return w
}

// TestResentIDs: a re-sent id with the same content is an idempotent 202 that stores nothing
// new; with different content (or twice in one batch with different content) it is a 409 that
// names the id and its position, and nothing of that request is stored.
func TestResentIDs(t *testing.T) {
	h, log := durable(t)
	steps := []struct {
		file      string
		status    int
		ids       []string // 202: the ids answered
		conflict  string   // 409: the id named
		index     int
		wantSize  uint64
		notStored string // an id of the refused request that must not be in the log
	}{
		{file: "batch.json", status: 202, ids: []string{"ord-1", "ord-2"}, wantSize: 2},
		{file: "same.ndjson", status: 202, ids: []string{"ord-2", "ord-1"}, wantSize: 2},
		{file: "changed_output.json", status: 409, conflict: "ord-1", index: 1, wantSize: 2, notStored: "ord-3"},
		{file: "changed_decision.ndjson", status: 409, conflict: "ord-2", index: 0, wantSize: 2},
		{file: "within_batch.json", status: 409, conflict: "ord-9", index: 1, wantSize: 2, notStored: "ord-9"},
		{file: "batch.json", status: 202, ids: []string{"ord-1", "ord-2"}, wantSize: 2},
	}
	for _, st := range steps {
		w := postTo(h, "/v1/events", "application/json", readFile(t, "idempotency/"+st.file))
		if w.Code != st.status {
			t.Fatalf("%s: status %d, want %d: %s", st.file, w.Code, st.status, w.Body)
		}
		if st.status == 202 {
			var res struct{ IDs []string }
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || !slices.Equal(res.IDs, st.ids) {
				t.Fatalf("%s: response %s, want ids %v", st.file, w.Body, st.ids)
			}
		} else {
			var eb errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
				t.Fatal(err)
			}
			e := eb.Error
			if e.Code != "id_conflict" || e.Field != "id" || e.Index == nil || *e.Index != st.index || !strings.Contains(e.Message, `"`+st.conflict+`"`) {
				t.Fatalf("%s: error %+v, want id_conflict naming %q at index %d", st.file, e, st.conflict, st.index)
			}
		}
		if log.Size() != st.wantSize {
			t.Fatalf("%s: log holds %d entries, want %d", st.file, log.Size(), st.wantSize)
		}
		if st.notStored != "" {
			if _, ok := log.Lookup(st.notStored); ok {
				t.Fatalf("%s: %s of the refused request was stored", st.file, st.notStored)
			}
		}
	}
	// What the log holds for ord-1 is the first content, not the refused one.
	i, _ := log.Lookup("ord-1")
	leaf, err := log.Leaf(i)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.ParseLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte("It ships tomorrow.")); ev.Response == nil || ev.Response.OutputSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("ord-1 in the log has output hash %+v, want the first content's", ev.Response)
	}
}

// TestResentSpans: an OTLP span re-exported unchanged is accepted again without a new entry;
// the same trace and span id with different content is a 409 naming the event id.
func TestResentSpans(t *testing.T) {
	h, log := durable(t)
	body := readFile(t, "idempotency/span.json")
	evs, err := event.FromOTLP(body, "application/json")
	if err != nil || len(evs) == 0 {
		t.Fatalf("FromOTLP: %d events, %v", len(evs), err)
	}
	for k := range 2 {
		if w := postTo(h, "/v1/traces", "application/json", body); w.Code != http.StatusOK {
			t.Fatalf("export %d: status %d: %s", k, w.Code, w.Body)
		}
	}
	if log.Size() != uint64(len(evs)) {
		t.Fatalf("log holds %d entries after exporting %d spans twice", log.Size(), len(evs))
	}
	changed := bytes.Replace(body, []byte("And tomorrow?"), []byte("And next week?"), 1)
	if bytes.Equal(changed, body) {
		t.Fatal("test data has no prompt to change")
	}
	w := postTo(h, "/v1/traces", "application/json", changed)
	var eb errorBody
	_ = json.Unmarshal(w.Body.Bytes(), &eb)
	if w.Code != http.StatusConflict || eb.Error.Code != "id_conflict" || eb.Error.Field != "traceId/spanId" || !strings.Contains(eb.Error.Message, evs[0].ID) {
		t.Fatalf("changed span: status %d %+v, want 409 naming %s", w.Code, eb.Error, evs[0].ID)
	}
	if log.Size() != uint64(len(evs)) {
		t.Fatalf("log grew to %d entries after a refused export", log.Size())
	}
}
