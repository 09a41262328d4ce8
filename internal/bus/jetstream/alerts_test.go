package jetstream

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
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// TestDecodeAlertMsg: the messages of testdata/alertmsg decode (good-*) or fail naming the
// field (bad-*).
func TestDecodeAlertMsg(t *testing.T) {
	for _, tc := range []struct {
		file, wantErr string
	}{
		{"raise.json", ""},
		{"resolve.json", ""},
		{"bad-no-alert.json", "alert: required"},
		{"bad-no-dedup.json", "alert.dedup_key: required"},
		{"bad-severity.json", "alert.severity"},
		{"bad-resolve-no-key.json", "dedup_key: required"},
		{"bad-kind.json", "kind:"},
		{"bad-trailing.json", "data after"},
		{"bad-type.json", "dedup_key"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "alertmsg", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := DecodeAlertMsg(data)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if m.Kind == AlertRaise && (m.Alert.DedupKey != "t.r|m" || len(m.Alert.EventIDs) != 2) || m.Kind == AlertResolve && (m.DedupKey != "t.r|m" || m.At.IsZero()) {
					t.Fatalf("decoded %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzDecodeAlertMsg(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "alertmsg", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeAlertMsg(data)
		if err != nil {
			return
		}
		switch m.Kind {
		case AlertRaise:
			if m.Alert == nil || m.Alert.DedupKey == "" || !m.Alert.Severity.Valid() {
				t.Fatalf("accepted an invalid raise: %+v", m)
			}
		case AlertResolve:
			if m.DedupKey == "" {
				t.Fatalf("accepted a resolve without dedup key: %+v", m)
			}
		default:
			t.Fatalf("accepted kind %q", m.Kind)
		}
		_ = m.ID()
	})
}

// TestAlertMsgID: the id is a function of the rules engine's decision only — the same raise or
// resolution made again has the same id; another alert, time or kind another one.
func TestAlertMsgID(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a := alert.Alert{ID: "x1", DedupKey: "r|m", Severity: alert.P2, StartsAt: t0, Count: 3}
	b := a
	b.Count, b.Summary = 5, "other text" // what the manager changes does not matter
	ids := map[string]string{
		"raise":        RaiseMsg(a).ID(),
		"raise again":  RaiseMsg(b).ID(),
		"later raise":  RaiseMsg(alert.Alert{ID: "x2", DedupKey: "r|m", StartsAt: t0.Add(time.Second)}).ID(),
		"resolve":      ResolveMsg("r|m", t0).ID(),
		"resolve same": ResolveMsg("r|m", t0).ID(),
		"resolve late": ResolveMsg("r|m", t0.Add(time.Second)).ID(),
		"resolve key2": ResolveMsg("r|n", t0).ID(),
	}
	if ids["raise"] != ids["raise again"] || ids["resolve"] != ids["resolve same"] {
		t.Fatalf("the same decision got two ids: %v", ids)
	}
	seen := map[string]string{}
	for _, k := range []string{"raise", "later raise", "resolve", "resolve late", "resolve key2"} {
		if o, ok := seen[ids[k]]; ok {
			t.Fatalf("%s and %s share id %s", k, o, ids[k])
		}
		seen[ids[k]] = k
	}
}

// applied records what an applier handed to the alert manager.
type applied struct {
	mu   sync.Mutex
	msgs []string // "raise <dedup key> <alert id>" / "resolve <dedup key>"
	fail int      // fail the next n calls
}

func (r *applied) apply(_ context.Context, m AlertMsg) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("disk full")
	}
	if m.Kind == AlertRaise {
		r.msgs = append(r.msgs, "raise "+m.Alert.DedupKey+" "+m.Alert.ID)
	} else {
		r.msgs = append(r.msgs, "resolve "+m.DedupKey)
	}
	return nil
}

func (r *applied) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func runApplier(t *testing.T, b *Bus, rec *applied, dir, node string) (*AlertApplier, func()) {
	t.Helper()
	a, err := b.NewAlertApplier(AlertApplierOptions{Apply: rec.apply, PositionFile: filepath.Join(dir, "alerts.position"), Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return a, runInBackground(t, a.Run)
}

func raise(rule, key string, at time.Time) AlertMsg {
	return RaiseMsg(alert.Alert{ID: fmt.Sprintf("%s@%d", key, at.Unix()), RuleID: rule, DedupKey: key, Severity: alert.P3, StartsAt: at})
}

// TestAlertsStreamAppliedOnceInOrder: raises and resolutions published by two workers reach
// the applier in stream order, a raise published again (a take-over's replay) once; a restart
// on the same data resumes after the last applied message; a failing Apply is retried, not
// skipped; a message that is not an alert is skipped and counted.
func TestAlertsStreamAppliedOnceInOrder(t *testing.T) {
	ns := startNATS(t)
	ttl := time.Second
	w1, w2, api := openBus(t, ns.url(), ttl), openBus(t, ns.url(), ttl), openBus(t, ns.url(), ttl)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if err := w1.PublishAlerts(ctx, []AlertMsg{raise("r", "r|a", t0), raise("r", "r|b", t0)}); err != nil {
		t.Fatal(err)
	}
	// The new owner of the partition replays: the same raise again, then what follows it.
	if err := w2.PublishAlerts(ctx, []AlertMsg{raise("r", "r|b", t0), ResolveMsg("r|a", t0.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rec := &applied{}
	a, stop := runApplier(t, api, rec, dir, "api-1")
	want := []string{"raise r|a r|a@" + fmt.Sprint(t0.Unix()), "raise r|b r|b@" + fmt.Sprint(t0.Unix()), "resolve r|a"}
	waitFor(t, "3 messages applied", 10*time.Second, func() bool { return a.Position() >= 3 })
	// Lag 0 at position 3: the stream holds 3 messages (the replayed raise was not stored).
	if got := rec.list(); !slices.Equal(got, want) || a.Position() != 3 || a.Lag(ctx) != 0 || !a.Leader() {
		t.Fatalf("applied %v at position %d, lag %d (leader %v), want %v at 3", got, a.Position(), a.Lag(ctx), a.Leader(), want)
	}
	stop()

	// Nobody applies; a message that is not an alert and a new raise arrive; Apply fails once.
	if _, err := w1.js.Publish(ctx, w1.prefix+".alerts", []byte(`{"kind":"page"}`)); err != nil {
		t.Fatal(err)
	}
	if err := w1.PublishAlerts(ctx, []AlertMsg{raise("r", "r|a", t0.Add(2*time.Minute))}); err != nil {
		t.Fatal(err)
	}
	rec.fail = 1
	a2, stop2 := runApplier(t, api, rec, dir, "api-1")
	defer stop2()
	waitFor(t, "the new raise applied", 10*time.Second, func() bool { return a2.Position() >= 5 })
	got := rec.list()
	if !slices.Equal(got[:3], want) || len(got) != 4 || got[3] != "raise r|a r|a@"+fmt.Sprint(t0.Add(2*time.Minute).Unix()) {
		t.Fatalf("after the restart applied %v", got)
	}
	if a2.Position() != 5 || a2.Skipped() != 1 || a2.Lag(ctx) != 0 {
		t.Fatalf("position %d, skipped %d, lag %d; want 5, 1, 0", a2.Position(), a2.Skipped(), a2.Lag(ctx))
	}
}

// TestAlertApplierLease: only the lease holder applies; when it stops, a standby on the same
// data takes the lease and resumes after the last applied message.
func TestAlertApplierLease(t *testing.T) {
	ns := startNATS(t)
	ttl := time.Second
	w, b1, b2 := openBus(t, ns.url(), ttl), openBus(t, ns.url(), ttl), openBus(t, ns.url(), ttl)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	rec1, rec2 := &applied{}, &applied{}
	a1, stop1 := runApplier(t, b1, rec1, dir, "api-1")
	waitFor(t, "a leader", 5*time.Second, a1.Leader)
	a2, stop2 := runApplier(t, b2, rec2, dir, "api-2")
	defer stop2()
	for i := range 3 {
		if err := w.PublishAlerts(ctx, []AlertMsg{raise("r", fmt.Sprintf("r|%d", i), t0)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 applied by the leader", 10*time.Second, func() bool { return len(rec1.list()) == 3 })
	time.Sleep(3 * ttl) // several renewals: the lease stays with one
	if a2.Leader() || len(rec2.list()) != 0 {
		t.Fatalf("the standby led (%v) or applied %v while the first held the lease", a2.Leader(), rec2.list())
	}
	stop1() // a clean stop hands the lease over at once
	for i := 3; i < 5; i++ {
		if err := w.PublishAlerts(ctx, []AlertMsg{raise("r", fmt.Sprintf("r|%d", i), t0)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the standby leading", 10*time.Second, a2.Leader)
	waitFor(t, "2 applied by the standby", 10*time.Second, func() bool { return a2.Position() >= 5 })
	if got := rec2.list(); len(got) != 2 || !strings.HasPrefix(got[0], "raise r|3 ") || !strings.HasPrefix(got[1], "raise r|4 ") || a2.Position() != 5 || a2.Lag(ctx) != 0 {
		t.Fatalf("the standby applied %v up to %d, want r|3 and r|4 up to 5", got, a2.Position())
	}
}

// TestAlertOutbox: while NATS is down a flush fails and keeps the messages (counted); once it
// is back they are published, in order, once; a full outbox drops and counts, and its next
// flush says so.
func TestAlertOutbox(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), time.Second)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	stats := &AlertStats{}
	o := b.NewAlertOutbox(3, stats)
	o.Add(raise("r", "r|a", t0))
	if err := o.Flush(ctx); err != nil || stats.Published.Load() != 1 || o.Len() != 0 {
		t.Fatalf("flush: %v, published %d, waiting %d", err, stats.Published.Load(), o.Len())
	}
	ns.stop()
	waitFor(t, "the client to notice", 5*time.Second, func() bool { return !b.Connected() })
	o.Add(raise("r", "r|b", t0), ResolveMsg("r|a", t0.Add(time.Minute)))
	if err := o.Flush(ctx); err == nil || !errors.Is(err, ErrUnavailable) || stats.Failed.Load() != 1 || o.Len() != 2 {
		t.Fatalf("flush without NATS: %v, failed %d, waiting %d", err, stats.Failed.Load(), o.Len())
	}
	o.Add(raise("r", "r|c", t0), raise("r", "r|d", t0)) // one more than fits
	if stats.Overflow.Load() != 1 || o.Len() != 3 {
		t.Fatalf("overflow %d, waiting %d; want 1 and 3", stats.Overflow.Load(), o.Len())
	}
	ns.start()
	waitFor(t, "the client to reconnect", 10*time.Second, b.Connected)
	var err error
	waitFor(t, "a flush after the reconnection", 15*time.Second, func() bool { err = o.Flush(ctx); return o.Len() == 0 })
	if !errors.Is(err, ErrAlertsOverflow) {
		t.Fatalf("flush after an overflow: %v, want ErrAlertsOverflow", err)
	}
	rec := &applied{}
	a, stop := runApplier(t, b, rec, t.TempDir(), "api")
	defer stop()
	waitFor(t, "4 applied", 10*time.Second, func() bool { return a.Position() >= 4 })
	got := rec.list()
	if len(got) != 4 || !strings.HasPrefix(got[0], "raise r|a") || !strings.HasPrefix(got[1], "raise r|b") || got[2] != "resolve r|a" || !strings.HasPrefix(got[3], "raise r|c") || a.Position() != 4 || a.Lag(ctx) != 0 {
		t.Fatalf("applied %v at %d", got, a.Position())
	}
}
