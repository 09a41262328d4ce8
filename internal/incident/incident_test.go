package incident

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/notify"
)

func p1(name, model, actor string, events ...string) alert.Alert {
	return alert.Alert{RuleID: name, RuleName: name, Severity: alert.P1, State: alert.Firing, Model: model, Actor: actor,
		DedupKey: name + "/" + model, Summary: name + " on " + model, EventIDs: events, Tags: []string{"owasp-llm:LLM01:2025"}}
}

// stack wires an lifecycle.Manager and an incident.Manager the way the composition root does.
type stack struct {
	am   *lifecycle.Manager
	im   *Manager
	mu   sync.Mutex
	sent []string
	stop func()
}

func newStack(t *testing.T, opt Options) *stack {
	t.Helper()
	s := &stack{}
	start := time.Now()
	am, err := lifecycle.New(lifecycle.Options{
		Deliverer: lifecycle.DelivererFunc(func(_ context.Context, receiver string, n *notify.Notification) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			kind := string(n.Kind)
			switch {
			case n.Reminder:
				kind = "reminder"
			case n.Kind == notify.KindFiring && n.Level > 0:
				kind = "escalated"
			}
			s.sent = append(s.sent, fmt.Sprintf("%v %s %s %s", time.Since(start), receiver, kind, n.Alerts[0].Summary))
			return nil
		}),
		OnChange: func(ctx context.Context, a alert.Alert) { s.im.ObserveAlert(ctx, a) },
	})
	if err != nil {
		t.Fatal(err)
	}
	opt.Raise = am.Receive
	opt.ResolveReminder = am.ResolveCondition
	im, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	s.am, s.im = am, im
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = am.Run(ctx) }()
	go func() { defer wg.Done(); _ = im.Run(ctx) }()
	s.stop = func() { cancel(); wg.Wait() }
	return s
}

func (s *stack) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

func TestAutoOpenTimelineMTTDMTTR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snapCalls := 0
		s := newStack(t, Options{Snapshot: func(_ context.Context, model string) (json.RawMessage, error) {
			snapCalls++
			return json.RawMessage(`{"model_version":"v7","policy":"p3","rules":["r1"]}`), nil
		}})
		defer s.stop()
		ctx := context.Background()
		first := time.Now()
		time.Sleep(90 * time.Second) // the rule fires 90s after the first evidence event
		a := p1("inject", "bot", "mallory", "e1", "e2")
		a.FirstEvent = first
		b := a
		b.DedupKey, b.EventIDs = "inject/bot/2", []string{"e3"}
		low := p1("drift", "bot", "")
		low.Severity = alert.P3
		if err := s.am.Receive(ctx, []alert.Alert{a, b, low}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		list := s.im.List(Filter{})
		if len(list) != 1 {
			t.Fatalf("incidents = %d, want 1 (P3 opens none, the group's second alert joins)", len(list))
		}
		inc := list[0]
		if inc.Type != Security || inc.Severity != alert.P1 || inc.Phase != Detection || inc.OpenedBy != "warden" || len(inc.AlertIDs) != 2 {
			t.Errorf("incident = %+v", inc)
		}
		if !slices.Equal(inc.EventIDs, []string{"e1", "e2", "e3"}) || !slices.Equal(inc.Actors, []string{"mallory"}) {
			t.Errorf("events %v actors %v", inc.EventIDs, inc.Actors)
		}
		if inc.MTTD() != 90*time.Second {
			t.Errorf("MTTD = %v, want 90s", inc.MTTD())
		}
		if snapCalls != 1 || !strings.Contains(string(inc.Snapshot), `"v7"`) {
			t.Errorf("snapshot calls %d, snapshot %s", snapCalls, inc.Snapshot)
		}
		time.Sleep(10 * time.Minute)
		if _, err := s.am.Ack(ctx, inc.AlertIDs[0], "alice", ""); err != nil {
			t.Fatal(err)
		}
		for _, id := range inc.AlertIDs {
			if _, err := s.am.Resolve(ctx, id, "alice", "blocked key"); err != nil {
				t.Fatal(err)
			}
		}
		inc, _ = s.im.Get(inc.ID)
		if inc.AlertsResolvedAt == nil || inc.ResolvedAt != nil || inc.MTTR() != 0 {
			t.Errorf("after alerts resolved: %+v", inc)
		}
		time.Sleep(20 * time.Minute)
		for _, ph := range []Phase{Containment, Investigation, PostIncident} {
			if inc, _ = s.im.Apply(ctx, inc.ID, Update{Phase: ph, Actor: "alice"}); inc.Phase != ph {
				t.Fatalf("phase = %s", inc.Phase)
			}
		}
		if inc.MTTR() != 30*time.Minute {
			t.Errorf("MTTR = %v, want 30m", inc.MTTR())
		}
		var kinds []string
		for _, e := range inc.Timeline {
			kinds = append(kinds, e.Kind)
		}
		want := []string{"opened", "alert", "alert", "action", "action", "action", "phase", "phase", "phase"}
		if !slices.Equal(kinds, want) {
			t.Errorf("timeline kinds = %v, want %v", kinds, want)
		}
		// A new alert of the same group after post-incident opens a new incident.
		if err := s.am.Receive(ctx, []alert.Alert{a}); err != nil {
			t.Fatal(err)
		}
		if n := len(s.im.List(Filter{})); n != 2 {
			t.Errorf("incidents after recurrence = %d, want 2", n)
		}
	})
}

func TestDeadlines(t *testing.T) {
	aware := time.Date(2026, 8, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		c    Category
		days int
	}{
		{Death, 10}, {HealthHarm, 15}, {CriticalInfrastructure, 2}, {WidespreadInfringement, 2}, {FundamentalRights, 15}, {PropertyEnvironment, 15},
	}
	for _, tt := range tests {
		got, err := Deadline(tt.c, aware)
		if err != nil || !got.Equal(aware.AddDate(0, 0, tt.days)) {
			t.Errorf("Deadline(%s) = %v, %v; want +%d days", tt.c, got, err, tt.days)
		}
	}
	if _, err := Deadline("fire", aware); err == nil {
		t.Error("unknown category accepted")
	}
}

func TestArt73RemindersThroughEscalation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStack(t, Options{})
		defer s.stop()
		ctx := context.Background()
		inc, err := s.im.Open(ctx, OpenRequest{Title: "grid controller misroute", Type: Safety, Severity: alert.P1, Model: "grid", Actor: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		inc, err = s.im.FlagSerious(ctx, inc.ID, CriticalInfrastructure, time.Time{}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if d := inc.Serious.Deadline.Sub(inc.Serious.AwareAt); d != 48*time.Hour {
			t.Fatalf("deadline window = %v", d)
		}
		synctest.Wait()
		s.take()
		time.Sleep(24*time.Hour - time.Second)
		synctest.Wait()
		if got := s.take(); len(got) != 0 {
			t.Fatalf("early reminders: %q", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got := s.take()
		if len(got) != 1 || !strings.HasPrefix(got[0], "24h0m0s oncall firing Art. 73 report for incident "+inc.ID) {
			t.Fatalf("half-window reminder: %q", got)
		}
		// The P2 reminder escalates to the manager after 1h like any P2 alert.
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := s.take(); len(got) != 1 || !strings.HasPrefix(got[0], "25h0m0s manager escalated") {
			t.Fatalf("reminder escalation: %q", got)
		}
		// 80% of 48h = 38h24m: a P1 reminder.
		time.Sleep(38*time.Hour + 24*time.Minute - 25*time.Hour)
		synctest.Wait()
		// Meanwhile the unacknowledged first reminder repeats every 4h (28h, 32h, 36h).
		got = s.take()
		if len(got) != 4 || !strings.HasPrefix(got[2], "36h0m0s oncall reminder") || !strings.HasPrefix(got[3], "38h24m0s oncall firing") {
			t.Fatalf("80%% reminder: %q", got)
		}
		inc, err = s.im.MarkReported(ctx, inc.ID, "MSA-2026-0042", "alice")
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got = s.take()
		slices.Sort(got)
		// Everyone reached is told: manager (escalated) and oncall for the first, oncall for the second.
		if len(got) != 3 || !strings.Contains(got[0], "manager resolved") || !strings.Contains(got[1], "oncall resolved") || !strings.Contains(got[2], "(9h36m0s left)") {
			t.Fatalf("reminders resolved on report: %q", got)
		}
		time.Sleep(3 * 24 * time.Hour)
		synctest.Wait()
		if got := s.take(); len(got) != 0 {
			t.Fatalf("reminders after the report: %q", got)
		}
		if _, err := s.im.MarkReported(ctx, inc.ID, "x", "alice"); !errors.Is(err, ErrState) {
			t.Errorf("report twice: %v", err)
		}
	})
}

// fakeExporter writes a real package: a JSON document listing each event with a digest, so
// the test can check that exactly the triggering events were exported.
func fakeExporter(calls *[][]string) func(context.Context, io.Writer, []string) error {
	return func(_ context.Context, w io.Writer, ids []string) error {
		*calls = append(*calls, slices.Clone(ids))
		type ev struct{ ID, SHA256 string }
		var pkg struct{ Events []ev }
		for _, id := range ids {
			sum := sha256.Sum256([]byte(id))
			pkg.Events = append(pkg.Events, ev{id, hex.EncodeToString(sum[:])})
		}
		return json.NewEncoder(w).Encode(pkg)
	}
}

func TestCaseFileExport(t *testing.T) {
	dir := t.TempDir()
	var exports [][]string
	var searched []string
	opt := Options{
		Dir:            dir,
		ExportEvidence: fakeExporter(&exports),
		Search: func(_ context.Context, actor string, from, to time.Time) ([]json.RawMessage, error) {
			searched = append(searched, fmt.Sprintf("%s %v", actor, to.Sub(from)))
			return []json.RawMessage{json.RawMessage(`{"id":"e0","actor":{"user":"` + actor + `"}}`)}, nil
		},
		Containment: func(_ context.Context, model string, actors []string, from, to time.Time) ([]json.RawMessage, error) {
			return []json.RawMessage{json.RawMessage(`{"action":"suspend_key","model":"` + model + `"}`)}, nil
		},
		Provider: Provider{Name: "Example AI GmbH", Email: "safety@example.eu"},
	}
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.ObserveAlert(ctx, p1("exfil", "bot", "mallory", "e1", "e2"))
	inc := m.List(Filter{})[0]
	if _, err := m.FlagSerious(ctx, inc.ID, FundamentalRights, time.Now().Add(-time.Hour), "dpo"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Export(ctx, inc.ID, &buf); err != nil {
		t.Fatal(err)
	}
	if len(exports) != 1 || !slices.Equal(exports[0], []string{"e1", "e2"}) {
		t.Fatalf("exporter got %v", exports)
	}
	if !slices.Equal(searched, []string{"mallory 48h0m0s"}) {
		t.Errorf("search calls = %v", searched)
	}
	files, err := VerifyExport(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"case.json", "evidence.pkg", "art73-report.json", "art73-report.html", "manifest.json"} {
		if _, ok := files[name]; !ok {
			t.Errorf("archive lacks %s", name)
		}
	}
	var cf CaseFile
	if err := json.Unmarshal(files["case.json"], &cf); err != nil {
		t.Fatal(err)
	}
	if cf.Incident.ID != inc.ID || len(cf.ActorActivity["mallory"]) != 1 || len(cf.Containment) != 1 || len(cf.Missing) != 0 {
		t.Errorf("case file = %+v", cf)
	}
	if !strings.Contains(string(files["evidence.pkg"]), `"ID":"e2"`) {
		t.Errorf("evidence.pkg = %s", files["evidence.pkg"])
	}
	var rep Art73Report
	if err := json.Unmarshal(files["art73-report.json"], &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Incident.Category != FundamentalRights || rep.Incident.Clause != "Art. 3(49)(c)" || rep.Provider.Name != "Example AI GmbH" ||
		!rep.Incident.Deadline.Equal(rep.Incident.AwareAt.Add(15*24*time.Hour)) || !slices.Contains(rep.ToComplete, "incident.affected_persons") {
		t.Errorf("report = %+v", rep.Incident)
	}
	html := string(files["art73-report.html"])
	for _, want := range []string{"Example AI GmbH", "Art. 3(49)(c)", "@media print", "e2", "TO COMPLETE"} {
		if !strings.Contains(html, want) {
			t.Errorf("report HTML lacks %q", want)
		}
	}

	// Tampering with any member is detected.
	tampered := bytes.Replace(buf.Bytes(), []byte(`"ID":"e2"`), []byte(`"ID":"e9"`), 1)
	if _, err := VerifyExport(bytes.NewReader(tampered)); err == nil || !strings.Contains(err.Error(), "evidence.pkg") {
		t.Errorf("tampered archive: %v", err)
	}

	// Incidents and the stored case file survive a restart.
	m2, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m2.Get(inc.ID)
	if err != nil || got.Serious == nil || got.Serious.Category != FundamentalRights {
		t.Fatalf("after reload: %+v %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "incidents.journal")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("incidents.journal: %v %v", fi, err)
	}
	cf2, err := m2.CaseFile(ctx, inc.ID)
	if err != nil || cf2.Incident.ID != inc.ID {
		t.Errorf("stored case file: %v", err)
	}
	// Without the optional sources the case file says what is missing.
	m3, _ := New(Options{})
	m3.ObserveAlert(ctx, p1("exfil", "bot", "mallory", "e1"))
	cf3, err := m3.CaseFile(ctx, m3.List(Filter{})[0].ID)
	if err != nil || len(cf3.Missing) != 2 {
		t.Errorf("missing parts = %v, %v", cf3.Missing, err)
	}
	if err := m3.Export(ctx, cf3.Incident.ID, io.Discard); err == nil {
		t.Error("export without an evidence exporter succeeded")
	}
}

func TestDeriveType(t *testing.T) {
	tests := []struct {
		tags   []string
		labels map[string]string
		want   Type
	}{
		{[]string{"owasp-llm:LLM01:2025"}, nil, Security},
		{[]string{"atlas:AML.T0051.000"}, nil, Security},
		{[]string{"fairness"}, nil, Bias},
		{[]string{"drift"}, nil, Performance},
		{[]string{"pii", "owasp-llm:LLM02"}, nil, Safety},
		{[]string{"category:compliance"}, nil, Compliance},
		{nil, map[string]string{"category": "bias"}, Bias},
		{nil, nil, Security},
	}
	for _, tt := range tests {
		a := alert.Alert{Tags: tt.tags, Labels: tt.labels}
		if got := DeriveType(&a); got != tt.want {
			t.Errorf("DeriveType(%v, %v) = %s, want %s", tt.tags, tt.labels, got, tt.want)
		}
	}
}

func TestCaseFileCompiledAutomaticallyAndDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		searches := 0
		s := newStack(t, Options{Dir: t.TempDir(), Search: func(context.Context, string, time.Time, time.Time) ([]json.RawMessage, error) {
			mu.Lock()
			defer mu.Unlock()
			searches++
			return nil, nil
		}})
		defer s.stop()
		ctx := context.Background()
		a := p1("exfil", "bot", "mallory", "e0")
		if err := s.am.Receive(ctx, []alert.Alert{a}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		count := func() int { mu.Lock(); defer mu.Unlock(); return searches }
		if count() != 1 {
			t.Fatalf("case file compilations on open = %d, want 1", count())
		}
		for i := 1; i <= 5; i++ {
			a.EventIDs = []string{fmt.Sprint("e", i)}
			if err := s.am.Receive(ctx, []alert.Alert{a}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		synctest.Wait()
		if count() != 1 {
			t.Fatalf("compilations during the burst = %d, want 1", count())
		}
		time.Sleep(RecompileAfter)
		synctest.Wait()
		if count() != 2 {
			t.Fatalf("compilations after the burst = %d, want 2", count())
		}
		inc := s.im.List(Filter{})[0]
		cf, err := s.im.CaseFile(ctx, inc.ID)
		if err != nil || len(cf.EventIDs) != 6 {
			t.Fatalf("stored case file: %v events, %v", cf.EventIDs, err)
		}
	})
}

func TestRemindersSurviveRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		var mu sync.Mutex
		var raised []string
		opt := Options{Dir: dir, Raise: func(_ context.Context, as []alert.Alert) error {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range as {
				raised = append(raised, fmt.Sprintf("%v %s %s", time.Now().Format("Jan 2 15:04"), a.Severity, a.Labels["stage"]))
			}
			return nil
		}}
		run := func() func() {
			m, err := New(opt)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = m.Run(ctx) }()
			if len(m.List(Filter{})) == 0 {
				inc, err := m.Open(ctx, OpenRequest{Title: "death", Type: Safety, Severity: alert.P1, Actor: "a"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.FlagSerious(ctx, inc.ID, Death, time.Time{}, "a"); err != nil {
					t.Fatal(err)
				}
			}
			return func() { cancel(); <-done }
		}
		stop := run()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		stop()
		time.Sleep(5 * 24 * time.Hour) // down across the 50% point (day 5 of 10)
		stop = run()
		synctest.Wait()
		time.Sleep(5 * 24 * time.Hour)
		synctest.Wait()
		stop()
		want := []string{"Jan 7 00:00 P2 half", "Jan 9 00:00 P1 80pct", "Jan 10 12:00 P1 95pct", "Jan 11 00:00 P1 overdue"}
		if !slices.Equal(raised, want) {
			t.Errorf("reminders = %q, want %q", raised, want)
		}
	})
}
