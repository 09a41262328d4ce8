package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/pipeline"
)

// fakeSubmitter records submissions and answers with err (or the events' ids).
type fakeSubmitter struct {
	mu    sync.Mutex
	got   [][]*event.Event
	err   error
	block chan struct{} // when set, Submit waits for it to close
}

func (f *fakeSubmitter) Submit(_ context.Context, evs []*event.Event) ([]string, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.got = append(f.got, evs)
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids, nil
}

func (f *fakeSubmitter) submissions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Index   *int   `json:"index"`
		Line    int    `json:"line"`
		Field   string `json:"field"`
	} `json:"error"`
}

func post(t *testing.T, h *Handler, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(body))
	w := httptest.NewRecorder()
	h.Events(w, r)
	return w
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEvents(t *testing.T) {
	tests := []struct {
		name       string
		body       []byte
		subErr     error
		wantStatus int
		wantCode   string
		wantIndex  int
		wantLine   int
		wantField  string
		retryAfter bool
		submitted  int
	}{
		{name: "accepted", body: readFile(t, "ok3.ndjson"), wantStatus: http.StatusAccepted, submitted: 1},
		{name: "invalid second line, nothing submitted", body: readFile(t, "bad_line2.ndjson"), wantStatus: http.StatusBadRequest, wantCode: "invalid_event", wantIndex: 1, wantLine: 2, wantField: "decision"},
		{name: "unknown field", body: []byte(`{"type":"access","time":"2026-01-02T03:04:05Z","colour":1}`), wantStatus: http.StatusBadRequest, wantCode: "invalid_event", wantField: "colour"},
		{name: "claims to be Warden's probe traffic", body: []byte(`{"type":"access","time":"2026-01-02T03:04:05Z","action":"invoke","decision":"allow"}` + "\n" +
			`{"type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"},"actor":{"service_account":"warden-probe"},"attributes":{"warden.probe_run":"pr-1"}}`),
			wantStatus: http.StatusBadRequest, wantCode: "invalid_event", wantIndex: 1, wantField: "attributes.warden.probe_run"},
		{name: "the service account alone is not probe traffic", body: []byte(`{"id":"a-1","type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"},"actor":{"service_account":"warden-probe"}}` + "\n" +
			`{"id":"a-2","type":"access","time":"2026-01-02T03:04:05Z","action":"invoke","decision":"allow"}` + "\n" + `{"id":"a-3","type":"access","time":"2026-01-02T03:04:05Z","action":"invoke","decision":"allow"}`),
			wantStatus: http.StatusAccepted, submitted: 1},
		{name: "too large", body: bytes.Repeat([]byte(" "), 2048), wantStatus: http.StatusRequestEntityTooLarge, wantCode: "too_large"},
		{name: "pipeline full", body: readFile(t, "ok3.ndjson"), subErr: pipeline.ErrOverloaded, wantStatus: http.StatusTooManyRequests, wantCode: "overloaded", retryAfter: true},
		{name: "log failure hides the cause", body: readFile(t, "ok3.ndjson"), subErr: errors.New("disk /secret/path full"), wantStatus: http.StatusServiceUnavailable, wantCode: "unavailable", retryAfter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := &fakeSubmitter{err: tt.subErr}
			h, err := New(Options{Submitter: sub, MaxBodyBytes: 1024})
			if err != nil {
				t.Fatal(err)
			}
			w := post(t, h, tt.body)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("Retry-After") != ""; got != tt.retryAfter {
				t.Fatalf("Retry-After present = %v, want %v", got, tt.retryAfter)
			}
			if tt.subErr == nil && sub.submissions() != tt.submitted {
				t.Fatalf("%d submissions, want %d", sub.submissions(), tt.submitted)
			}
			if tt.wantStatus == http.StatusAccepted {
				var res struct {
					Accepted int      `json:"accepted"`
					IDs      []string `json:"ids"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Accepted != 3 || strings.Join(res.IDs, ",") != "a-1,a-2,a-3" {
					t.Fatalf("response %s (%v)", w.Body, err)
				}
				return
			}
			var eb errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
				t.Fatalf("error body %s: %v", w.Body, err)
			}
			if eb.Error.Code != tt.wantCode || eb.Error.Field != tt.wantField || eb.Error.Line != tt.wantLine {
				t.Fatalf("error %+v, want code %q field %q line %d", eb.Error, tt.wantCode, tt.wantField, tt.wantLine)
			}
			if tt.wantCode == "invalid_event" && (eb.Error.Index == nil || *eb.Error.Index != tt.wantIndex) {
				t.Fatalf("error index %v, want %d", eb.Error.Index, tt.wantIndex)
			}
			if strings.Contains(w.Body.String(), "secret") {
				t.Fatalf("internal error leaked to the client: %s", w.Body)
			}
		})
	}
}

func TestEventsBoundsBodiesInFlight(t *testing.T) {
	sub := &fakeSubmitter{block: make(chan struct{})}
	body := readFile(t, "ok3.ndjson")
	h, err := New(Options{Submitter: sub, MaxBodyBytes: 1024, MaxBodyBytesInFlight: int64(len(body)) + 10})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan int)
	go func() { first <- post(t, h, body).Code }()
	for h.flight.Load() == 0 { // wait until the first body is held in flight
		runtime.Gosched()
	}
	w := post(t, h, body)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: status %d, Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	close(sub.block)
	if code := <-first; code != http.StatusAccepted {
		t.Fatalf("first request: status %d, want 202", code)
	}
	if h.flight.Load() != 0 {
		t.Fatalf("%d bytes still reserved after both requests", h.flight.Load())
	}
	if w := post(t, h, body); w.Code != http.StatusAccepted {
		t.Fatalf("after release: status %d, want 202", w.Code)
	}
}
