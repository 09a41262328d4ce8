package keys

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/warden-ai/warden/internal/httpx"
)

// View is a key record as shown by the admin API and `keys list --json`: no hash.
type View struct {
	ID        string    `json:"id"`
	Consumer  string    `json:"consumer"`
	Groups    []string  `json:"groups"`
	Models    []string  `json:"models"`
	RPM       int       `json:"rpm"`
	TPM       int       `json:"tpm"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Status    string    `json:"status"`
}

// ViewOf returns the public view of k at time now.
func ViewOf(k *Key, now time.Time) View {
	v := View{ID: k.ID, Consumer: k.Consumer, Groups: k.Groups, Models: k.Models, RPM: k.RPM, TPM: k.TPM, ExpiresAt: k.ExpiresAt, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, Status: k.Status(now)}
	if v.Groups == nil {
		v.Groups = []string{}
	}
	if v.Models == nil {
		v.Models = []string{}
	}
	return v
}

// createRequest is the body of POST /v1/keys.
type createRequest struct {
	Consumer string   `json:"consumer"`
	Groups   []string `json:"groups"`
	Models   []string `json:"models"`
	RPM      int      `json:"rpm"`
	TPM      int      `json:"tpm"`
	Expires  string   `json:"expires"` // Go duration, e.g. "720h"
}

// AdminRoutes are the key admin API; mount it behind admin-token authentication:
//
//	POST   /v1/keys       {"consumer","groups","models","rpm","tpm","expires"} → 201 {"key": "wk-…", …view}
//	GET    /v1/keys       → 200 {"keys": [view…]}
//	DELETE /v1/keys/{id}  → 200 view (revoked), 404 if unknown
//
// The key appears only in the response to POST.
func AdminRoutes(s *Store) []httpx.Route {
	return []httpx.Route{
		{Pattern: "POST /v1/keys", Handler: httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
			var req createRequest
			if err := httpx.DecodeJSON(r, &req); err != nil {
				return err
			}
			var ttl time.Duration
			if req.Expires != "" {
				d, err := time.ParseDuration(req.Expires)
				if err != nil || d <= 0 {
					return httpx.Invalid("expires", "must be a positive Go duration such as 720h")
				}
				ttl = d
			}
			secret, k, err := s.Create(r.Context(), Spec{Consumer: req.Consumer, Groups: req.Groups, Models: req.Models, RPM: req.RPM, TPM: req.TPM, TTL: ttl})
			if errors.Is(err, ErrInvalid) {
				return &httpx.Error{Status: http.StatusBadRequest, Code: "invalid_key_spec", Message: err.Error()}
			}
			if err != nil {
				return fmt.Errorf("create key: %w", err)
			}
			out := struct {
				Key string `json:"key"`
				View
			}{secret, ViewOf(&k, time.Now())}
			httpx.WriteJSON(w, http.StatusCreated, out)
			return nil
		})},
		{Pattern: "GET /v1/keys", Handler: httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
			ks, err := s.List()
			if err != nil {
				return fmt.Errorf("list keys: %w", err)
			}
			views := make([]View, len(ks))
			for i := range ks {
				views[i] = ViewOf(&ks[i], time.Now())
			}
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"keys": views})
			return nil
		})},
		{Pattern: "DELETE /v1/keys/{id}", Handler: httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
			k, err := s.Revoke(r.Context(), r.PathValue("id"))
			if errors.Is(err, ErrNotFound) {
				return &httpx.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no key with that id"}
			}
			if err != nil {
				return fmt.Errorf("revoke key: %w", err)
			}
			httpx.WriteJSON(w, http.StatusOK, ViewOf(&k, time.Now()))
			return nil
		})},
	}
}
