package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/auth"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/users"
)

// Route permissions. Every route of the API needs a principal whose role grants the route's
// permission: by default GET needs access.View and any other method access.Respond; the routes
// below need more (or, for ingest and metrics, something else).
var routePerms = map[string]access.Permission{
	"POST /v1/events": access.Send,
	"POST /v1/traces": access.Send,
	"GET /metrics":    access.Scrape,

	// Raw events and their text, proofs, case files and exports, keys: analysts and auditors.
	"GET /v1/events":                  access.ReadRaw,
	"GET /v1/audit/proof/{id}":        access.ReadRaw,
	"GET /v1/subjects/{user}":         access.ReadRaw,
	"GET /v1/incidents/{id}/casefile": access.ReadRaw,
	"GET /v1/incidents/{id}/export":   access.ReadRaw,
	"GET /v1/keys":                    access.ReadRaw,
	"GET /v1/detections":              access.ReadRaw,

	// Users, keys, configuration, erasure: admins.
	"POST /v1/keys":                  access.Administer,
	"DELETE /v1/keys/{id}":           access.Administer,
	"POST /v1/subjects/{user}/erase": access.Administer,
	"POST /v1/rules/reload":          access.Administer,
}

// permissionFor returns what a route pattern needs.
func permissionFor(pattern string) access.Permission {
	if p, ok := routePerms[pattern]; ok {
		return p
	}
	if strings.HasPrefix(pattern, "GET ") || strings.HasPrefix(pattern, "HEAD ") {
		return access.View
	}
	return access.Respond
}

// routeQuery lists the query parameters each route accepts; any other is a 400 naming it.
// A route not listed accepts none.
var routeQuery = map[string][]string{
	"GET /v1/events":               {"model", "user", "type", "since", "until", "q", "limit", "cursor"},
	"GET /v1/alerts":               {"state", "severity", "model", "since", "limit", "cursor"},
	"GET /v1/silences":             {"state"},
	"GET /v1/incidents":            {"phase", "type", "open", "serious", "since"},
	"GET /v1/incidents/{id}/art73": {"format"},
	"GET /v1/reports":              {"kind", "from", "to", "format"},
	"GET /v1/detections":           {"model"},
	"GET /v1/containment":          {"all"},
	"GET /v1/models/{name}/probes": {"family", "since", "until"},
	"GET /v1/aggregates":           {"from", "to", "model"},
}

// checkQuery answers 400 naming the first query parameter the route does not accept.
func checkQuery(pattern string, w http.ResponseWriter, r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return true
	}
	allowed := routeQuery[pattern]
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "unknown_parameter", Field: k,
				Message: fmt.Sprintf("unknown query parameter %q; this endpoint accepts %s", k, acceptList(allowed))})
			return false
		}
	}
	return true
}

func acceptList(a []string) string {
	if len(a) == 0 {
		return "none"
	}
	return strings.Join(a, ", ")
}

// authorize wraps a route's handler: unknown query parameters → 400, no or unknown bearer
// token → 401, a principal whose role lacks the route's permission → 403; otherwise the handler
// runs with the principal in its context (access.FromContext), which is how changes are
// attributed to a person.
func (a *App) authorize(pattern string, h http.Handler) http.Handler {
	need := permissionFor(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			httpx.WriteError(w, r, http.StatusUnauthorized, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
			return
		}
		p, ok := a.principalFor(token)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden", error="invalid_token"`)
			httpx.WriteError(w, r, http.StatusUnauthorized, "unauthorized", "invalid token")
			return
		}
		if !p.Can(need) {
			httpx.WriteError(w, r, http.StatusForbidden, "forbidden", forbiddenMessage(p, need))
			return
		}
		if !checkQuery(pattern, w, r) {
			return
		}
		r = r.WithContext(access.WithPrincipal(r.Context(), p))
		action, audited := auditedRoutes[pattern]
		if !audited {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.status < 300 {
			details := map[string]any{"actor": p.User, "role": string(p.Role)}
			for _, name := range []string{"id", "name"} {
				if v := r.PathValue(name); v != "" {
					details[name] = v
				}
			}
			a.auditAction(r.Context(), action, details)
		}
	})
}

// auditedRoutes are changes whose package does not audit them itself: after a 2xx answer the
// App appends an access event with actor.user = the caller. (Alerts, silences, incidents and
// containment audit their own changes with the caller as actor.)
var auditedRoutes = map[string]string{
	"POST /v1/keys":                   "create_key",
	"DELETE /v1/keys/{id}":            "revoke_key",
	"POST /v1/models/{name}/baseline": "set_baseline",
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func forbiddenMessage(p access.Principal, need access.Permission) string {
	switch p.Role {
	case access.Ingest:
		return "this token may only send events; use the admin token or a personal token"
	case access.Metrics:
		return "this token may only scrape /metrics"
	}
	var roles []string
	for _, r := range access.PersonRoles {
		if r.Can(need) {
			roles = append(roles, string(r))
		}
	}
	return fmt.Sprintf("role %s may not do this (%s: needs %s)", p.Role, need, strings.Join(roles, " or "))
}

// principalFor maps a bearer token to its principal: the admin, ingest and metrics automation
// tokens, or a person's token from the user store. Every comparison is constant-time over a hash.
func (a *App) principalFor(token string) (access.Principal, bool) {
	if kind, ok := a.tokens.Check(token); ok {
		if kind == auth.Admin {
			return access.Principal{User: "admin", Role: access.Admin}, true
		}
		return access.Principal{User: "ingest", Role: access.Ingest}, true
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], a.metricsHash[:]) == 1 {
		return access.Principal{User: "metrics", Role: access.Metrics}, true
	}
	if strings.HasPrefix(token, users.TokenPrefix) {
		if u, err := a.users.LookupToken(token); err == nil {
			return access.Principal{User: u.Name, Role: u.Role}, true
		}
	}
	return access.Principal{}, false
}

// requestUser names the person (or automation token) behind an authorized request, for
// acked_by, resolved_by, incident actors and audit events.
func requestUser(r *http.Request) string {
	if p, ok := access.FromContext(r.Context()); ok {
		return p.User
	}
	return ""
}

// loadMetricsToken returns the metrics-only token: $WARDEN_METRICS_TOKEN, else
// <data>/metrics-token, generated (0600) on first start.
func loadMetricsToken(dataDir string, getenv func(string) string) (string, error) {
	if t := getenv("WARDEN_METRICS_TOKEN"); t != "" {
		if len(t) < 16 {
			return "", fmt.Errorf("WARDEN_METRICS_TOKEN must be at least 16 characters")
		}
		return t, nil
	}
	path := filepath.Join(dataDir, "metrics-token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 16 {
			return t, nil
		}
		return "", fmt.Errorf("%s holds no token of at least 16 characters", path)
	}
	t, err := users.GeneratePassword()
	if err != nil {
		return "", err
	}
	t = "wdm-" + t
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write metrics token: %w", err)
	}
	return t, nil
}
