package lifecycle

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/httpx"
)

// Routes are the alert and silence API (mount it behind admin authentication):
//
//	GET    /v1/alerts               ?state=&severity=&model=&since=(RFC 3339 or duration)&limit=&cursor=
//	GET    /v1/alerts/{id}
//	POST   /v1/alerts/{id}/ack      {"actor":..,"comment":..}
//	POST   /v1/alerts/{id}/resolve  {"actor":..,"comment":..,"reason": false_positive|benign|true_positive}
//	GET    /v1/alerts/feedback      per-rule alert volume, verdicts, false-positive ratio and tuning proposals
//	GET    /v1/silences
//	GET    /v1/silences/{id}
//	POST   /v1/silences             a Silence (matchers as a list or a "matchers" string); with "id" it replaces
//	DELETE /v1/silences/{id}        expires it
//
// Answers and errors go through httpx.
func (m *Manager) Routes() []httpx.Route {
	return []httpx.Route{
		{Pattern: "GET /v1/alerts", Handler: m.handle(m.listAlerts)},
		{Pattern: "GET /v1/alerts/{id}", Handler: m.handle(m.getAlert)},
		{Pattern: "GET /v1/alerts/feedback", Handler: m.handle(m.getFeedback)},
		{Pattern: "POST /v1/alerts/{id}/ack", Handler: m.handle(func(w http.ResponseWriter, r *http.Request) error {
			return m.changeAlert(w, r, alert.Acknowledged)
		})},
		{Pattern: "POST /v1/alerts/{id}/resolve", Handler: m.handle(func(w http.ResponseWriter, r *http.Request) error {
			return m.changeAlert(w, r, alert.Resolved)
		})},
		{Pattern: "GET /v1/silences", Handler: m.handle(m.listSilences)},
		{Pattern: "GET /v1/silences/{id}", Handler: m.handle(m.getSilence)},
		{Pattern: "POST /v1/silences", Handler: m.handle(m.postSilence)},
		{Pattern: "DELETE /v1/silences/{id}", Handler: m.handle(m.deleteSilence)},
	}
}

// HTTPError maps the errors of this package (and of incidents, which share them) to the answer
// a client sees: a FieldError is 400 naming its field, ErrNotFound 404, ErrState 409. Other
// errors pass through unchanged, so httpx.Handle logs them and answers 500.
func HTTPError(err error) error {
	var fe *FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return httpx.Invalid(fe.Field, fe.Msg)
	case errors.Is(err, ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}
	case errors.Is(err, ErrState):
		return &httpx.Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	}
	return err
}

func (m *Manager) handle(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return httpx.Handle(m.log, func(w http.ResponseWriter, r *http.Request) error { return HTTPError(f(w, r)) })
}

func (m *Manager) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := Filter{State: alert.State(q.Get("state")), Severity: alert.Severity(q.Get("severity")), Model: q.Get("model"), Cursor: q.Get("cursor")}
	switch f.State {
	case "", alert.Firing, alert.Acknowledged, alert.Resolved:
	default:
		return &FieldError{Field: "state", Msg: "must be firing, acknowledged or resolved"}
	}
	if f.Severity != "" && !f.Severity.Valid() {
		return &FieldError{Field: "severity", Msg: "must be P1, P2, P3 or P4"}
	}
	if s := q.Get("since"); s != "" {
		t, err := httpx.ParseTime(s, time.Now())
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
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"alerts": vs, "next_cursor": next})
	return nil
}

func (m *Manager) getAlert(w http.ResponseWriter, r *http.Request) error {
	v, err := m.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// ChangeRequest is the body of POST /v1/alerts/{id}/ack and /resolve.
type ChangeRequest struct {
	Actor   string `json:"actor"`
	Comment string `json:"comment"`
	// Reason (resolve only): false_positive, benign or true_positive.
	Reason string `json:"reason,omitempty"`
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

func (m *Manager) changeAlert(w http.ResponseWriter, r *http.Request, to alert.State) error {
	var b ChangeRequest
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	if len(b.Comment) > 4096 {
		return &FieldError{Field: "comment", Msg: "longer than 4096 bytes"}
	}
	id, actor := r.PathValue("id"), m.actor(r, b.Actor)
	var a alert.Alert
	var err error
	if !alert.ValidReason(b.Reason) {
		return &FieldError{Field: "reason", Msg: "must be one of " + strings.Join(alert.ResolveReasons, ", ")}
	}
	if to == alert.Acknowledged {
		if b.Reason != "" {
			return &FieldError{Field: "reason", Msg: "applies to resolve only"}
		}
		a, err = m.Ack(r.Context(), id, actor, b.Comment)
	} else {
		a, err = m.ResolveAs(r.Context(), id, actor, b.Comment, b.Reason)
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a)
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
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"silences": out})
	return nil
}

func (m *Manager) getSilence(w http.ResponseWriter, r *http.Request) error {
	s, err := m.Silence(r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

// SilenceRequest is the body of POST /v1/silences. It accepts matchers either as a list or as one string in ParseMatchers syntax, and
// a duration instead of ends_at.
type SilenceRequest struct {
	ID        string          `json:"id"`
	Matchers  json.RawMessage `json:"matchers"`
	StartsAt  time.Time       `json:"starts_at"`
	EndsAt    time.Time       `json:"ends_at"`
	Duration  string          `json:"duration"`
	CreatedBy string          `json:"created_by"`
	Comment   string          `json:"comment"`
}

func (m *Manager) postSilence(w http.ResponseWriter, r *http.Request) error {
	var b SilenceRequest
	if err := httpx.DecodeJSON(r, &b); err != nil {
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
	httpx.WriteJSON(w, status, out)
	return nil
}

func (m *Manager) deleteSilence(w http.ResponseWriter, r *http.Request) error {
	s, err := m.ExpireSilence(r.Context(), r.PathValue("id"), m.actor(r, ""))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}
