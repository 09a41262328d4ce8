package incident

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/httpx"
)

// View is an incident as the API shows it, with MTTD/MTTR in seconds.
type View struct {
	Incident
	MTTDSeconds float64 `json:"mttd_seconds,omitempty"`
	MTTRSeconds float64 `json:"mttr_seconds,omitempty"`
}

func view(i Incident) View {
	return View{Incident: i, MTTDSeconds: i.MTTD().Seconds(), MTTRSeconds: i.MTTR().Seconds()}
}

// Routes are the incident API (mount it behind admin authentication). actor names the
// caller (e.g. from the token); nil uses the body's "actor", else "api".
//
//	GET   /v1/incidents                 ?phase=&type=&open=true|false&serious=true|false&since=
//	POST  /v1/incidents                 OpenRequest
//	GET   /v1/incidents/{id}
//	PATCH /v1/incidents/{id}            Update {phase, owner, note, action}
//	POST  /v1/incidents/{id}/serious    {"category":..,"aware_at":..}
//	POST  /v1/incidents/{id}/reported   {"reference":..}
//	GET   /v1/incidents/{id}/casefile   the case file (JSON)
//	GET   /v1/incidents/{id}/export     the case file archive (tar) with the evidence package
//	GET   /v1/incidents/{id}/art73      ?format=json|html: the Art. 73 report draft
func (m *Manager) Routes(actor func(*http.Request) string) []httpx.Route {
	who := func(r *http.Request, body string) string {
		if actor != nil {
			if a := actor(r); a != "" {
				return a
			}
		}
		if body != "" {
			return body
		}
		return "api"
	}
	var routes []httpx.Route
	handle := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		routes = append(routes, httpx.Route{Pattern: pattern, Handler: httpx.Handle(m.log, func(w http.ResponseWriter, r *http.Request) error {
			return lifecycle.HTTPError(f(w, r))
		})})
	}
	handle("GET /v1/incidents", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		f := Filter{Phase: Phase(q.Get("phase")), Type: Type(q.Get("type"))}
		if f.Phase != "" && !slices.Contains(Phases, f.Phase) {
			return &lifecycle.FieldError{Field: "phase", Msg: "unknown phase"}
		}
		if f.Type != "" && !slices.Contains(Types, f.Type) {
			return &lifecycle.FieldError{Field: "type", Msg: "unknown type"}
		}
		for _, name := range []string{"open", "serious"} {
			if s := q.Get(name); s != "" {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return &lifecycle.FieldError{Field: name, Msg: "must be true or false"}
				}
				if name == "open" {
					f.Open = &b
				} else {
					f.Serious = &b
				}
			}
		}
		if s := q.Get("since"); s != "" {
			t, err := httpx.ParseTime(s, time.Now())
			if err != nil {
				return &lifecycle.FieldError{Field: "since", Msg: err.Error()}
			}
			f.Since = t
		}
		list := m.List(f)
		out := make([]View, len(list))
		for i, inc := range list {
			out[i] = view(inc)
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"incidents": out})
		return nil
	})
	handle("POST /v1/incidents", func(w http.ResponseWriter, r *http.Request) error {
		var req OpenRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		req.Actor = who(r, req.Actor)
		inc, err := m.Open(r.Context(), req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, view(inc))
		return nil
	})
	handle("GET /v1/incidents/{id}", func(w http.ResponseWriter, r *http.Request) error {
		inc, err := m.Get(r.PathValue("id"))
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, view(inc))
		return nil
	})
	handle("PATCH /v1/incidents/{id}", func(w http.ResponseWriter, r *http.Request) error {
		var u Update
		if err := httpx.DecodeJSON(r, &u); err != nil {
			return err
		}
		u.Actor = who(r, u.Actor)
		inc, err := m.Apply(r.Context(), r.PathValue("id"), u)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, view(inc))
		return nil
	})
	handle("POST /v1/incidents/{id}/serious", func(w http.ResponseWriter, r *http.Request) error {
		var b struct {
			Category Category  `json:"category"`
			AwareAt  time.Time `json:"aware_at"`
			Actor    string    `json:"actor"`
		}
		if err := httpx.DecodeJSON(r, &b); err != nil {
			return err
		}
		inc, err := m.FlagSerious(r.Context(), r.PathValue("id"), b.Category, b.AwareAt, who(r, b.Actor))
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, view(inc))
		return nil
	})
	handle("POST /v1/incidents/{id}/reported", func(w http.ResponseWriter, r *http.Request) error {
		var b struct {
			Reference string `json:"reference"`
			Actor     string `json:"actor"`
		}
		if err := httpx.DecodeJSON(r, &b); err != nil {
			return err
		}
		inc, err := m.MarkReported(r.Context(), r.PathValue("id"), b.Reference, who(r, b.Actor))
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, view(inc))
		return nil
	})
	handle("GET /v1/incidents/{id}/casefile", func(w http.ResponseWriter, r *http.Request) error {
		cf, err := m.CaseFile(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, cf)
		return nil
	})
	handle("GET /v1/incidents/{id}/export", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if _, err := m.Get(id); err != nil {
			return err
		}
		// Build fully before answering so a failure still gets a JSON error.
		var buf bytes.Buffer
		if err := m.Export(r.Context(), id, &buf); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.tar"`)
		_, _ = w.Write(buf.Bytes()) // the client may be gone
		return nil
	})
	handle("GET /v1/incidents/{id}/art73", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		inc, err := m.Get(id)
		if err != nil {
			return err
		}
		if inc.Serious == nil {
			return &httpx.Error{Status: http.StatusConflict, Code: "conflict", Message: "incident is not flagged serious"}
		}
		cf, err := m.CaseFile(r.Context(), id)
		if err != nil {
			return err
		}
		cf.Incident = inc
		rep := BuildArt73Report(cf, m.opt.Provider, time.Now())
		switch r.URL.Query().Get("format") {
		case "", "json":
			httpx.WriteJSON(w, http.StatusOK, rep)
		case "html":
			var buf bytes.Buffer
			if err := rep.WriteHTML(&buf); err != nil {
				return err
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(buf.Bytes()) // the client may be gone
		default:
			return &lifecycle.FieldError{Field: "format", Msg: "must be json or html"}
		}
		return nil
	})
	return routes
}
