package report

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC) // a Monday

func ptr(t time.Time) *time.Time { return &t }

type fakeSource struct{ err error }

func (f fakeSource) Alerts(context.Context, time.Time, time.Time) ([]alert.Alert, error) {
	if f.err != nil {
		return nil, f.err
	}
	acked := t0.Add(2 * time.Hour)
	return []alert.Alert{
		{ID: "a1", RuleName: "prompt injection", Severity: alert.P1, State: alert.Resolved, Model: "support-bot", AckedAt: &acked, ResolvedAt: ptr(t0.Add(3 * time.Hour)), ResolvedBy: "alice", ResolveReason: alert.FalsePositive},
		{ID: "a2", RuleName: "error rate > 5%", Severity: alert.P2, State: alert.Resolved, Model: "support-bot", ResolvedAt: ptr(t0.Add(time.Hour)), ResolvedBy: "warden"},
		{ID: "a3", RuleName: "error rate > 5%", Severity: alert.P2, State: alert.Resolved, Model: "scoring", ResolvedAt: ptr(t0.Add(time.Hour)), ResolvedBy: "warden"},
		{ID: "a4", RuleName: "drift PSI > 0.2", Severity: alert.P3, State: alert.Acknowledged, Model: "scoring", AckedAt: &acked},
		{ID: "a5", RuleName: "prompt injection", Severity: alert.P1, State: alert.Firing, Model: "support-bot"},
	}, nil
}

func (fakeSource) Incidents(context.Context, time.Time, time.Time) ([]Incident, error) {
	return []Incident{
		{ID: "inc-1", Title: "Injection campaign <script>", Type: "security", Severity: "P1", Phase: "post-incident", OpenedAt: t0.Add(time.Hour),
			FirstEvidenceAt: t0.Add(time.Hour - 40*time.Second), DetectedAt: t0.Add(time.Hour), ResolvedAt: ptr(t0.Add(3 * time.Hour))},
		{ID: "inc-2", Title: "Credit bias", Type: "bias", Severity: "P2", Phase: "investigation", OpenedAt: t0.Add(26 * time.Hour),
			FirstEvidenceAt: t0.Add(25 * time.Hour), DetectedAt: t0.Add(25*time.Hour + 20*time.Second), Serious: true, Deadline: ptr(t0.Add(26*time.Hour + 15*24*time.Hour))},
		{ID: "inc-3", Title: "Grid outage", Type: "safety", Severity: "P1", Phase: "containment", OpenedAt: t0.Add(48 * time.Hour),
			DetectedAt: t0.Add(48 * time.Hour), Serious: true, Deadline: ptr(t0.Add(96 * time.Hour))},
	}, nil
}

func (fakeSource) EventCounts(context.Context, time.Time, time.Time) ([]EventCount, error) {
	return []EventCount{
		{Model: "support-bot", Events: 120000, Errors: 840, Blocked: 312, LatencyP95Ms: 1830, CostUSD: 412.5},
		{Model: "scoring", Events: 45000, Errors: 12, LatencyP95Ms: 42},
	}, nil
}

func (fakeSource) AccessDecisions(context.Context, time.Time, time.Time) (AccessDecisions, error) {
	return AccessDecisions{Total: 2000, Allowed: 1950, Denied: 50, Compliant: 1937}, nil
}

func (fakeSource) Series(context.Context, time.Time, time.Time) ([]Series, error) {
	var psi, di []Point
	for i, v := range []float64{0.05, 0.08, 0.12, 0.19, 0.24, 0.27, 0.31} {
		psi = append(psi, Point{t0.Add(time.Duration(i) * 24 * time.Hour), v})
	}
	for i, v := range []float64{0.91, 0.86, 0.78, 0.82, 0.88, 0.9, 0.93} {
		di = append(di, Point{t0.Add(time.Duration(i) * 24 * time.Hour), v})
	}
	return []Series{
		{Model: "scoring", Kind: "drift", Metric: "psi", Threshold: 0.2, Above: true, Points: psi},
		{Model: "scoring", Kind: "fairness", Metric: "disparate_impact", Threshold: 0.8, Points: di},
	}, nil
}

func TestGolden(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			from, to := t0, t0.Add(7*24*time.Hour)
			r, err := Generate(context.Background(), k, from, to, fakeSource{})
			if err != nil {
				t.Fatal(err)
			}
			r.GeneratedAt = to.Add(5 * time.Minute)
			var j, h bytes.Buffer
			if err := r.WriteJSON(&j); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteHTML(&h); err != nil {
				t.Fatal(err)
			}
			golden(t, string(k)+".json.golden", j.Bytes())
			golden(t, string(k)+".html.golden", h.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking the change)\n got:\n%s", name, got)
	}
}

func TestMetrics(t *testing.T) {
	r, err := Generate(context.Background(), Monthly, t0, t0.Add(7*24*time.Hour), fakeSource{})
	if err != nil {
		t.Fatal(err)
	}
	a := r.Alerts
	// a1 acked+resolved by alice and a4 acked: investigated; a2, a3 resolved by warden: auto.
	if a.Investigated != 2 || a.AutoResolved != 2 || a.InvestigatedShare != 0.5 || a.Open != 2 {
		t.Errorf("alerts = %+v", a)
	}
	// a1 was resolved as a false positive: its rule shows one verdict, all false positives.
	if i := slices.IndexFunc(a.TopRules, func(rc RuleCount) bool { return rc.Rule == "prompt injection" }); i < 0 ||
		a.TopRules[i].Verdicts != 1 || a.TopRules[i].FalsePositives != 1 || a.TopRules[i].FPRatio != 1 {
		t.Errorf("per-rule false positives: %+v", a.TopRules)
	}
	if r.Access.CompliantRate != 0.9685 {
		t.Errorf("compliant rate = %v", r.Access.CompliantRate)
	}
	// MTTD: (40s + 20s + none) / 2 = 30s; MTTR: one resolved incident, 2h.
	if r.Incidents.MTTDSeconds != 30 || r.Incidents.MTTRSeconds != 7200 {
		t.Errorf("MTTD %v MTTR %v", r.Incidents.MTTDSeconds, r.Incidents.MTTRSeconds)
	}
	if !slices.Equal(r.Incidents.Art73Overdue, []string{"inc-3"}) || r.Incidents.Serious != 2 {
		t.Errorf("overdue = %v serious = %d", r.Incidents.Art73Overdue, r.Incidents.Serious)
	}
	if r.Trends[0].Direction != "worsening" || r.Trends[0].Breaches != 3 || r.Trends[0].Worst != 0.31 {
		t.Errorf("drift trend = %+v", r.Trends[0])
	}
	if r.Trends[1].Direction != "stable" || r.Trends[1].Breaches != 1 || r.Trends[1].Worst != 0.78 {
		t.Errorf("fairness trend = %+v", r.Trends[1])
	}
	if r.Models[0].Model != "scoring" || r.Models[1].ErrorRate != 0.007 || r.Models[1].Alerts != 3 {
		t.Errorf("models = %+v", r.Models)
	}
	if _, err := Generate(context.Background(), "hourly", t0, t0.Add(time.Hour), fakeSource{}); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Generate(context.Background(), Daily, t0, t0, fakeSource{}); err == nil {
		t.Error("empty window accepted")
	}
	boom := errors.New("store down")
	if _, err := Generate(context.Background(), Daily, t0, t0.Add(time.Hour), fakeSource{err: boom}); !errors.Is(err, boom) {
		t.Errorf("source error = %v", err)
	}
	var h bytes.Buffer
	r.WriteHTML(&h)
	if strings.Contains(h.String(), "<script>") || !strings.Contains(h.String(), "&lt;script&gt;") {
		t.Error("incident title not escaped in HTML")
	}
}

func TestPeriod(t *testing.T) {
	now := time.Date(2026, 11, 18, 13, 45, 0, 0, time.UTC) // Wednesday
	tests := []struct {
		k        Kind
		from, to string
	}{
		{Daily, "2026-11-17", "2026-11-18"},
		{Weekly, "2026-11-09", "2026-11-16"},
		{Monthly, "2026-10-01", "2026-11-01"},
		{Quarterly, "2026-07-01", "2026-10-01"},
	}
	for _, tt := range tests {
		from, to := Period(tt.k, now, time.UTC)
		if from.Format("2006-01-02") != tt.from || to.Format("2006-01-02") != tt.to {
			t.Errorf("Period(%s) = %s..%s, want %s..%s", tt.k, from, to, tt.from, tt.to)
		}
	}
	// Sunday belongs to the week that started the Monday before.
	from, _ := Period(Weekly, time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC), time.UTC)
	if from.Format("2006-01-02") != "2026-11-09" {
		t.Errorf("weekly on Sunday: from %s", from)
	}
}

func TestScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "reports")
		var got []string
		s := &Scheduler{Source: fakeSource{}, Dir: dir, Kinds: []Kind{Daily, Weekly},
			OnReport: func(_ context.Context, r *Report, j, h string) {
				got = append(got, string(r.Kind)+" "+r.From.Format("2006-01-02")+" "+time.Now().Format("2006-01-02T15:04"))
			}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		// The bubble starts on Saturday 2000-01-01 00:00 UTC; run to Tuesday.
		time.Sleep(3*24*time.Hour + time.Hour)
		synctest.Wait()
		cancel()
		<-done
		want := []string{"daily 2000-01-01 2000-01-02T00:05", "daily 2000-01-02 2000-01-03T00:05", "weekly 1999-12-27 2000-01-03T00:05", "daily 2000-01-03 2000-01-04T00:05"}
		if !slices.Equal(got, want) {
			t.Fatalf("reports = %q, want %q", got, want)
		}
		fi, err := os.Stat(filepath.Join(dir, "weekly-1999-12-27.html"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("report file: %v %v", fi, err)
		}
	})
}
