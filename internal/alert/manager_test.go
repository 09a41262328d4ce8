package alert

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warden-ai/warden/internal/config"
)

type sent struct {
	at       time.Duration // since the bubble started
	receiver string
	n        Notification
}

type recorder struct {
	start time.Time
	mu    sync.Mutex
	got   []sent
}

func (r *recorder) Notify(_ context.Context, receiver string, n Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, sent{at: time.Since(r.start), receiver: receiver, n: n})
	return nil
}

func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

// summary renders deliveries as "receiver kind level [alert names]" lines.
func summary(ss []sent) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		names := make([]string, len(s.n.Alerts))
		for j, a := range s.n.Alerts {
			names[j] = a.RuleName
		}
		out[i] = fmt.Sprintf("%v %s %s/%d %v", s.at, s.receiver, s.n.Kind, s.n.Level, names)
	}
	slices.Sort(out)
	return out
}

type harness struct {
	t    *testing.T
	m    *Manager
	rec  *recorder
	stop func()
}

func start(t *testing.T, opt Options, rec *recorder) *harness {
	t.Helper()
	if rec == nil {
		rec = &recorder{start: time.Now()}
	}
	opt.Notifier = rec
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	h := &harness{t: t, m: m, rec: rec}
	h.stop = func() {
		cancel()
		<-done
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}
	return h
}

// at sleeps until d after the bubble start and lets the Manager settle.
func (h *harness) at(d time.Duration) {
	if wait := d - time.Since(h.rec.start); wait > 0 {
		time.Sleep(wait)
	}
	synctest.Wait()
}

func (h *harness) receive(as ...Alert) {
	h.t.Helper()
	if err := h.m.Receive(context.Background(), as); err != nil {
		h.t.Fatal(err)
	}
	synctest.Wait()
}

func mk(name string, sev Severity, model string) Alert {
	return Alert{RuleID: name, RuleName: name, Severity: sev, Model: model, DedupKey: name + "/" + model, Summary: name}
}

func expect(t *testing.T, got []sent, want ...string) {
	t.Helper()
	g := summary(got)
	slices.Sort(want)
	if !slices.Equal(g, want) {
		t.Fatalf("deliveries:\n got  %q\n want %q", g, want)
	}
}

func TestEscalationTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{}, nil)
		defer h.stop()
		h.receive(mk("exfil", P1, "bot"), mk("slow", P2, "bot"))
		expect(t, h.rec.take(), "0s oncall firing/0 [exfil]", "0s oncall firing/0 [slow]")
		h.at(15*time.Minute - time.Second)
		expect(t, h.rec.take())
		h.at(15 * time.Minute)
		expect(t, h.rec.take(), "15m0s manager escalated/1 [exfil]")
		h.at(30 * time.Minute)
		expect(t, h.rec.take(), "30m0s exec escalated/2 [exfil]")
		h.at(time.Hour)
		expect(t, h.rec.take(), "1h0m0s manager escalated/1 [slow]")
		h.at(3 * time.Hour)
		expect(t, h.rec.take())
		// repeat_interval: the still-firing groups are reminded 4h after their last send.
		h.at(4 * time.Hour)
		expect(t, h.rec.take(), "4h0m0s oncall reminder/0 [exfil]", "4h0m0s oncall reminder/0 [slow]")
		h.at(8*time.Hour - time.Second)
		expect(t, h.rec.take())
		h.at(8 * time.Hour)
		expect(t, h.rec.take(), "8h0m0s oncall reminder/0 [exfil]", "8h0m0s oncall reminder/0 [slow]")
	})
}

func TestAckStopsEscalation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{}, nil)
		defer h.stop()
		h.receive(mk("exfil", P1, "bot"))
		h.at(16 * time.Minute)
		expect(t, h.rec.take(), "0s oncall firing/0 [exfil]", "15m0s manager escalated/1 [exfil]")
		views, _, _ := h.m.List(Filter{})
		a, err := h.m.Ack(context.Background(), views[0].ID, "alice", "looking")
		if err != nil {
			t.Fatal(err)
		}
		if a.State != Acknowledged || a.AckedBy != "alice" || a.AckedAt == nil {
			t.Fatalf("acked alert = %+v", a)
		}
		synctest.Wait()
		got := h.rec.take()
		expect(t, got, "16m0s manager acknowledged/0 [exfil]", "16m0s oncall acknowledged/0 [exfil]")
		if got[0].n.Actor != "alice" || got[0].n.Comment != "looking" {
			t.Errorf("ack notification actor/comment = %q/%q", got[0].n.Actor, got[0].n.Comment)
		}
		h.at(5 * time.Hour)
		expect(t, h.rec.take()) // no exec escalation, no reminders for acknowledged alerts
		if _, err := h.m.Ack(context.Background(), a.ID, "bob", ""); !errors.Is(err, ErrState) {
			t.Errorf("second ack: err = %v, want ErrState", err)
		}
		if _, err := h.m.Resolve(context.Background(), a.ID, "bob", "fixed"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		expect(t, h.rec.take(), "5h0m0s manager resolved/0 [exfil]", "5h0m0s oncall resolved/0 [exfil]")
		if _, err := h.m.Resolve(context.Background(), a.ID, "bob", ""); !errors.Is(err, ErrState) {
			t.Errorf("second resolve: err = %v, want ErrState", err)
		}
	})
}

func TestGrouping(t *testing.T) {
	tests := []struct {
		name  string
		steps func(h *harness)
		want  []string
	}{
		{
			name: "P3 group waits group_wait and batches",
			steps: func(h *harness) {
				h.receive(mk("drift", P3, "bot"))
				h.at(10 * time.Second)
				a := mk("drift", P3, "bot")
				a.DedupKey = "drift/bot/feature2" // same group (alertname, model), new alert
				h.receive(a)
				h.at(10 * time.Minute)
			},
			want: []string{"30s tickets firing/0 [drift drift]"},
		},
		{
			name: "follow-up waits for group_interval after the last flush",
			steps: func(h *harness) {
				h.receive(mk("drift", P3, "bot"))
				h.at(time.Minute)
				a := mk("drift", P3, "bot")
				a.DedupKey = "drift/bot/2"
				h.receive(a)
				h.at(10 * time.Minute)
			},
			want: []string{"30s tickets firing/0 [drift]", "5m30s tickets firing/0 [drift drift]"},
		},
		{
			name: "first alert of a P1 group goes out at once, its follow-up is grouped",
			steps: func(h *harness) {
				h.receive(mk("inject", P1, "bot"))
				h.at(time.Second)
				a := mk("inject", P1, "bot")
				a.DedupKey = "inject/bot/2"
				h.receive(a)
				h.at(6 * time.Minute)
			},
			want: []string{"0s oncall firing/0 [inject]", "5m0s oncall firing/0 [inject inject]"},
		},
		{
			name: "a P2 raising a P3 group goes out at once",
			steps: func(h *harness) {
				a := mk("cost", P3, "bot")
				a.GroupKey = "model=bot"
				h.receive(a)
				h.at(time.Minute)
				b := mk("errors", P2, "bot")
				b.GroupKey = "model=bot"
				h.receive(b)
				h.at(2 * time.Minute)
			},
			want: []string{"30s tickets firing/0 [cost]", "1m0s oncall firing/0 [cost errors]"},
		},
		{
			name: "dedup updates the existing alert instead of notifying again",
			steps: func(h *harness) {
				a := mk("inject", P1, "bot")
				a.EventIDs = []string{"e1"}
				h.receive(a)
				a.EventIDs = []string{"e2", "e1"}
				h.receive(a)
				h.at(10 * time.Minute)
				vs, _, _ := h.m.List(Filter{})
				if len(vs) != 1 || vs[0].Count != 2 || !slices.Equal(vs[0].EventIDs, []string{"e1", "e2"}) {
					h.t.Errorf("after dedup: %d alerts, first %+v", len(vs), vs[0].Alert)
				}
			},
			want: []string{"0s oncall firing/0 [inject]"},
		},
		{
			name: "auto-resolve ends the group and a new alert starts a new one",
			steps: func(h *harness) {
				h.receive(mk("down", P1, "bot"))
				h.at(time.Minute)
				ok, err := h.m.ResolveCondition(context.Background(), "down/bot")
				if err != nil || !ok {
					h.t.Fatalf("ResolveCondition = %v, %v", ok, err)
				}
				synctest.Wait()
				h.at(20 * time.Minute) // past group_interval: the group is dropped
				h.receive(mk("down", P1, "bot"))
			},
			want: []string{"0s oncall firing/0 [down]", "1m0s oncall resolved/0 [down]", "20m0s oncall firing/0 [down]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, Options{}, nil)
				defer h.stop()
				tt.steps(h)
				expect(t, h.rec.take(), tt.want...)
			})
		})
	}
}

func TestSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var audits []string
		opt := Options{Audit: func(_ context.Context, action string, d map[string]any) {
			audits = append(audits, fmt.Sprintf("%s %v", action, d["matchers"]))
		}}
		h := start(t, opt, nil)
		defer h.stop()
		ms, err := ParseMatchers(`{model="bot", alertname=~"drift|cost"}`)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		s, err := h.m.CreateSilence(ctx, Silence{Matchers: ms, EndsAt: time.Now().Add(time.Hour), CreatedBy: "alice", Comment: "retraining"})
		if err != nil {
			t.Fatal(err)
		}
		h.receive(mk("drift", P3, "bot"), mk("drift", P3, "other"), mk("inject", P2, "bot"))
		h.at(20 * time.Minute)
		expect(t, h.rec.take(), "0s oncall firing/0 [inject]", "30s tickets firing/0 [drift]")
		v, _, err := h.m.List(Filter{Model: "bot", Severity: P3})
		if err != nil || len(v) != 1 || !slices.Equal(v[0].SilencedBy, []string{s.ID}) {
			t.Fatalf("silenced view = %+v, %v", v, err)
		}
		if _, err := h.m.ExpireSilence(ctx, s.ID, "bob"); err != nil {
			t.Fatal(err)
		}
		h.at(21 * time.Minute)
		expect(t, h.rec.take(), "20m30s tickets firing/0 [drift]")
		if _, err := h.m.ExpireSilence(ctx, s.ID, "bob"); !errors.Is(err, ErrState) {
			t.Errorf("expire twice: %v", err)
		}
		want := []string{`silence.create {model="bot",alertname=~"drift|cost"}`, `silence.expire {model="bot",alertname=~"drift|cost"}`}
		if !slices.Equal(audits, want) {
			t.Errorf("audits = %q, want %q", audits, want)
		}
	})
}

func TestSilenceValidation(t *testing.T) {
	m, err := New(Options{Notifier: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ok := Silence{Matchers: Matchers{{Name: "model", Type: MatchEqual, Value: "x"}}, EndsAt: now.Add(time.Hour), CreatedBy: "a", Comment: "c"}
	tests := []struct {
		name  string
		edit  func(s *Silence)
		field string
	}{
		{"no matchers", func(s *Silence) { s.Matchers = nil }, "matchers"},
		{"matches everything", func(s *Silence) { s.Matchers = Matchers{{Name: "model", Type: MatchRegexp, Value: ".*"}} }, "matchers"},
		{"bad regexp", func(s *Silence) { s.Matchers = Matchers{{Name: "model", Type: MatchRegexp, Value: "("}} }, "matchers"},
		{"bad operator", func(s *Silence) { s.Matchers = Matchers{{Name: "model", Type: "==", Value: "x"}} }, "matchers"},
		{"no author", func(s *Silence) { s.CreatedBy = "" }, "created_by"},
		{"no comment", func(s *Silence) { s.Comment = "" }, "comment"},
		{"no end", func(s *Silence) { s.EndsAt = time.Time{} }, "ends_at"},
		{"end before start", func(s *Silence) { s.StartsAt = now.Add(2 * time.Hour) }, "ends_at"},
		{"end in the past", func(s *Silence) { s.StartsAt = now.Add(-2 * time.Hour); s.EndsAt = now.Add(-time.Hour) }, "ends_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			_, err := m.CreateSilence(context.Background(), s)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want FieldError on %s", err, tt.field)
			}
		})
	}
	if _, err := m.CreateSilence(context.Background(), ok); err != nil {
		t.Fatalf("valid silence: %v", err)
	}
}

func TestInhibition(t *testing.T) {
	tests := []struct {
		name    string
		inhibit []InhibitRule
		want    []string
	}{
		{
			name: "default: P1 for a model suppresses its P3/P4",
			want: []string{"0s oncall firing/0 [down]", "30s tickets firing/0 [drift]"},
		},
		{
			name:    "disabled",
			inhibit: []InhibitRule{},
			want:    []string{"0s oncall firing/0 [down]", "30s tickets firing/0 [cost]", "30s tickets firing/0 [drift]", "30s tickets firing/0 [drift]"},
		},
		{
			name: "custom: source_match on alertname, equal on environment",
			inhibit: []InhibitRule{{
				SourceMatch: Matchers{{Name: "alertname", Type: MatchEqual, Value: "down"}},
				TargetMatch: Matchers{{Name: "alertname", Type: MatchNotEqual, Value: "down"}},
				Equal:       []string{"environment"},
			}},
			want: []string{"0s oncall firing/0 [down]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, Options{Inhibit: tt.inhibit}, nil)
				defer h.stop()
				h.receive(mk("down", P1, "bot"), mk("drift", P3, "bot"), mk("cost", P4, "bot"), mk("drift", P3, "other"))
				h.at(time.Minute)
				expect(t, h.rec.take(), tt.want...)
			})
		})
	}
	// Once the source resolves, the inhibited alerts are notified at the next flush.
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{}, nil)
		defer h.stop()
		h.receive(mk("down", P1, "bot"), mk("drift", P3, "bot"))
		h.at(time.Minute)
		h.rec.take()
		if _, err := h.m.ResolveCondition(context.Background(), "down/bot"); err != nil {
			t.Fatal(err)
		}
		h.at(6 * time.Minute)
		expect(t, h.rec.take(), "1m0s oncall resolved/0 [down]", "5m30s tickets firing/0 [drift]")
	})
}

func TestRestartKeepsTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		rec := &recorder{start: time.Now()}
		h := start(t, Options{Dir: dir}, rec)
		h.receive(mk("exfil", P1, "bot"), mk("drift", P3, "bot"))
		h.at(10 * time.Minute)
		expect(t, rec.take(), "0s oncall firing/0 [exfil]") // drift is inhibited
		h.stop()

		fi, err := os.Stat(filepath.Join(dir, journalName))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("journal mode: %v %v", fi, err)
		}
		if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
			t.Errorf("dir mode = %v", di.Mode().Perm())
		}
		time.Sleep(10 * time.Minute) // down from 10m to 20m: the 15m escalation falls due meanwhile

		h2 := start(t, Options{Dir: dir}, rec)
		defer h2.stop()
		h2.at(20 * time.Minute)
		expect(t, rec.take(), "20m0s manager escalated/1 [exfil]")
		h2.at(30 * time.Minute)
		expect(t, rec.take(), "30m0s exec escalated/2 [exfil]")
		vs, _, _ := h2.m.List(Filter{State: Firing})
		if len(vs) != 2 {
			t.Fatalf("after restart: %d firing alerts, want 2", len(vs))
		}
		// The dedup index survived: the same key updates instead of creating.
		h2.receive(mk("exfil", P1, "bot"))
		vs, _, _ = h2.m.List(Filter{Severity: P1})
		if len(vs) != 1 || vs[0].Count != 2 {
			t.Fatalf("dedup after restart: %+v", vs)
		}
		// Ack after restart reaches every receiver notified before and after it.
		if _, err := h2.m.Ack(context.Background(), vs[0].ID, "alice", ""); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		expect(t, rec.take(), "30m0s exec acknowledged/0 [exfil]", "30m0s manager acknowledged/0 [exfil]", "30m0s oncall acknowledged/0 [exfil]")
	})
}

func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Options{Dir: dir, Notifier: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Receive(context.Background(), []Alert{mk("a", P2, "m"), mk("b", P3, "m")}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	path := filepath.Join(dir, journalName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"k":"alert","alert":{"a":{"id":"tor`)
	f.Close()
	m2, err := New(Options{Dir: dir, Notifier: &recorder{}})
	if err != nil {
		t.Fatalf("reopen with torn tail: %v", err)
	}
	vs, _, _ := m2.List(Filter{})
	if len(vs) != 2 {
		t.Fatalf("alerts after torn tail = %d, want 2", len(vs))
	}
	m2.Close()
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), `"id":"tor`) {
		t.Error("torn tail was not truncated")
	}
	// Corruption in the middle is an error, not silently dropped data.
	lines := strings.SplitAfter(string(data), "\n")
	lines[0] = "garbage\n"
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	if _, err := New(Options{Dir: dir, Notifier: &recorder{}}); err == nil {
		t.Error("corrupt journal opened without error")
	}
}

func TestListCursorAndFilters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, Options{}, nil)
		defer h.stop()
		for i := range 7 {
			a := mk(fmt.Sprintf("r%d", i), []Severity{P1, P2, P3}[i%3], "bot")
			h.receive(a)
			time.Sleep(time.Second)
		}
		var names []string
		cur := ""
		for page := 0; ; page++ {
			vs, next, err := h.m.List(Filter{Limit: 3, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				names = append(names, v.RuleName)
			}
			if next == "" {
				break
			}
			cur = next
		}
		if want := []string{"r6", "r5", "r4", "r3", "r2", "r1", "r0"}; !slices.Equal(names, want) {
			t.Errorf("paged = %v, want %v", names, want)
		}
		vs, _, _ := h.m.List(Filter{Severity: P3})
		if len(vs) != 2 {
			t.Errorf("P3 filter: %d", len(vs))
		}
		vs, _, _ = h.m.List(Filter{Since: h.rec.start.Add(5 * time.Second)})
		if len(vs) != 2 {
			t.Errorf("since filter: %d", len(vs))
		}
		if _, _, err := h.m.List(Filter{Cursor: "!!"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

func TestJournalCompacts(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Options{Dir: dir, Notifier: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	a := mk("hot", P2, "bot")
	for i := range 1500 {
		a.EventIDs = []string{fmt.Sprint(i)}
		if err := m.Receive(context.Background(), []Alert{a}); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	data, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n > 2*2+1024+2 {
		t.Errorf("journal has %d lines for 1 alert and 1 group", n)
	}
	m2, err := New(Options{Dir: dir, Notifier: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	vs, _, _ := m2.List(Filter{})
	if len(vs) != 1 || vs[0].Count != 1500 || len(vs[0].EventIDs) != 100 || vs[0].EventIDs[0] != "0" {
		t.Errorf("after compaction and reload: %d alerts, count %d, %d event ids", len(vs), vs[0].Count, len(vs[0].EventIDs))
	}
}

// TestExplicitZeroGroupWait: `group_wait: 0s` in the configuration reaches the manager as no
// wait, not as the 30 s default; a file without the key keeps 30 s.
func TestExplicitZeroGroupWait(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{{"response:\n  group_wait: 0s\n", 0}, {"", 30 * time.Second}, {"response:\n  group_wait: 5s\n", 5 * time.Second}} {
		c, err := config.Parse([]byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		o := OptionsFromConfig(c)
		o.Notifier = &recorder{}
		m, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if m.opt.GroupWait != tc.want {
			t.Errorf("%q: group wait %v, want %v", tc.yaml, m.opt.GroupWait, tc.want)
		}
	}
}
