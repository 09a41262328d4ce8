package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Handler serves the alert and silence API (mount it behind admin authentication):
//
//	GET    /v1/alerts               ?state=&severity=&model=&since=(RFC 3339 or duration)&limit=&cursor=
//	GET    /v1/alerts/{id}
//	POST   /v1/alerts/{id}/ack      {"actor":..,"comment":..}
//	POST   /v1/alerts/{id}/resolve  {"actor":..,"comment":..}
//	GET    /v1/silences
//	GET    /v1/silences/{id}
//	POST   /v1/silences             a Silence (matchers as a list or a "matchers" string); with "id" it replaces
//	DELETE /v1/silences/{id}        expires it
//
// Errors are {"error":{"code","message","field"}}.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/alerts", m.handle(m.listAlerts))
	mux.Handle("GET /v1/alerts/{id}", m.handle(m.getAlert))
	mux.Handle("POST /v1/alerts/{id}/ack", m.handle(func(w http.ResponseWriter, r *http.Request) error {
		return m.changeAlert(w, r, Acknowledged)
	}))
	mux.Handle("POST /v1/alerts/{id}/resolve", m.handle(func(w http.ResponseWriter, r *http.Request) error {
		return m.changeAlert(w, r, Resolved)
	}))
	mux.Handle("GET /v1/silences", m.handle(m.listSilences))
	mux.Handle("GET /v1/silences/{id}", m.handle(m.getSilence))
	mux.Handle("POST /v1/silences", m.handle(m.postSilence))
	mux.Handle("DELETE /v1/silences/{id}", m.handle(m.deleteSilence))
	return mux
}

// APIError is the JSON error body of the alert and incident APIs.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *APIError) Error() string { return e.Message }

func (m *Manager) handle(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			if Internal(err) {
				m.log.Error("alert API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			WriteError(w, err)
		}
	})
}

// Internal reports whether WriteError would answer err with 500 "internal error"; such errors
// belong in the server log, since the client is told nothing about them.
func Internal(err error) bool {
	var ae *APIError
	var fe *FieldError
	return !errors.As(err, &ae) && !errors.As(err, &fe) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrState)
}

// WriteError maps err to a status and a JSON error body. Only messages chosen for clients are
// shown: validation errors name their field, everything unexpected is "internal error".
func WriteError(w http.ResponseWriter, err error) {
	var ae *APIError
	var fe *FieldError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &fe):
		ae = &APIError{Status: http.StatusBadRequest, Code: "invalid", Message: fe.Msg, Field: fe.Field}
	case errors.Is(err, ErrNotFound):
		ae = &APIError{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}
	case errors.Is(err, ErrState):
		ae = &APIError{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	default:
		ae = &APIError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	writeJSON(w, ae.Status, map[string]any{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone; nothing to do
}

// DecodeJSON strictly decodes a JSON body of at most 1 MiB into v.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return &APIError{Status: http.StatusBadRequest, Code: "invalid", Message: "wrong type", Field: ute.Field}
		}
		return &APIError{Status: http.StatusBadRequest, Code: "invalid", Message: "malformed JSON body"}
	}
	return nil
}

// ParseTime accepts RFC 3339 or a duration meaning "that long ago".
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a positive duration", s)
	}
	return now.Add(-d), nil
}

func (m *Manager) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := Filter{State: State(q.Get("state")), Severity: Severity(q.Get("severity")), Model: q.Get("model"), Cursor: q.Get("cursor")}
	switch f.State {
	case "", Firing, Acknowledged, Resolved:
	default:
		return &FieldError{Field: "state", Msg: "must be firing, acknowledged or resolved"}
	}
	if f.Severity != "" && !f.Severity.Valid() {
		return &FieldError{Field: "severity", Msg: "must be P1, P2, P3 or P4"}
	}
	if s := q.Get("since"); s != "" {
		t, err := ParseTime(s, time.Now())
		if err != nil {
			return &FieldError{Field: "since", Msg: err.Error()}
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return &FieldError{Field: "limit", Msg: "must be 1..1000"}
		}
		f.Limit = n
	}
	vs, next, err := m.List(f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": vs, "next_cursor": next})
	return nil
}

func (m *Manager) getAlert(w http.ResponseWriter, r *http.Request) error {
	v, err := m.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

type changeBody struct {
	Actor   string `json:"actor"`
	Comment string `json:"comment"`
}

func (m *Manager) actor(r *http.Request, body string) string {
	if m.opt.RequestActor != nil {
		if a := m.opt.RequestActor(r); a != "" {
			return a
		}
	}
	if body != "" {
		return body
	}
	return "api"
}

func (m *Manager) changeAlert(w http.ResponseWriter, r *http.Request, to State) error {
	var b changeBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	if len(b.Comment) > 4096 {
		return &FieldError{Field: "comment", Msg: "longer than 4096 bytes"}
	}
	id, actor := r.PathValue("id"), m.actor(r, b.Actor)
	var a Alert
	var err error
	if to == Acknowledged {
		a, err = m.Ack(r.Context(), id, actor, b.Comment)
	} else {
		a, err = m.Resolve(r.Context(), id, actor, b.Comment)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (m *Manager) listSilences(w http.ResponseWriter, r *http.Request) error {
	now := time.Now()
	type view struct {
		Silence
		State string `json:"state"`
	}
	all := m.Silences()
	out := make([]view, 0, len(all))
	for _, s := range all {
		if st := r.URL.Query().Get("state"); st != "" && s.State(now) != st {
			continue
		}
		out = append(out, view{s, s.State(now)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"silences": out})
	return nil
}

func (m *Manager) getSilence(w http.ResponseWriter, r *http.Request) error {
	s, err := m.Silence(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// silenceBody accepts matchers either as a list or as one string in ParseMatchers syntax, and
// a duration instead of ends_at.
type silenceBody struct {
	ID        string          `json:"id"`
	Matchers  json.RawMessage `json:"matchers"`
	StartsAt  time.Time       `json:"starts_at"`
	EndsAt    time.Time       `json:"ends_at"`
	Duration  string          `json:"duration"`
	CreatedBy string          `json:"created_by"`
	Comment   string          `json:"comment"`
}

func (m *Manager) postSilence(w http.ResponseWriter, r *http.Request) error {
	var b silenceBody
	if err := DecodeJSON(r, &b); err != nil {
		return err
	}
	s := Silence{ID: b.ID, StartsAt: b.StartsAt, EndsAt: b.EndsAt, Comment: b.Comment, CreatedBy: m.actor(r, b.CreatedBy)}
	var str string
	switch {
	case len(b.Matchers) == 0:
	case json.Unmarshal(b.Matchers, &str) == nil:
		ms, err := ParseMatchers(str)
		if err != nil {
			return &FieldError{Field: "matchers", Msg: err.Error()}
		}
		s.Matchers = ms
	default:
		if err := json.Unmarshal(b.Matchers, &s.Matchers); err != nil {
			return &FieldError{Field: "matchers", Msg: "want a string or a list of {name,type,value}"}
		}
	}
	if b.Duration != "" {
		d, err := time.ParseDuration(b.Duration)
		if err != nil || d <= 0 {
			return &FieldError{Field: "duration", Msg: "must be a positive duration"}
		}
		if !b.EndsAt.IsZero() {
			return &FieldError{Field: "duration", Msg: "give ends_at or duration, not both"}
		}
		if s.StartsAt.IsZero() {
			s.StartsAt = time.Now()
		}
		s.EndsAt = s.StartsAt.Add(d)
	}
	status := http.StatusCreated
	if s.ID != "" {
		status = http.StatusOK
	}
	out, err := m.CreateSilence(r.Context(), s)
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

func (m *Manager) deleteSilence(w http.ResponseWriter, r *http.Request) error {
	s, err := m.ExpireSilence(r.Context(), r.PathValue("id"), m.actor(r, ""))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}
