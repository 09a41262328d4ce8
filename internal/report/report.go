// Package report builds Warden's periodic reports — daily health, weekly performance, monthly
// risk and quarterly executive — as JSON and as printable HTML, on demand (Generate) and on a
// schedule (Scheduler). Data comes through the consumer-owned Source interface.
package report

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// Kind is a report kind.
type Kind string

// Report kinds.
const (
	Daily     Kind = "daily"
	Weekly    Kind = "weekly"
	Monthly   Kind = "monthly"
	Quarterly Kind = "quarterly"
)

// Kinds lists the kinds.
var Kinds = []Kind{Daily, Weekly, Monthly, Quarterly}

// ParseKind validates a kind name.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(Kinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("report kind %q: want daily, weekly, monthly or quarterly", s)
}

// Source provides the data of a report for [from, to). Implementations are wired by the
// composition root (index store, incident and alert managers, drift tracker).
type Source interface {
	// Alerts returns the alerts that started in the window.
	Alerts(ctx context.Context, from, to time.Time) ([]alert.Alert, error)
	// Incidents returns the incidents opened in the window or still open during it.
	Incidents(ctx context.Context, from, to time.Time) ([]Incident, error)
	// EventCounts returns event totals per model in the window.
	EventCounts(ctx context.Context, from, to time.Time) ([]EventCount, error)
	// AccessDecisions returns access-policy decision totals in the window.
	AccessDecisions(ctx context.Context, from, to time.Time) (AccessDecisions, error)
	// Series returns drift and fairness series sampled in the window.
	Series(ctx context.Context, from, to time.Time) ([]Series, error)
}

// Incident is what a report needs of an incident.
type Incident struct {
	ID              string     `json:"id"`
	Title           string     `json:"title"`
	Type            string     `json:"type"`
	Severity        string     `json:"severity"`
	Phase           string     `json:"phase"`
	OpenedAt        time.Time  `json:"opened_at"`
	FirstEvidenceAt time.Time  `json:"first_evidence_at,omitzero"`
	DetectedAt      time.Time  `json:"detected_at,omitzero"`
	ResolvedAt      *time.Time `json:"resolved_at,omitempty"`
	Serious         bool       `json:"serious,omitempty"`
	Deadline        *time.Time `json:"deadline,omitempty"`
	ReportedAt      *time.Time `json:"reported_at,omitempty"`
}

// EventCount is one model's event totals.
type EventCount struct {
	Model        string  `json:"model"`
	Events       int64   `json:"events"`
	Errors       int64   `json:"errors"`
	Blocked      int64   `json:"blocked"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	CostUSD      float64 `json:"cost_usd"`
}

// AccessDecisions counts access decisions; Compliant are requests that complied with the
// access policy (allowed without an override or exception).
type AccessDecisions struct {
	Total     int64 `json:"total"`
	Allowed   int64 `json:"allowed"`
	Denied    int64 `json:"denied"`
	Compliant int64 `json:"compliant"`
}

// Series is a drift, fairness or probe pass-rate metric over time.
type Series struct {
	Model  string `json:"model"`
	Kind   string `json:"kind"`   // drift | fairness | probe
	Metric string `json:"metric"` // e.g. psi, disparate_impact
	// Threshold and Above say when a point breaches: drift breaches above (PSI > 0.2), fairness
	// below (disparate impact < 0.8).
	Threshold float64 `json:"threshold"`
	Above     bool    `json:"above"`
	Points    []Point `json:"points"`
}

// Point is one sample.
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Report is a generated report.
type Report struct {
	Kind        Kind      `json:"kind"`
	Title       string    `json:"title"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`
	Sections    []string  `json:"sections"`

	Alerts    AlertSummary    `json:"alerts"`
	Incidents IncidentSummary `json:"incidents"`
	Models    []ModelSummary  `json:"models"`
	Access    AccessSummary   `json:"access"`
	Trends    []Trend         `json:"trends"`
}

// AlertSummary counts alerts.
type AlertSummary struct {
	Total      int            `json:"total"`
	BySeverity map[string]int `json:"by_severity"`
	Open       int            `json:"open"`
	// Investigated alerts were acknowledged or resolved by a person; AutoResolved cleared on
	// their own (resolved by warden, never acknowledged).
	Investigated      int         `json:"investigated"`
	AutoResolved      int         `json:"auto_resolved"`
	InvestigatedShare float64     `json:"investigated_share"`
	AutoResolvedShare float64     `json:"auto_resolved_share"`
	TopRules          []RuleCount `json:"top_rules"`
}

// RuleCount is how often a rule fired.
type RuleCount struct {
	Rule   string `json:"rule"`
	Alerts int    `json:"alerts"`
	// Verdicts are the resolutions that carried an analyst's reason; FalsePositives those
	// resolved as false_positive, FPRatio their share of Verdicts.
	Verdicts       int     `json:"verdicts,omitempty"`
	FalsePositives int     `json:"false_positives,omitempty"`
	FPRatio        float64 `json:"false_positive_ratio,omitempty"`
}

// IncidentSummary counts incidents and response times.
type IncidentSummary struct {
	Opened   int            `json:"opened"`
	Open     int            `json:"open"`
	Resolved int            `json:"resolved"`
	ByType   map[string]int `json:"by_type"`
	Serious  int            `json:"serious"`
	// Art73Overdue are serious incidents past their deadline without a report at To.
	Art73Overdue []string `json:"art73_overdue"`
	// MTTD and MTTR are means in seconds over incidents where they are known (0 when none).
	MTTDSeconds float64    `json:"mttd_seconds"`
	MTTRSeconds float64    `json:"mttr_seconds"`
	List        []Incident `json:"list"`
}

// ModelSummary is one model's health.
type ModelSummary struct {
	EventCount
	ErrorRate float64 `json:"error_rate"`
	Alerts    int     `json:"alerts"`
}

// AccessSummary is the access-policy compliance.
type AccessSummary struct {
	AccessDecisions
	CompliantRate float64 `json:"compliant_rate"`
}

// Trend summarises a series.
type Trend struct {
	Series
	First    float64 `json:"first"`
	Last     float64 `json:"last"`
	Worst    float64 `json:"worst"`
	Breaches int     `json:"breaches"`
	// Direction is improving, worsening or stable (relative change of last vs first < 5%).
	Direction string `json:"direction"`
}

var sections = map[Kind][]string{
	Daily:     {"alerts", "incidents", "models"},
	Weekly:    {"alerts", "incidents", "models", "response"},
	Monthly:   {"alerts", "incidents", "response", "access", "trends", "rules"},
	Quarterly: {"kpis", "incidents", "response", "access", "trends"},
}

var titles = map[Kind]string{
	Daily: "Daily health report", Weekly: "Weekly performance report",
	Monthly: "Monthly risk report", Quarterly: "Quarterly executive report",
}

// Generate builds a report of kind for [from, to) from src.
func Generate(ctx context.Context, kind Kind, from, to time.Time, src Source) (Report, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return Report{}, err
	}
	if !to.After(from) {
		return Report{}, fmt.Errorf("report window: to (%s) must be after from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	alerts, err := src.Alerts(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("report alerts: %w", err)
	}
	incs, err := src.Incidents(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("report incidents: %w", err)
	}
	counts, err := src.EventCounts(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("report event counts: %w", err)
	}
	access, err := src.AccessDecisions(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("report access decisions: %w", err)
	}
	series, err := src.Series(ctx, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("report series: %w", err)
	}
	r := Report{Kind: kind, Title: titles[kind], From: from, To: to, GeneratedAt: time.Now(), Sections: sections[kind]}
	r.Alerts = summarizeAlerts(alerts)
	r.Incidents = summarizeIncidents(incs, from, to)
	r.Models = summarizeModels(counts, alerts)
	r.Access = AccessSummary{AccessDecisions: access, CompliantRate: ratio(access.Compliant, access.Total)}
	r.Trends = make([]Trend, 0, len(series))
	for _, s := range series {
		r.Trends = append(r.Trends, trend(s))
	}
	return r, nil
}

func ratio[T int | int64](a, b T) float64 {
	if b == 0 {
		return 0
	}
	return round(float64(a) / float64(b))
}

func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func summarizeAlerts(as []alert.Alert) AlertSummary {
	s := AlertSummary{Total: len(as), BySeverity: map[string]int{"P1": 0, "P2": 0, "P3": 0, "P4": 0}}
	rules := map[string]int{}
	verdicts, fps := map[string]int{}, map[string]int{}
	for i := range as {
		a := &as[i]
		s.BySeverity[string(a.Severity)]++
		name := cmp.Or(a.RuleName, a.RuleID)
		rules[name]++
		if a.ResolveReason != "" {
			verdicts[name]++
			if a.ResolveReason == alert.FalsePositive {
				fps[name]++
			}
		}
		switch {
		case a.State != alert.Resolved:
			s.Open++
			if a.State == alert.Acknowledged {
				s.Investigated++
			}
		case a.AckedAt == nil && a.ResolvedBy == "warden":
			s.AutoResolved++
		default:
			s.Investigated++
		}
	}
	s.InvestigatedShare = ratio(s.Investigated, s.Investigated+s.AutoResolved)
	s.AutoResolvedShare = ratio(s.AutoResolved, s.Investigated+s.AutoResolved)
	s.TopRules = make([]RuleCount, 0, len(rules))
	for r, n := range rules {
		s.TopRules = append(s.TopRules, RuleCount{Rule: r, Alerts: n, Verdicts: verdicts[r], FalsePositives: fps[r], FPRatio: ratio(fps[r], verdicts[r])})
	}
	slices.SortFunc(s.TopRules, func(a, b RuleCount) int {
		if c := cmp.Compare(b.Alerts, a.Alerts); c != 0 {
			return c
		}
		return cmp.Compare(a.Rule, b.Rule)
	})
	if len(s.TopRules) > 10 {
		s.TopRules = s.TopRules[:10]
	}
	return s
}

func summarizeIncidents(incs []Incident, from, to time.Time) IncidentSummary {
	s := IncidentSummary{ByType: map[string]int{}, Art73Overdue: []string{}, List: slices.Clone(incs)}
	if s.List == nil {
		s.List = []Incident{}
	}
	slices.SortFunc(s.List, func(a, b Incident) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var mttd, mttr []float64
	for _, inc := range s.List {
		if !inc.OpenedAt.Before(from) && inc.OpenedAt.Before(to) {
			s.Opened++
		}
		s.ByType[inc.Type]++
		if inc.ResolvedAt != nil && inc.ResolvedAt.Before(to) {
			s.Resolved++
			if !inc.DetectedAt.IsZero() {
				mttr = append(mttr, inc.ResolvedAt.Sub(inc.DetectedAt).Seconds())
			}
		} else {
			s.Open++
		}
		if !inc.FirstEvidenceAt.IsZero() && !inc.DetectedAt.IsZero() && !inc.DetectedAt.Before(inc.FirstEvidenceAt) {
			mttd = append(mttd, inc.DetectedAt.Sub(inc.FirstEvidenceAt).Seconds())
		}
		if inc.Serious {
			s.Serious++
			if inc.Deadline != nil && inc.Deadline.Before(to) && (inc.ReportedAt == nil || inc.ReportedAt.After(*inc.Deadline)) {
				s.Art73Overdue = append(s.Art73Overdue, inc.ID)
			}
		}
	}
	s.MTTDSeconds, s.MTTRSeconds = mean(mttd), mean(mttr)
	return s
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return math.Round(sum / float64(len(xs)))
}

func summarizeModels(counts []EventCount, as []alert.Alert) []ModelSummary {
	byModel := map[string]*ModelSummary{}
	for _, c := range counts {
		byModel[c.Model] = &ModelSummary{EventCount: c, ErrorRate: ratio(c.Errors, c.Events)}
	}
	for _, a := range as {
		if a.Model == "" {
			continue
		}
		m := byModel[a.Model]
		if m == nil {
			m = &ModelSummary{EventCount: EventCount{Model: a.Model}}
			byModel[a.Model] = m
		}
		m.Alerts++
	}
	out := make([]ModelSummary, 0, len(byModel))
	for _, m := range byModel {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}

func trend(s Series) Trend {
	t := Trend{Series: s, Direction: "stable"}
	if len(s.Points) == 0 {
		return t
	}
	pts := slices.Clone(s.Points)
	slices.SortFunc(pts, func(a, b Point) int { return a.T.Compare(b.T) })
	t.Points = pts
	t.First, t.Last, t.Worst = pts[0].V, pts[len(pts)-1].V, pts[0].V
	for _, p := range pts {
		breach := (s.Above && p.V > s.Threshold) || (!s.Above && p.V < s.Threshold)
		if breach {
			t.Breaches++
		}
		if (s.Above && p.V > t.Worst) || (!s.Above && p.V < t.Worst) {
			t.Worst = p.V
		}
	}
	change := t.Last - t.First
	scale := math.Max(math.Abs(t.First), math.Abs(s.Threshold))
	if scale > 0 && math.Abs(change)/scale >= 0.05 {
		worse := change > 0 == s.Above
		t.Direction = map[bool]string{true: "worsening", false: "improving"}[worse]
	}
	return t
}
