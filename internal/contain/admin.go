package contain

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/warden-ai/warden/internal/httpx"
)

// applyRequest is the body of POST /v1/containment.
type applyRequest struct {
	Kind   Kind   `json:"kind"`
	Target string `json:"target"`
	TTL    string `json:"ttl"` // Go duration; "" or "0s" = until lifted
	RPM    int    `json:"rpm"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

type liftRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// AdminRoutes are the containment admin API; mount it behind admin-token authentication:
//
//	GET    /v1/containment[?all=true]  → 200 {"actions": [...]}
//	POST   /v1/containment             {"kind","target","ttl","rpm","reason","by"} → 201 action
//	DELETE /v1/containment/{id}        optional body {"by","reason"} → 200 action (lifted)
//
// Every change is audited through the Store's Emitter. actor (may be nil) names the
// authenticated caller; when it does, it overrides the body's "by", so a change is attributed
// to the person who made it.
func AdminRoutes(s *Store, actor func(*http.Request) string) []httpx.Route {
	who := func(r *http.Request, by string) string {
		if actor != nil {
			if a := actor(r); a != "" {
				return a
			}
		}
		if by == "" {
			return "api"
		}
		return by
	}
	return []httpx.Route{
		{Pattern: "GET /v1/containment", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			acts := s.List(r.URL.Query().Get("all") == "true")
			if acts == nil {
				acts = []Action{}
			}
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"actions": acts})
		})},
		{Pattern: "POST /v1/containment", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req applyRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				httpx.WriteError(w, r, http.StatusBadRequest, "invalid_body", fmt.Sprintf("invalid JSON body: %v", err))
				return
			}
			var ttl time.Duration
			if req.TTL != "" {
				d, err := time.ParseDuration(req.TTL)
				if err != nil || d < 0 {
					httpx.WriteError(w, r, http.StatusBadRequest, "invalid_ttl", "ttl must be a Go duration such as 30m (0 = until lifted)")
					return
				}
				ttl = d
			}
			req.By = who(r, req.By)
			a, err := s.Apply(r.Context(), Action{Kind: req.Kind, Target: req.Target, TTL: ttl, RPM: req.RPM, Reason: req.Reason, By: req.By})
			if errors.Is(err, ErrInvalid) {
				httpx.WriteError(w, r, http.StatusBadRequest, "invalid_action", err.Error())
				return
			}
			if err != nil {
				httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not record the containment action")
				return
			}
			httpx.WriteJSON(w, http.StatusCreated, a)
		})},
		{Pattern: "DELETE /v1/containment/{id}", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req liftRequest
			if r.ContentLength != 0 {
				if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
					httpx.WriteError(w, r, http.StatusBadRequest, "invalid_body", fmt.Sprintf("invalid JSON body: %v", err))
					return
				}
			}
			req.By = who(r, req.By)
			a, err := s.Lift(r.Context(), r.PathValue("id"), req.By, req.Reason)
			if errors.Is(err, ErrNotFound) {
				httpx.WriteError(w, r, http.StatusNotFound, "not_found", "no active containment with that id")
				return
			}
			if err != nil {
				httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not lift the containment action")
				return
			}
			httpx.WriteJSON(w, http.StatusOK, a)
		})},
	}
}
