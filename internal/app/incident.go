package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/incident"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/rollup"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/store"
)

// buildIncidents wires incidents (opened from P1/P2 alerts, case files with evidence from the
// audit log) and the report generator.
func (a *App) buildIncidents() error {
	var err error
	a.incidents, err = incident.New(incident.Options{
		Dir:             filepath.Join(a.opts.DataDir, "incidents"),
		AutoSeverities:  a.cfg.Response.IncidentFrom,
		Snapshot:        a.snapshotPolicy,
		Search:          a.actorActivity,
		Containment:     a.containmentLog,
		ExportEvidence:  a.exportEvidence,
		Raise:           a.alerts.Receive,
		ResolveReminder: a.alerts.ResolveCondition,
		Audit:           a.auditAction,
		Logger:          a.log,
	})
	if err != nil {
		return fmt.Errorf("build incidents: %w", err)
	}
	a.cleanups = append(a.cleanups, a.incidents.Close)
	a.incidentHook = a.incidents.ObserveAlert
	a.mountAdmin(a.incidents.Routes(requestUser)...)
	a.routes = append(a.routes, route{"GET /v1/reports", a.admin(http.HandlerFunc(a.handleReport))})
	return nil
}

// exportEvidence writes an evidence package of the given events from the live audit log.
func (a *App) exportEvidence(_ context.Context, w io.Writer, ids []string) error {
	// Make sure a signed checkpoint covers every selected entry (the periodic one may not yet).
	var last uint64
	found := false
	for _, id := range ids {
		if i, ok := a.audit.Lookup(id); ok && (!found || i > last) {
			last, found = i, true
		}
	}
	if found {
		if _, err := a.audit.InclusionProof(last); err != nil {
			return fmt.Errorf("checkpoint for evidence: %w", err)
		}
	}
	_, err := audit.ExportEvidence(filepath.Join(a.opts.DataDir, "log"), w, audit.ExportOptions{IDs: ids, Blobs: true})
	return err
}

// snapshotPolicy records what was in force for a model when an incident opened: the
// inventory entry, the scanning policy and the rules (id and version).
func (a *App) snapshotPolicy(_ context.Context, model string) (json.RawMessage, error) {
	m, known := a.models.get(model)
	policy := scan.ModelPolicy(m.RiskTier, m.Scanning)
	type ruleRef struct {
		ID, Version, Severity string
	}
	var rs []ruleRef
	for _, r := range a.rules.Rules() {
		rs = append(rs, ruleRef{r.ID, r.Version, string(r.Severity)})
	}
	return json.Marshal(map[string]any{
		"taken_at": time.Now().UTC(), "model": model, "in_inventory": known, "model_version": m.Version,
		"inventory": m, "scan_policy": policy, "rules": rs,
	})
}

// actorActivity returns the indexed events of an actor in a window (newest first, at most 1000).
func (a *App) actorActivity(ctx context.Context, actor string, from, to time.Time) ([]json.RawMessage, error) {
	var out []json.RawMessage
	q := store.Query{User: actor, Since: from, Until: to, Limit: 500}
	for len(out) < 1000 {
		page, err := a.store.Search(ctx, q)
		if err != nil {
			return out, err
		}
		for _, ev := range page.Events {
			b, err := json.Marshal(ev)
			if err != nil {
				return out, err
			}
			out = append(out, b)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	return out, nil
}

// containmentLog returns the containment actions that touched a model or actors in a window.
func (a *App) containmentLog(_ context.Context, model string, actors []string, from, to time.Time) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for _, act := range a.contain.List(true) {
		if act.CreatedAt.Before(from) || act.CreatedAt.After(to) {
			continue
		}
		if act.Target != model && !slices.Contains(actors, act.Target) {
			continue
		}
		b, err := json.Marshal(act)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, nil
}

// handleReport generates a report on demand: GET /v1/reports?kind=weekly[&from=&to=][&format=html].
func (a *App) handleReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, err := report.ParseKind(q.Get("kind"))
	if err != nil {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: "kind", Message: "must be daily, weekly, monthly or quarterly"})
		return
	}
	from, to := report.Period(kind, time.Now(), time.UTC)
	if q.Get("from") != "" || q.Get("to") != "" {
		f, err1 := time.Parse(time.RFC3339, q.Get("from"))
		t, err2 := time.Parse(time.RFC3339, q.Get("to"))
		if err1 != nil || err2 != nil || !t.After(f) {
			httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: "from", Message: "from and to must both be RFC 3339 with to after from"})
			return
		}
		from, to = f, t
	}
	rep, err := report.Generate(r.Context(), kind, from, to, reportSource{a})
	if err != nil {
		a.log.Error("report failed", "kind", kind, "err", err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not generate the report")
		return
	}
	switch q.Get("format") {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		_ = rep.WriteJSON(w)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = rep.WriteHTML(w)
	default:
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid_parameter", Field: "format", Message: "must be json or html"})
	}
}

// reportSource answers the report generator from the alert manager, incidents, the index
// store and the recorded detections.
type reportSource struct{ a *App }

var _ report.Source = reportSource{}

func (s reportSource) Alerts(_ context.Context, from, to time.Time) ([]alert.Alert, error) {
	var out []alert.Alert
	f := lifecycle.Filter{Since: from, Limit: 1000}
	for {
		views, next, err := s.a.alerts.List(f)
		if err != nil {
			return nil, err
		}
		for _, v := range views {
			if v.StartsAt.Before(to) {
				out = append(out, v.Alert)
			}
		}
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}

func (s reportSource) Incidents(_ context.Context, from, to time.Time) ([]report.Incident, error) {
	var out []report.Incident
	for _, inc := range s.a.incidents.List(incident.Filter{}) {
		if inc.OpenedAt.After(to) || (inc.ResolvedAt != nil && inc.ResolvedAt.Before(from)) {
			continue
		}
		ri := report.Incident{ID: inc.ID, Title: inc.Title, Type: string(inc.Type), Severity: string(inc.Severity), Phase: string(inc.Phase),
			OpenedAt: inc.OpenedAt, FirstEvidenceAt: inc.FirstEvidenceAt, DetectedAt: inc.DetectedAt, ResolvedAt: inc.ResolvedAt}
		if inc.Serious != nil {
			ri.Serious = true
			d := inc.Serious.Deadline
			ri.Deadline = &d
			ri.ReportedAt = inc.Serious.ReportedAt
		}
		out = append(out, ri)
	}
	return out, nil
}

// totals answers a report's counts from the daily rollup when the window is whole UTC days and
// this process follows the audit log (one day file per day, whatever the traffic); ok is false
// otherwise, and the index store answers (which reads every event of the window).
func (s reportSource) totals(from, to time.Time) (rollup.Totals, bool) {
	if s.a.clustered() || s.a.rollup == nil {
		return rollup.Totals{}, false
	}
	t, err := s.a.rollup.Totals(from, to)
	if err != nil {
		if !errors.Is(err, rollup.ErrIncomplete) {
			s.a.log.Debug("report from the index instead of the rollup", "err", err)
		}
		return rollup.Totals{}, false
	}
	return t, true
}

func (s reportSource) EventCounts(ctx context.Context, from, to time.Time) ([]report.EventCount, error) {
	if t, ok := s.totals(from, to); ok {
		out := make([]report.EventCount, 0, len(t.Models))
		for _, m := range t.Models {
			out = append(out, report.EventCount{Model: m.Model, Events: m.Inference, Errors: m.Errors, Blocked: m.Blocked, LatencyP95Ms: m.LatencyP95Ms, CostUSD: m.CostUSD})
		}
		return out, nil
	}
	agg, err := s.a.store.Aggregate(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]report.EventCount, 0, len(agg.Models))
	for _, m := range agg.Models {
		out = append(out, report.EventCount{Model: m.Model, Events: m.Events, Errors: m.Errors, Blocked: m.Blocked, LatencyP95Ms: m.LatencyP95Ms, CostUSD: m.CostUSD})
	}
	return out, nil
}

func (s reportSource) AccessDecisions(ctx context.Context, from, to time.Time) (report.AccessDecisions, error) {
	if t, ok := s.totals(from, to); ok {
		return report.AccessDecisions{Total: t.Access.Total, Allowed: t.Access.Allowed, Denied: t.Access.Denied, Compliant: t.Access.Compliant}, nil
	}
	agg, err := s.a.store.Aggregate(ctx, from, to)
	if err != nil {
		return report.AccessDecisions{}, err
	}
	return report.AccessDecisions{Total: agg.Access.Total, Allowed: agg.Access.Allowed, Denied: agg.Access.Denied, Compliant: agg.Access.Compliant}, nil
}

func (s reportSource) Series(ctx context.Context, from, to time.Time) ([]report.Series, error) {
	dets, err := s.a.readDetections(from, to)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	var out []report.Series
	for _, d := range dets {
		var kind string
		var above bool
		switch d.Kind {
		case "drift", "prediction_drift", "label_drift", "dataset_drift":
			kind, above = "drift", true
		case "fairness":
			kind = "fairness"
		default:
			continue
		}
		key := d.Model + "|" + kind + "|" + d.Statistic
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, report.Series{Model: d.Model, Kind: kind, Metric: d.Statistic, Threshold: d.Threshold, Above: above})
		}
		out[i].Points = append(out[i].Points, report.Point{T: d.Time, V: d.Value})
	}
	probes, err := s.a.probeSeries(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return append(out, probes...), nil
}

// detectionsPath is where analysis detections are kept for trends (JSON Lines, 0600).
func (a *App) detectionsPath() string {
	return filepath.Join(a.opts.DataDir, "state", "detections.jsonl")
}

func (a *App) appendDetections(ds []rules.Detection) {
	if err := os.MkdirAll(filepath.Dir(a.detectionsPath()), 0o700); err != nil {
		a.log.Error("record detections", "err", err)
		return
	}
	// Keep the trend file bounded: past 64 MiB the older half moves aside (one generation).
	if st, err := os.Stat(a.detectionsPath()); err == nil && st.Size() > 64<<20 {
		_ = os.Rename(a.detectionsPath(), a.detectionsPath()+".1")
	}
	f, err := os.OpenFile(a.detectionsPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		a.log.Error("record detections", "err", err)
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, d := range ds {
		_ = enc.Encode(d)
	}
}

func (a *App) readDetections(from, to time.Time) ([]rules.Detection, error) {
	f, err := os.Open(a.detectionsPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []rules.Detection
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var d rules.Detection
		if json.Unmarshal(sc.Bytes(), &d) != nil {
			continue // a torn last line after a crash
		}
		if !d.Time.Before(from) && d.Time.Before(to) {
			out = append(out, d)
		}
	}
	return out, sc.Err()
}
