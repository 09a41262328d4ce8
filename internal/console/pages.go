package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/incident"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/store"
)

// ---- Operations: the overview ----

type modelCard struct {
	ModelInfo
	Last      point
	Seen      bool
	Latency   template.HTML
	Firing    int
	Contained int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	firing, _, err := c.opts.Backend.Alerts(lifecycle.Filter{State: alert.Firing, Limit: 1000})
	if err != nil {
		return err
	}
	bySev := map[alert.Severity]int{}
	byModel := map[string]int{}
	for _, a := range firing {
		bySev[a.Severity]++
		byModel[a.Model]++
	}
	open := true
	incs := c.opts.Backend.Incidents(incident.Filter{Open: &open})
	now := c.opts.Now()
	var active []contain.Action
	for _, a := range c.opts.Backend.Containment() {
		if a.Active(now) {
			active = append(active, a)
		}
	}
	var cards []modelCard
	for _, m := range c.opts.Backend.Models() {
		card := modelCard{ModelInfo: m, Firing: byModel[m.Name]}
		ps := c.series.get(m.Name)
		if mm, ok := c.opts.Backend.ModelMetrics(m.Name); ok {
			card.Last, card.Seen = pointOf(mm), true
		}
		card.Latency = latencyChart(m.Name, ps)
		for _, a := range active {
			if a.Target == m.Name {
				card.Contained++
			}
		}
		cards = append(cards, card)
	}
	return c.render(w, r, s, http.StatusOK, "overview", "Overview", map[string]any{
		"Models": cards, "Firing": len(firing), "BySeverity": bySev, "Severities": []alert.Severity{alert.P1, alert.P2, alert.P3, alert.P4},
		"OpenIncidents": incs, "Contained": active,
	})
}

func latencyChart(model string, ps []point) template.HTML {
	var ts []time.Time
	var p50, p95, p99 []float64
	for _, p := range ps {
		if !p.has {
			continue
		}
		ts = append(ts, p.T)
		p50, p95, p99 = append(p50, p.P50), append(p95, p.P95), append(p99, p.P99)
	}
	return lineChart(model+" latency", "ms", ts, []line{{"P50", "s1", p50}, {"P95", "s2", p95}, {"P99", "s3", p99}})
}

// ---- Security: alerts ----

func (c *Console) alertsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	f := lifecycle.Filter{State: alert.State(q.Get("state")), Severity: alert.Severity(q.Get("severity")), Model: q.Get("model"), Limit: 500}
	switch f.State {
	case "", alert.Firing, alert.Acknowledged, alert.Resolved:
	default:
		return badRequest("state must be firing, acknowledged or resolved")
	}
	if f.Severity != "" && !f.Severity.Valid() {
		return badRequest("severity must be P1, P2, P3 or P4")
	}
	list, _, err := c.opts.Backend.Alerts(f)
	if err != nil {
		return err
	}
	type group struct {
		Key    string
		Alerts []lifecycle.View
	}
	var groups []*group
	idx := map[string]*group{}
	for _, a := range list {
		k := a.GroupKey
		if k == "" {
			k = a.RuleName
		}
		g := idx[k]
		if g == nil {
			g = &group{Key: k}
			idx[k] = g
			groups = append(groups, g)
		}
		g.Alerts = append(g.Alerts, a)
	}
	models := c.opts.Backend.Models()
	return c.render(w, r, s, http.StatusOK, "alerts", "Alerts", map[string]any{
		"Groups": groups, "Count": len(list), "Filter": f, "Models": models,
		"States":     []alert.State{alert.Firing, alert.Acknowledged, alert.Resolved},
		"Severities": []alert.Severity{alert.P1, alert.P2, alert.P3, alert.P4}, "Reasons": resolveReasons,
	})
}

var resolveReasons = []string{"fixed", "false positive", "accepted risk", "duplicate", "expected behaviour"}

func (c *Console) alertPage(w http.ResponseWriter, r *http.Request, s *session) error {
	a, err := c.opts.Backend.Alert(r.PathValue("id"))
	if err != nil {
		return err
	}
	// The events behind the alert (for model-extraction and access-anomaly detail), for roles
	// that may read them.
	var evs []*event.Event
	if s.principal().Can("read_raw") && len(a.EventIDs) > 0 {
		for _, id := range a.EventIDs[:min(len(a.EventIDs), 20)] {
			if pc := c.opts.Backend.EventProof(r.Context(), id); pc.Found {
				if ev, err := event.ParseLeaf(pc.Leaf); err == nil {
					evs = append(evs, ev)
				}
			}
		}
	}
	return c.render(w, r, s, http.StatusOK, "alert", a.RuleName, map[string]any{"Alert": a, "Events": evs, "Reasons": resolveReasons})
}

func (c *Console) ackAlert(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	comment := r.PostForm.Get("comment")
	if len(comment) > 4096 {
		return badRequest("comment: longer than 4096 bytes")
	}
	if _, err := c.opts.Backend.Ack(r.Context(), id, s.user, comment); err != nil {
		return err
	}
	http.Redirect(w, r, "/alerts/"+urlPath(id), http.StatusSeeOther)
	return nil
}

func (c *Console) resolveAlert(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	reason, comment := r.PostForm.Get("reason"), r.PostForm.Get("comment")
	if reason != "" && !slices.Contains(resolveReasons, reason) {
		return badRequest("reason must be one of %s", strings.Join(resolveReasons, ", "))
	}
	if len(comment) > 4000 {
		return badRequest("comment: longer than 4000 bytes")
	}
	text := comment
	if reason != "" {
		text = "[" + reason + "] " + comment
	}
	if _, err := c.opts.Backend.Resolve(r.Context(), id, s.user, strings.TrimSpace(text)); err != nil {
		return err
	}
	http.Redirect(w, r, "/alerts/"+urlPath(id), http.StatusSeeOther)
	return nil
}

func (c *Console) createSilence(w http.ResponseWriter, r *http.Request, s *session) error {
	ms, err := lifecycle.ParseMatchers(r.PostForm.Get("matchers"))
	if err != nil {
		return badRequest("matchers: %v", err)
	}
	d, err := time.ParseDuration(r.PostForm.Get("duration"))
	if err != nil || d <= 0 || d > 30*24*time.Hour {
		return badRequest("duration: a Go duration from 1s to 720h, e.g. 2h")
	}
	now := c.opts.Now()
	if _, err := c.opts.Backend.CreateSilence(r.Context(), lifecycle.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(d), CreatedBy: s.user, Comment: r.PostForm.Get("comment")}); err != nil {
		return err
	}
	http.Redirect(w, r, "/alerts", http.StatusSeeOther)
	return nil
}

// ---- Security: incidents ----

func (c *Console) incidentsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	var f incident.Filter
	if v := r.URL.Query().Get("open"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("open must be true or false")
		}
		f.Open = &b
	}
	return c.render(w, r, s, http.StatusOK, "incidents", "Incidents", map[string]any{"Incidents": c.opts.Backend.Incidents(f)})
}

func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request, s *session) error {
	inc, err := c.opts.Backend.Incident(r.PathValue("id"))
	if err != nil {
		return err
	}
	var cf *incident.CaseFile
	if s.principal().Can("read_raw") {
		if cf, err = c.opts.Backend.CaseFile(r.Context(), inc.ID); err != nil {
			c.log.Warn("case file", "incident", inc.ID, "err", err)
		}
	}
	now := c.opts.Now()
	var active []contain.Action
	for _, a := range c.opts.Backend.Containment() {
		if a.Active(now) && (a.Target == inc.Model || slices.Contains(inc.Actors, a.Target)) {
			active = append(active, a)
		}
	}
	return c.render(w, r, s, http.StatusOK, "incident", inc.Title, map[string]any{"Incident": inc, "CaseFile": cf, "Phases": incident.Phases, "Containment": active,
		"MTTD": inc.MTTD(), "MTTR": inc.MTTR()})
}

func (c *Console) updateIncident(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	u := incident.Update{Phase: incident.Phase(r.PostForm.Get("phase")), Note: r.PostForm.Get("note"), Owner: r.PostForm.Get("owner"), Actor: s.user}
	if u.Phase == "" && u.Note == "" && u.Owner == "" {
		return badRequest("give a note, a phase or an owner")
	}
	if _, err := c.opts.Backend.UpdateIncident(r.Context(), id, u); err != nil {
		return err
	}
	http.Redirect(w, r, "/incidents/"+urlPath(id), http.StatusSeeOther)
	return nil
}

func (c *Console) exportIncident(w http.ResponseWriter, r *http.Request, _ *session) error {
	id := r.PathValue("id")
	if _, err := c.opts.Backend.Incident(id); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="incident-%s.tar"`, safeFile(id)))
	return c.opts.Backend.ExportIncident(r.Context(), id, w)
}

func (c *Console) liftContainment(w http.ResponseWriter, r *http.Request, s *session) error {
	if _, err := c.opts.Backend.LiftContainment(r.Context(), r.PathValue("id"), s.user, r.PostForm.Get("reason")); err != nil {
		if errors.Is(err, contain.ErrNotFound) {
			return notFound("Containment action")
		}
		return err
	}
	back := safeNext(r.PostForm.Get("next"))
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// ---- Engineering / ML: models ----

func (c *Console) modelsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	var rows []modelCard
	for _, m := range c.opts.Backend.Models() {
		row := modelCard{ModelInfo: m}
		if mm, ok := c.opts.Backend.ModelMetrics(m.Name); ok {
			row.Last, row.Seen = pointOf(mm), true
		}
		rows = append(rows, row)
	}
	return c.render(w, r, s, http.StatusOK, "models", "Models", map[string]any{"Models": rows})
}

type fairnessRow struct {
	analyze.FairnessView
	Metrics []string
	Groups  []string
}

func (c *Console) modelPage(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("name")
	var info *ModelInfo
	for _, m := range c.opts.Backend.Models() {
		if m.Name == name {
			info = &m
		}
	}
	mm, seen := c.opts.Backend.ModelMetrics(name)
	if info == nil && !seen {
		return notFound("Model")
	}
	if info == nil {
		info = &ModelInfo{Name: name, RiskTier: "unregistered"}
	}
	drift, hasDrift := c.opts.Backend.ModelDrift(name)
	ps := c.series.get(name)
	var ts []time.Time
	var errRate, tput, cost []float64
	for _, p := range ps {
		ts = append(ts, p.T)
		errRate, tput, cost = append(errRate, p.ErrorRate*100), append(tput, p.Throughput), append(cost, p.CostUSD)
	}
	// Latency distribution of this model's events among the newest in the index: one read of
	// the newest rows in log order, whatever the index holds (a filter on the model alone would
	// sort all of that model's rows).
	var lat []float64
	if page, err := c.opts.Backend.Search(r.Context(), store.Query{Limit: histogramEvents}); err == nil {
		for _, ev := range page.Events {
			if ev.Type == event.TypeInference && ev.Model.Name == name && ev.Response != nil && ev.Response.LatencyMS != nil {
				lat = append(lat, *ev.Response.LatencyMS)
			}
		}
	}
	var fair []fairnessRow
	for _, f := range drift.Fairness {
		row := fairnessRow{FairnessView: f}
		for k := range f.Values {
			row.Metrics = append(row.Metrics, k)
		}
		for g := range f.Groups {
			row.Groups = append(row.Groups, g)
		}
		slices.Sort(row.Metrics)
		slices.Sort(row.Groups)
		fair = append(fair, row)
	}
	var windows []analyze.WindowMetrics
	if len(mm.Series) > 0 {
		windows = mm.Series[0].Windows
	}
	return c.render(w, r, s, http.StatusOK, "model", name, map[string]any{
		"Info": info, "Metrics": mm, "Seen": seen, "Windows": windows, "Drift": drift, "HasDrift": hasDrift, "Fairness": fair,
		"Latency":   latencyChart(name, ps),
		"Errors":    lineChart(name+" error rate", "%", ts, []line{{"errors %", "s3", errRate}}),
		"Traffic":   lineChart(name+" throughput", "req/s", ts, []line{{"req/s", "s1", tput}}),
		"Cost":      lineChart(name+" cost (1 min)", "USD", ts, []line{{"USD/min", "s2", cost}}),
		"Histogram": histogram(name+" latency distribution (its events among the newest 1,000)", "ms", lat, 20),
	})
}

// histogramEvents is how many of the newest events the model page's histogram looks at.
const histogramEvents = 1000

// ---- Governance / audit ----

// A search without a user (which an index narrows) examines at most this many of the newest
// events per page, so the page answers in bounded time with millions of events in the index;
// "older events" continues below. Matching text costs more per event, so it looks at fewer.
const (
	searchScan     = 100_000
	searchScanText = 10_000
)

func (c *Console) searchPage(w http.ResponseWriter, r *http.Request, s *session) error {
	qv := r.URL.Query()
	q := store.Query{User: qv.Get("user"), Model: qv.Get("model"), Type: qv.Get("type"), Q: qv.Get("q"), Cursor: qv.Get("cursor"), Limit: 50, Scan: searchScan}
	if q.Q != "" {
		q.Scan = searchScanText
	}
	if q.Type != "" && !slices.Contains([]string{"inference", "access", "pipeline", "feedback", "probe"}, q.Type) {
		return badRequest("type must be inference, access, pipeline, feedback or probe")
	}
	now := c.opts.Now()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := qv.Get(p.name); v != "" {
			t, err := parseFormTime(v, now)
			if err != nil {
				return badRequest("%s: %v", p.name, err)
			}
			*p.dst = t
		}
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be 1..1000")
		}
		q.Limit = n
	}
	searched := len(qv) > 0
	var page store.Page
	if searched {
		var err error
		page, err = c.opts.Backend.Search(r.Context(), q)
		if errors.Is(err, store.ErrBadCursor) {
			return badRequest("cursor: not from a previous page")
		}
		if err != nil {
			return err
		}
	}
	next := ""
	if page.NextCursor != "" {
		nq := r.URL.Query()
		nq.Set("cursor", page.NextCursor)
		next = "/search?" + nq.Encode()
	}
	return c.render(w, r, s, http.StatusOK, "search", "Audit search", map[string]any{
		"Q": qv, "Events": page.Events, "Searched": searched, "Next": next, "Models": c.opts.Backend.Models(),
		"Bounded": page.Bounded, "Scan": q.Scan, "ScannedFrom": page.ScannedFrom,
	})
}

// parseFormTime accepts RFC 3339, a date-time from an <input type=datetime-local>, a date, or a
// duration ago.
func parseFormTime(v string, now time.Time) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return httpx.ParseTime(v, now)
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	st := c.opts.Backend.AuditStatus(r.Context())
	now := c.opts.Now().UTC()
	return c.render(w, r, s, http.StatusOK, "audit", "Audit log", map[string]any{
		"Status": st, "From": now.AddDate(0, 0, -7).Format("2006-01-02T15:04"), "To": now.Add(time.Minute).Format("2006-01-02T15:04"),
		"Models": c.opts.Backend.Models(), "Incidents": c.opts.Backend.Incidents(incident.Filter{}),
	})
}

func (c *Console) eventPage(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	pc := c.opts.Backend.EventProof(r.Context(), id)
	if !pc.Found {
		return notFound("Event")
	}
	var ev *event.Event
	if e, err := event.ParseLeaf(pc.Leaf); err == nil {
		ev = e
	}
	return c.render(w, r, s, http.StatusOK, "event", "Event "+id, map[string]any{"ID": id, "Proof": pc, "Event": ev})
}

func (c *Console) evidence(w http.ResponseWriter, r *http.Request, _ *session) error {
	qv := r.URL.Query()
	now := c.opts.Now()
	var q EvidenceQuery
	q.Model, q.Incident = qv.Get("model"), qv.Get("incident")
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if v := qv.Get(p.name); v != "" {
			t, err := parseFormTime(v, now)
			if err != nil {
				return badRequest("%s: %v", p.name, err)
			}
			*p.dst = t
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return badRequest("to must be after from")
	}
	if q.Incident != "" {
		if _, err := c.opts.Backend.Incident(q.Incident); err != nil {
			return notFound("Incident")
		}
	}
	name := "evidence-" + now.UTC().Format("20060102-150405") + ".tar"
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	return c.opts.Backend.ExportEvidence(r.Context(), w, q)
}

// ---- Leadership: monthly KPIs ----

func (c *Console) reportsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	now := c.opts.Now().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if m := r.URL.Query().Get("month"); m != "" {
		t, err := time.Parse("2006-01", m)
		if err != nil {
			return badRequest("month must be YYYY-MM")
		}
		from = t
	}
	to := from.AddDate(0, 1, 0)
	rep, at, ready, err := c.report(r, from, to)
	if err != nil {
		return err
	}
	if !ready {
		w.Header().Set("Refresh", "3")
		return c.render(w, r, s, http.StatusOK, "reports", "Monthly KPIs", map[string]any{
			"Pending": true, "Month": from.Format("January 2006"),
			"Prev": from.AddDate(0, -1, 0).Format("2006-01"), "Next": to.Format("2006-01"),
		})
	}
	cost := 0.0
	for _, m := range rep.Models {
		cost += m.CostUSD
	}
	return c.render(w, r, s, http.StatusOK, "reports", "Monthly KPIs", map[string]any{
		"Report": rep, "Cost": cost, "Month": from.Format("January 2006"), "At": at,
		"Prev": from.AddDate(0, -1, 0).Format("2006-01"), "Next": to.Format("2006-01"),
	})
}

// report returns the monthly report of [from, to): the cached one when younger than a minute;
// otherwise the request that finds it stale starts a background computation and waits for it
// at most reportWait; every answer meanwhile is the previous result, or ok=false while there
// is none yet.
func (c *Console) report(r *http.Request, from, to time.Time) (rep report.Report, at time.Time, ok bool, err error) {
	key := from.Format(time.RFC3339)
	c.reportMu.Lock()
	cr := c.reportCache[key]
	if cr.done && c.opts.Now().Sub(cr.at) < time.Minute {
		c.reportMu.Unlock()
		return cr.rep, cr.at, true, cr.err
	}
	if cr.running != nil { // being computed: answer at once with what there is
		c.reportMu.Unlock()
		return cr.rep, cr.at, cr.done, cr.err
	}
	running := make(chan struct{})
	cr.running = running
	c.reportCache[key] = cr
	go c.computeReport(key, from, to, running)
	c.reportMu.Unlock()
	select { // the request that starts it waits a moment: small reports are ready at once
	case <-running:
	case <-time.After(reportWait):
	case <-r.Context().Done():
	}
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	cr = c.reportCache[key]
	return cr.rep, cr.at, cr.done, cr.err
}

const reportWait = 500 * time.Millisecond

func (c *Console) computeReport(key string, from, to time.Time, running chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := c.opts.Backend.Report(ctx, report.Monthly, from, to)
	if err != nil {
		c.log.Error("monthly report failed", "from", from, "err", err)
	}
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	cr := c.reportCache[key]
	if err == nil || !cr.done { // keep the last good report when a refresh fails
		cr.rep, cr.err = rep, err
	}
	cr.at, cr.done, cr.running = c.opts.Now(), true, nil
	c.reportCache[key] = cr
	close(running)
}

func urlPath(s string) string { return strings.ReplaceAll(urlEscape(s), "+", "%20") }

func safeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}
