// Package ingest serves the event intake endpoints: POST /v1/events (one JSON event, a JSON
// array, or NDJSON; all-or-nothing; 202 only after fsync) and POST /v1/traces (OTLP/HTTP traces,
// protobuf or JSON, whose GenAI spans become inference events). It enforces the body limit (413),
// bounds memory under overload (429 + Retry-After) and maps every failure to a JSON error that
// names the offending index, line and field. A re-sent event id is idempotent when the content is
// the same and a 409 naming the id when it differs.
package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/pipeline"
)

// Submitter durably accepts valid events, all or nothing.
type Submitter interface {
	Submit(ctx context.Context, evs []*event.Event) ([]string, error)
}

// Options configure the handlers.
type Options struct {
	Submitter    Submitter
	Logger       *slog.Logger
	MaxBodyBytes int64 // per request; default 10 MiB
	// MaxBodyBytesInFlight bounds the request bodies held in memory at once; default 64 × MaxBodyBytes.
	MaxBodyBytesInFlight int64
	// Unusable, when set, reports why nothing can be stored (the audit log's fatal error after a
	// failed fsync); while it returns an error every request is refused with a 503 at once.
	Unusable func() error
}

// Handler serves the ingest endpoints.
type Handler struct {
	sub       Submitter
	log       *slog.Logger
	max       int64
	maxFlight int64
	unusable  func() error
	flight    atomic.Int64
	bufs      sync.Pool
}

// New returns the ingest handler.
func New(opts Options) (*Handler, error) {
	if opts.Submitter == nil {
		return nil, errors.New("ingest: Options.Submitter is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 10 << 20
	}
	if opts.MaxBodyBytesInFlight <= 0 {
		opts.MaxBodyBytesInFlight = 64 * opts.MaxBodyBytes
	}
	return &Handler{sub: opts.Submitter, log: opts.Logger.With("component", "ingest"), max: opts.MaxBodyBytes, maxFlight: opts.MaxBodyBytesInFlight, unusable: opts.Unusable,
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}, nil
}

// Events handles POST /v1/events.
func (h *Handler) Events(w http.ResponseWriter, r *http.Request) {
	buf, release, ok := h.readBody(w, r)
	if !ok {
		return
	}
	defer release()
	evs, err := event.DecodeValid(buf.Bytes())
	if err == nil {
		err = notProbeTraffic(evs)
	}
	if err != nil {
		writeFieldError(w, r, err)
		return
	}
	ids, err := h.sub.Submit(r.Context(), evs)
	if err != nil {
		h.submitError(w, r, err, "id")
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, struct {
		Accepted int      `json:"accepted"`
		IDs      []string `json:"ids"`
	}{len(ids), ids})
}

// Traces handles POST /v1/traces (OTLP/HTTP). Spans without GenAI attributes are skipped.
func (h *Handler) Traces(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-protobuf" && ct != "application/protobuf" && ct != "application/json" {
		httpx.WriteErrorBody(w, r, http.StatusUnsupportedMediaType, httpx.Error{Code: "unsupported_media_type", Field: "Content-Type", Message: "OTLP/HTTP needs application/x-protobuf or application/json"})
		return
	}
	buf, release, ok := h.readBody(w, r)
	if !ok {
		return
	}
	defer release()
	// FromOTLPStats returns only events that pass Validate; spans that are not model calls are
	// counted as skipped.
	evs, stats, err := event.FromOTLPStats(buf.Bytes(), ct)
	if err == nil {
		err = notProbeTraffic(evs)
	}
	if err != nil {
		writeFieldError(w, r, err)
		return
	}
	if skipped := stats.Skipped(); skipped > 0 {
		h.log.Debug("OTLP spans skipped", "request_id", httpx.RequestID(r.Context()), "spans", stats.Spans, "skipped", skipped)
	}
	if len(evs) > 0 {
		if _, err := h.sub.Submit(r.Context(), evs); err != nil {
			h.submitError(w, r, err, "traceId/spanId")
			return
		}
	}
	if ct == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse encodes to zero bytes
}

// readBody reads the request body within the per-request and in-flight limits, decompressing
// gzip. On failure it has written the response.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, func(), bool) {
	if h.unusable != nil {
		if err := h.unusable(); err != nil {
			writeUnusable(w, r)
			return nil, nil, false
		}
	}
	if r.ContentLength > h.max {
		httpx.WriteError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body larger than %d bytes; split the batch", h.max))
		return nil, nil, false
	}
	reserve := r.ContentLength
	if reserve < 0 || r.Header.Get("Content-Encoding") == "gzip" {
		reserve = h.max
	}
	if h.flight.Add(reserve) > h.maxFlight && reserve < h.maxFlight {
		h.flight.Add(-reserve)
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, r, http.StatusTooManyRequests, "overloaded", "too many request bodies in flight; retry after the Retry-After delay")
		return nil, nil, false
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	release := func() {
		h.flight.Add(-reserve)
		if buf.Cap() <= 4<<20 {
			h.bufs.Put(buf)
		}
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, h.max)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			release()
			httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "bad_encoding", Field: "Content-Encoding", Message: "body is not valid gzip"})
			return nil, nil, false
		}
		defer zr.Close()
		body = io.LimitReader(zr, h.max+1)
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || n > h.max {
		release()
		httpx.WriteError(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body larger than %d bytes; split the batch", h.max))
		return nil, nil, false
	}
	if err != nil {
		release()
		httpx.WriteError(w, r, http.StatusBadRequest, "bad_body", "could not read the request body")
		return nil, nil, false
	}
	return buf, release, true
}

// submitError maps a Submit failure to its response; idField names what carries an event's id
// in the request (for the 409 of a re-sent id with different content).
func (h *Handler) submitError(w http.ResponseWriter, r *http.Request, err error, idField string) {
	var conflict *audit.IDConflictError
	switch {
	case errors.As(err, &conflict):
		h.log.Warn("re-sent event id with different content refused", "request_id", httpx.RequestID(r.Context()), "id", conflict.ID)
		e := httpx.Error{Code: "id_conflict", Field: idField}
		if idField == "id" { // the position in the batch; OTLP spans have no such index
			idx := conflict.Record
			e.Index = &idx
		}
		e.Message = fmt.Sprintf("event id %q was already accepted with different content; nothing from this request was stored (re-send the same content, or use a new id)", conflict.ID)
		httpx.WriteErrorBody(w, r, http.StatusConflict, e)
	case errors.Is(err, pipeline.ErrOverloaded):
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, r, http.StatusTooManyRequests, "overloaded", "the ingest pipeline is full; retry after the Retry-After delay")
	case errors.Is(err, audit.ErrUnusable):
		h.log.Error("audit log unusable; refusing events", "request_id", httpx.RequestID(r.Context()), "err", err)
		writeUnusable(w, r)
	case errors.Is(err, context.Canceled):
		httpx.WriteError(w, r, 499, "canceled", "request canceled before the events were durable; re-send them (ids make it idempotent)")
	default:
		h.log.Error("append failed", "request_id", httpx.RequestID(r.Context()), "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(5))
		httpx.WriteError(w, r, http.StatusServiceUnavailable, "unavailable", "events could not be stored durably; nothing from this request was kept")
	}
}

// notProbeTraffic refuses events that claim to be Warden's own probe traffic: analytics skip
// such events, so only the gateway may mark them (docs/PROBES.md).
func notProbeTraffic(evs []*event.Event) error {
	for i, ev := range evs {
		if ev.IsProbeTraffic() {
			return &event.FieldError{Index: i, Field: "attributes." + event.AttrProbeRun,
				Message: "reserved for Warden's own probe traffic (actor.service_account " + event.ProbeServiceAccount + "); only the gateway marks it"}
		}
	}
	return nil
}

// writeUnusable answers while the audit log cannot make anything durable. The reason is fixed
// text: the underlying error names files and stays in the server log.
func writeUnusable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "30")
	httpx.WriteError(w, r, http.StatusServiceUnavailable, "log_unusable",
		"the audit log stopped accepting events after a write could not be made durable (fsync failed); nothing from this request was stored; an operator must fix the disk and restart Warden (see /readyz)")
}

func writeFieldError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *event.FieldError
	if errors.As(err, &fe) {
		idx := fe.Index
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_event", Message: fe.Error(), Index: &idx, Line: fe.Line, Field: fe.Field})
		return
	}
	httpx.WriteError(w, r, http.StatusBadRequest, "invalid_event", err.Error())
}
