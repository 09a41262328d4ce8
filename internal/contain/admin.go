package contain

import (
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
		{Pattern: "GET /v1/containment", Handler: httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
			acts := s.List(r.URL.Query().Get("all") == "true")
			if acts == nil {
				acts = []Action{}
			}
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"actions": acts})
			return nil
		})},
		{Pattern: "POST /v1/containment", Handler: httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
			var req applyRequest
			if err := httpx.DecodeJSON(r, &req); err != nil {
				return err
			}
			var ttl time.Duration
			if req.TTL != "" {
				d, err := time.ParseDuration(req.TTL)
				if err != nil || d < 0 {
					return httpx.Invalid("ttl", "must be a Go duration such as 30m (0 = until lifted)")
				}
				ttl = d
			}
			req.By = who(r, req.By)
			a, err := s.Apply(r.Context(), Action{Kind: req.Kind, Target: req.Target, TTL: ttl, RPM: req.RPM, Reason: req.Reason, By: req.By})
			if errors.Is(err, ErrInvalid) {
				return &httpx.Error{Status: http.StatusBadRequest, Code: "invalid_action", Message: err.Error()}
			}
			if err != nil {
				return fmt.Errorf("record containment action: %w", err)
			}
			httpx.WriteJSON(w, http.StatusCreated, a)
			return nil
		})},
		{Pattern: "DELETE /v1/containment/{id}", Handler: httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
			var req liftRequest
			if err := httpx.DecodeJSON(r, &req); err != nil {
				return err
			}
			req.By = who(r, req.By)
			a, err := s.Lift(r.Context(), r.PathValue("id"), req.By, req.Reason)
			if errors.Is(err, ErrNotFound) {
				return &httpx.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no active containment with that id"}
			}
			if err != nil {
				return fmt.Errorf("lift containment action: %w", err)
			}
			httpx.WriteJSON(w, http.StatusOK, a)
			return nil
		})},
	}
}
