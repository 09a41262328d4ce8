package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/store"
)

// admin marks a handler as an authenticated API handler. It returns h unchanged: apiRoutes
// wraps every route but the public ones in authorize, which checks the caller's token and the
// permission the route's pattern needs (see routePerms).
func (a *App) admin(h http.Handler) http.Handler { return h }

// mountAdmin adds a package's routes to the API; apiRoutes puts each behind authorize.
func (a *App) mountAdmin(rs ...httpx.Route) {
	for _, r := range rs {
		a.routes = append(a.routes, route{r.Pattern, r.Handler})
	}
}

// public lists the API routes served without a token: the health checks.
var public = map[string]bool{"GET /healthz": true, "GET /readyz": true}

// consoleRoutes returns the web console's routes and whether each is public (the login page
// and the static assets) or needs a session (every page; the console checks the session, the
// person's role and the CSRF token of forms itself — it never takes a bearer token).
func (a *App) consoleRoutes() (rs []route, isPublic map[string]bool) {
	isPublic = map[string]bool{}
	for _, r := range a.console.PublicRoutes() {
		rs = append(rs, route{r.Pattern, r.Handler})
		isPublic[r.Pattern] = true
	}
	for _, r := range a.console.SessionRoutes() {
		rs = append(rs, route{r.Pattern, r.Handler})
	}
	return rs, isPublic
}

// apiRoutes lists every route of the API listener. Everything but the public health checks
// needs a token whose role grants the route's permission (authorize).
func (a *App) apiRoutes() []route {
	ingest := func(h http.HandlerFunc) http.Handler { return a.ingestClientCert(h) }
	rs := []route{
		{"GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})},
		{"GET /readyz", http.HandlerFunc(a.handleReady)},
		{"POST /v1/events", ingest(a.ingest.Events)},
		{"POST /v1/traces", ingest(a.ingest.Traces)},
		{"GET /v1/events", a.admin(http.HandlerFunc(a.handleSearch))},
		{"GET /v1/audit/checkpoint", a.admin(http.HandlerFunc(a.handleCheckpoint))},
		{"GET /v1/audit/key", a.admin(http.HandlerFunc(a.handleKey))},
		{"GET /v1/audit/proof/{id}", a.admin(http.HandlerFunc(a.handleProof))},
		{"GET /metrics", a.admin(promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))},
	}
	rs = append(rs, a.routes...)
	out := make([]route, 0, len(rs))
	for _, rt := range rs {
		h := rt.handler
		if public[rt.pattern] {
			pattern := rt.pattern
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if checkQuery(pattern, w, r) {
					rt.handler.ServeHTTP(w, r)
				}
			})
		} else {
			h = a.authorize(rt.pattern, h)
		}
		out = append(out, route{rt.pattern, h})
	}
	crs, _ := a.consoleRoutes()
	return append(out, crs...)
}

// apiHandler builds the API listener: every route, a JSON 404 for anything else, request ids.
func (a *App) apiHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.apiRoutes() {
		if !a.serves(rt.pattern) {
			continue // another role of the distributed mode answers it
		}
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return httpx.WithRequestID(a.log, mux)
}

func (a *App) handleReady(w http.ResponseWriter, r *http.Request) {
	select {
	case <-a.ready:
	default:
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	if failed := a.readiness(r.Context()); len(failed) > 0 {
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "failed": failed})
		return
	}
	body := map[string]any{"status": "ready"}
	// Counts only for a caller with a token: /readyz itself is unauthenticated.
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if _, ok := a.tokens.Check(tok); ok {
			if a.clustered() {
				a.clusterCounts(r.Context(), body)
			} else {
				body["audit_entries"], body["index_lag"], body["analysis_lag"] = a.audit.Size(), a.indexer.Lag(), a.worker.Lag()
			}
			if a.witnessing != nil && len(a.witnessing.ws) > 0 {
				body["witnesses"] = a.witnessing.status() // failing witnesses do not make Warden unready
			}
			if a.timestamping != nil && len(a.timestamping.clients) > 0 {
				body["timestamps"] = a.timestamping.status() // nor failing TSAs
			}
		}
	}
	httpx.WriteJSON(w, http.StatusOK, body)
}

func (a *App) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sq := store.Query{Model: q.Get("model"), User: q.Get("user"), Type: q.Get("type"), Q: q.Get("q"), Cursor: q.Get("cursor")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &sq.Since}, {"until", &sq.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := httpx.ParseTime(v, time.Now())
			if err != nil {
				httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: p.name, Message: "must be RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (e.g. 15m)"})
				return
			}
			*p.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: "limit", Message: "must be an integer from 1 to 1000"})
			return
		}
		sq.Limit = n
	}
	page, err := a.store.Search(r.Context(), sq)
	if errors.Is(err, store.ErrBadCursor) {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: "cursor", Message: "not a cursor from a previous page"})
		return
	}
	if err != nil {
		a.log.Error("search failed", "err", err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "search failed")
		return
	}
	if page.Events == nil {
		page.Events = []*event.Event{}
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

func (a *App) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := a.audit.Checkpoint()
	if err != nil {
		a.log.Error("checkpoint failed", "err", err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not produce a checkpoint")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(cp)
}

func (a *App) handleKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(a.audit.PublicKey() + "\n"))
}

func (a *App) handleProof(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	i, ok := a.audit.Lookup(id)
	if !ok {
		httpx.WriteErrorBody(w, r, http.StatusNotFound, httpx.Error{Code: "not_found", Field: "id", Message: "no event with this id in the audit log"})
		return
	}
	p, err := a.audit.InclusionProof(i)
	if err != nil {
		a.log.Error("inclusion proof failed", "index", i, "err", err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not produce the proof")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

// runRetention deletes stored text past each tier's retention, and raw text in the audit
// log's side blobs once the index has taken what the policy allows.
func (a *App) runRetention(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Retention.Interval)
	defer t.Stop()
	for {
		a.retainOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneEvents deletes the index rows (metadata and text) of events older than their model's
// tier retention: the detail tier. What outlives it is the audit log's leaves (hashes and
// metadata, never shortened) and the daily aggregates (retention.aggregates). A model's tier
// is the inventory's now; events of models not in it (and events without a model) are medium.
func (a *App) pruneEvents(ctx context.Context, now time.Time) int64 {
	byTier := map[string][]string{}
	var all []string
	for _, m := range a.models.list() {
		tier := m.RiskTier
		if tier == "" {
			tier = string(config.TierMedium)
		}
		byTier[tier] = append(byTier[tier], m.Name)
		all = append(all, m.Name)
	}
	var deleted int64
	for _, tier := range config.RiskTiers {
		sets := []store.ModelSet{{Models: byTier[string(tier)]}}
		if tier == config.TierMedium {
			sets = append(sets, store.ModelSet{Models: all, Others: true})
		}
		for _, set := range sets {
			n, err := a.store.PruneEvents(ctx, set, now.Add(-a.cfg.RetentionFor(tier)))
			if err != nil {
				a.log.Error("retention of events failed", "tier", tier, "err", err)
				continue
			}
			if n > 0 {
				deleted += n
				a.log.Info("retention deleted events", "tier", tier, "events", n)
			}
		}
	}
	return deleted
}

func (a *App) retainOnce(ctx context.Context) {
	now := time.Now()
	var deleted int64
	for _, tier := range config.RiskTiers {
		n, err := a.store.PruneText(ctx, string(tier), now.Add(-a.cfg.RetentionFor(tier)))
		if err != nil {
			a.log.Error("retention failed", "tier", tier, "err", err)
			continue
		}
		if n > 0 {
			deleted += n
			a.log.Info("retention deleted text", "tier", tier, "events", n)
		}
	}
	deleted += a.pruneEvents(ctx, now)
	if deleted > 0 {
		// Case files copied actor activity, with its text, from the index.
		if n, err := a.incidents.RefreshCaseFiles(ctx, ""); err != nil {
			a.log.Error("retention: refresh case files failed", "err", err)
		} else if n > 0 {
			a.log.Info("retention recompiled case files", "case_files", n)
		}
	}
	before := a.indexer.Position()
	for _, f := range a.followers {
		before = min(before, f())
	}
	if err := a.audit.PruneBlobs(before); err != nil {
		a.log.Error("prune raw text blobs failed", "err", err)
	}
}
