package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/analyze/extraction"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/worker"
)

// buildAnalysis wires scan → analyze → extraction → rules as the analysis worker. Alerts go to
// the sink, which the response layer sets.
func (a *App) buildAnalysis(sink func(ctx context.Context, alerts []alert.Alert)) error {
	guards, err := guardOptions(a.cfg.Guards, a.opts.Getenv)
	if err != nil {
		return err
	}
	eng, err := scan.New(scan.Options{MaxDecodeDepth: 3, Logger: a.log, Guards: guards, Registerer: a.reg})
	if err != nil {
		return fmt.Errorf("build scanners: %w", err)
	}
	a.scanner = eng
	a.scanMemo.eng = eng

	if a.analyzer, err = analyze.New(a.analyzeOptions(a.reg)); err != nil {
		return fmt.Errorf("build analyzer: %w", err)
	}
	xd, err := extraction.New(a.extractionOptions(a.reg))
	if err != nil {
		return fmt.Errorf("build extraction detector: %w", err)
	}

	rs, err := a.loadRuleSet()
	if err != nil {
		return fmt.Errorf("load rules: %w", err)
	}
	a.ruleSet, a.alertSink = rs, sink
	// Window rules report when their condition clears; the worker delivers that after the
	// alerts of the same batch.
	if a.rules, err = rules.New(rs, a.rulesOptions(a.reg, func(key string, _ time.Time) { a.worker.QueueResolved(key) })); err != nil {
		return fmt.Errorf("build rules engine: %w", err)
	}
	a.rulesReload = newRulesReloader(a.reg, len(rs.Rules))

	a.worker, err = worker.New(worker.Options{
		Log: a.audit, Scanner: a.scanMemo, Analyzer: a.analyzer, Extraction: xd, Rules: a.rules,
		Alerts: sink, Models: a.models.get, RulesState: a.rules, Assess: assessors{a.probes.tracker, a.qualityTracker}, Sample: a.qualityScorer.Offer, Ephemeral: a.pipeline.EphemeralText, Wake: a.audit.Grown,
		StateDir: filepath.Join(a.opts.DataDir, "state"), Logger: a.log, Registerer: a.reg,
		Detections: a.recordDetections,
		Resolve:    a.resolveAlerts,
	})
	if err != nil {
		return fmt.Errorf("build analysis worker: %w", err)
	}
	a.followers = append(a.followers, a.worker.Position)

	a.routes = append(a.routes,
		route{"GET /v1/models/{name}/metrics", a.admin(http.HandlerFunc(a.handleModelMetrics))},
		route{"GET /v1/models/{name}/drift", a.admin(http.HandlerFunc(a.handleModelDrift))},
		route{"GET /v1/models/{name}/baselines", a.admin(http.HandlerFunc(a.handleBaselines))},
		route{"POST /v1/models/{name}/baseline", a.admin(http.HandlerFunc(a.handleSetBaseline))},
		route{"GET /v1/detections", a.admin(http.HandlerFunc(a.handleDetections))},
		route{"GET /v1/rules", a.admin(http.HandlerFunc(a.handleRules))},
		route{"POST /v1/rules/reload", a.admin(http.HandlerFunc(a.handleRulesReload))},
		route{"GET /v1/models/{name}/quality", a.admin(httpx.Handle(a.log, a.handleModelQuality))},
	)
	return nil
}

func (a *App) analyzeOptions(reg prometheus.Registerer) analyze.Options {
	aopts := analyze.DefaultOptions()
	aopts.Logger = a.log.With("component", "analyze")
	aopts.Registerer = reg
	aopts.Inventory = func(model string) (string, bool) {
		m, ok := a.models.get(model)
		return m.RiskTier, ok
	}
	aopts.KnownConsumer = a.knownConsumer
	aopts.BaselineEvents = a.cfg.Analysis.BaselineEvents
	aopts.BaselineDays = a.cfg.Analysis.BaselineDays
	aopts.Protected = a.cfg.Analysis.Protected
	aopts.ChiSquareP = a.cfg.Analysis.ChiSquareP
	aopts.SystemDownAfter = a.cfg.Analysis.SystemDownAfter
	return aopts
}

func (a *App) extractionOptions(reg prometheus.Registerer) extraction.Options {
	xopts := extraction.DefaultOptions()
	xopts.Logger = a.log
	xopts.Registerer = reg
	return xopts
}

func (a *App) rulesOptions(reg prometheus.Registerer, resolved func(key string, at time.Time)) rules.Options {
	ropts := rules.DefaultOptions()
	ropts.Logger = a.log
	ropts.Registerer = reg
	ropts.Models = a.models.get
	ropts.InventoryConfigured = func() bool { return len(a.models.list()) > 0 }
	// The engine calls Actions under its lock: apply containment off the analysis path.
	ropts.Actions = func(al alert.Alert, acts []rules.Action) { a.goContain(al, acts) }
	ropts.Resolved = resolved
	return ropts
}

// recordDetections keeps the latest analysis detections for GET /v1/detections.
func (a *App) recordDetections(ds []rules.Detection) {
	a.detMu.Lock()
	defer a.detMu.Unlock()
	a.detections = append(a.detections, ds...)
	a.appendDetections(ds)
	a.rollup.ObserveDetections(ds)
	if over := len(a.detections) - 1000; over > 0 {
		a.detections = append(a.detections[:0:0], a.detections[over:]...)
	}
}

func (a *App) handleDetections(w http.ResponseWriter, r *http.Request) {
	a.detMu.Lock()
	out := make([]rules.Detection, len(a.detections))
	copy(out, a.detections)
	a.detMu.Unlock()
	model := r.URL.Query().Get("model")
	res := []rules.Detection{}
	for i := len(out) - 1; i >= 0; i-- {
		if model == "" || out[i].Model == model {
			res = append(res, out[i])
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"detections": res})
}

func (a *App) handleModelMetrics(w http.ResponseWriter, r *http.Request) {
	m, ok := a.analyzer.ModelMetrics(r.PathValue("name"))
	if !ok {
		httpx.WriteErrorBody(w, r, http.StatusNotFound, httpx.Error{Code: "not_found", Field: "name", Message: "no traffic seen for this model yet"})
		return
	}
	// The output-quality block (judge scores, user ratings) rides along when the model has any.
	httpx.WriteJSON(w, http.StatusOK, struct {
		analyze.ModelMetrics
		Quality *qualityView `json:"quality,omitempty"`
	}{m, a.qualityOf(m.Model)})
}

func (a *App) handleModelDrift(w http.ResponseWriter, r *http.Request) {
	d, ok := a.analyzer.ModelDrift(r.PathValue("name"))
	if !ok {
		httpx.WriteErrorBody(w, r, http.StatusNotFound, httpx.Error{Code: "not_found", Field: "name", Message: "no baseline or traffic for this model yet"})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, d)
}

func (a *App) handleBaselines(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"baselines": a.analyzer.Baselines(r.PathValue("name"))})
}

func (a *App) handleSetBaseline(w http.ResponseWriter, r *http.Request) {
	var body struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_body", Message: `body must be {"from": RFC 3339, "to": RFC 3339}`})
		return
	}
	if body.From.IsZero() {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_body", Field: "from", Message: "required (RFC 3339)"})
		return
	}
	if body.To.IsZero() || !body.To.After(body.From) {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_body", Field: "to", Message: "required and after from"})
		return
	}
	model := r.PathValue("name")
	id, err := a.SetBaseline(r.Context(), model, body.From, body.To)
	if errors.Is(err, analyze.ErrNoEvents) {
		httpx.WriteErrorBody(w, r, http.StatusUnprocessableEntity, httpx.Error{Code: "no_events", Field: "from", Message: "no inference events of this model in the window"})
		return
	}
	if err != nil {
		a.log.Error("set baseline failed", "model", model, "err", err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not build the baseline")
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// SetBaseline freezes a baseline for model from the audit log's events in [from, to).
func (a *App) SetBaseline(ctx context.Context, model string, from, to time.Time) (string, error) {
	return a.analyzer.SetBaseline(model, from, to, a.logEvents(ctx, model, from, to))
}

// logEvents iterates the audit log's events of a model in a time window, with their text.
func (a *App) logEvents(ctx context.Context, model string, from, to time.Time) iter.Seq[*event.Event] {
	return func(yield func(*event.Event) bool) {
		stop := errors.New("stop")
		_ = a.audit.Read(0, func(_ uint64, _ string, leaf, blob []byte) error {
			if ctx.Err() != nil {
				return stop
			}
			ev, err := event.ParseLeaf(leaf)
			if err != nil || ev.Time.Before(from) || !ev.Time.Before(to) || ev.IsProbeTraffic() {
				return nil
			}
			if ev.Type == event.TypeInference && ev.Model.Name != model {
				return nil
			}
			if len(blob) > 0 {
				if t, err := event.ParseText(blob); err == nil {
					ev.SetText(t)
				}
			}
			if !yield(ev) {
				return stop
			}
			return nil
		})
	}
}
