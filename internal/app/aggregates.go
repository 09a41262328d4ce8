package app

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/rollup"
)

// buildRollup wires the long-term tier: daily per-model aggregates kept for
// retention.aggregates (default 7 years) in DATA/aggregates, served by GET /v1/aggregates.
func (a *App) buildRollup() error {
	var err error
	a.rollup, err = rollup.New(rollup.Options{
		Dir: filepath.Join(a.opts.DataDir, "aggregates"), Log: a.audit, Retention: a.cfg.Retention.Aggregates,
		Wake: a.audit.Grown, Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("build aggregates: %w", err)
	}
	a.routes = append(a.routes, route{"GET /v1/aggregates", a.admin(http.HandlerFunc(a.handleAggregates))})
	return nil
}

// handleAggregates: GET /v1/aggregates?from=YYYY-MM-DD&to=YYYY-MM-DD&model=M (default: the
// last 30 days, every model).
func (a *App) handleAggregates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "from" && k != "to" && k != "model" {
			httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "unknown_parameter", Field: k, Message: "unknown query parameter " + k})
			return
		}
	}
	to := time.Now().UTC()
	from := to.Add(-29 * 24 * time.Hour)
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: p.name, Message: p.name + " must be a date YYYY-MM-DD"})
				return
			}
			*p.dst = t
		}
	}
	days, err := a.rollup.Days(from, to, q.Get("model"))
	if err != nil {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: "from", Message: err.Error()})
		return
	}
	if days == nil {
		days = []rollup.Summary{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "days": days})
}

// Aggregates returns the daily per-model aggregates of [from, to] (one model, or all).
func (a *App) Aggregates(from, to time.Time, model string) ([]rollup.Summary, error) {
	return a.rollup.Days(from, to, model)
}
