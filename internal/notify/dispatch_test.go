package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/notifytest"
)

// flaky fails the first `failures` calls with err, then succeeds; it records call times.
type flaky struct {
	failures int
	err      error
	calls    atomic.Int32
	times    []time.Time
}

func (f *flaky) Notify(ctx context.Context, _ *notify.Notification) error {
	f.times = append(f.times, time.Now())
	if int(f.calls.Add(1)) <= f.failures {
		return f.err
	}
	return nil
}

func newDispatcher(t *testing.T, n notify.Notifier, mutate func(*notify.Options)) (*notify.Dispatcher, *prometheus.Registry, *notify.MemoryDeadLetters) {
	t.Helper()
	reg := prometheus.NewRegistry()
	dead := notify.NewMemoryDeadLetters(0)
	opts := notify.DefaultOptions()
	opts.Registerer = reg
	opts.DeadLetters = dead
	opts.Jitter = 0
	if mutate != nil {
		mutate(&opts)
	}
	d, err := notify.NewDispatcher(map[string]notify.Notifier{"r": n}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d, reg, dead
}

func gaps(ts []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]))
	}
	return out
}

func TestRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 3, err: errors.New("connection reset")}
		d, reg, dead := newDispatcher(t, f, nil)
		if err := d.Deliver(context.Background(), "r", notifytest.Notification()); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		if got, want := fmt.Sprint(gaps(f.times)), "[1s 2s 4s]"; got != want {
			t.Errorf("waits = %s; want %s", got, want)
		}
		st, ok := d.Status().Get(notifytest.Alert().ID, "r")
		if !ok || st.State != notify.StateSent || st.Attempts != 4 || st.LastError != "" || st.SentAt == nil {
			t.Errorf("status = %+v", st)
		}
		if len(dead.List()) != 0 {
			t.Error("dead letter written for a delivered notification")
		}
		if got := (counterValue(t, reg, "warden_notify_attempts_total", "r", "error")); got != 3 {
			t.Errorf("error attempts metric = %v; want 3", got)
		}
	})
}

// counterValue returns the value of the counter name{labels...} in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			if strings.Join(vals, ",") == strings.Join(labels, ",") {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func TestJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 5, err: errors.New("503")}
		d, _, _ := newDispatcher(t, f, func(o *notify.Options) { o.Jitter = 0.5; o.MaxAttempts = 6 })
		if err := d.Deliver(context.Background(), "r", notifytest.Notification()); err != nil {
			t.Fatal(err)
		}
		base := time.Second
		for i, g := range gaps(f.times) {
			lo, hi := time.Duration(float64(base)*0.5), time.Duration(float64(base)*1.5)
			if g < lo || g > hi {
				t.Errorf("wait %d = %v; want within [%v, %v]", i, g, lo, hi)
			}
			base *= 2
		}
	})
}

func TestRetryAfterRespected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 1, err: &notify.HTTPError{StatusCode: http.StatusTooManyRequests, After: 30 * time.Second}}
		d, _, _ := newDispatcher(t, f, nil)
		if err := d.Deliver(context.Background(), "r", notifytest.Notification()); err != nil {
			t.Fatal(err)
		}
		if g := gaps(f.times); len(g) != 1 || g[0] != 30*time.Second {
			t.Fatalf("waits = %v; want [30s]", g)
		}
	})
}

func TestRetryAfterTooLongGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 10, err: &notify.HTTPError{StatusCode: http.StatusTooManyRequests, After: time.Hour}}
		d, _, dead := newDispatcher(t, f, nil)
		err := d.Deliver(context.Background(), "r", notifytest.Notification())
		if err == nil || f.calls.Load() != 1 || !strings.Contains(err.Error(), "asked to wait 1h0m0s") || len(dead.List()) != 1 {
			t.Fatalf("err = %v, calls = %d, dead = %d", err, f.calls.Load(), len(dead.List()))
		}
	})
}

func TestGivesUp(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		mutate    func(*notify.Options)
		wantCalls int32
		wantElap  time.Duration
	}{
		{"max attempts", errors.New("boom"), func(o *notify.Options) { o.MaxAttempts = 3 }, 3, 3 * time.Second},
		{"permanent", notify.Permanent(errors.New("400 bad payload")), nil, 1, 0},
		// 1+2+4+8+16 = 31 s spent; the next wait (32 s) would pass 40 s.
		{"max elapsed", errors.New("boom"), func(o *notify.Options) { o.MaxAttempts = 100; o.MaxElapsed = 40 * time.Second }, 6, 31 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &flaky{failures: 1000, err: tc.err}
				d, reg, dead := newDispatcher(t, f, tc.mutate)
				start := time.Now()
				err := d.Deliver(context.Background(), "r", notifytest.Notification())
				if err == nil {
					t.Fatal("Deliver succeeded")
				}
				if f.calls.Load() != tc.wantCalls || time.Since(start) != tc.wantElap {
					t.Fatalf("calls = %d after %v; want %d after %v", f.calls.Load(), time.Since(start), tc.wantCalls, tc.wantElap)
				}
				letters := dead.List()
				if len(letters) != 1 || letters[0].Receiver != "r" || letters[0].Attempts != int(tc.wantCalls) ||
					letters[0].Notification.Alerts[0].ID != notifytest.Alert().ID || letters[0].Error == "" {
					t.Fatalf("dead letters = %+v", letters)
				}
				st, _ := d.Status().Get(notifytest.Alert().ID, "r")
				if st.State != notify.StateFailed || st.Attempts != int(tc.wantCalls) || st.LastError == "" {
					t.Fatalf("status = %+v", st)
				}
				if got := (counterValue(t, reg, "warden_notify_dead_letters_total", "r")); got != 1 {
					t.Fatalf("dead letter metric = %v", got)
				}
			})
		})
	}
}

func TestCancelStopsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 1000, err: errors.New("boom")}
		d, _, dead := newDispatcher(t, f, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		err := d.Deliver(ctx, "r", notifytest.Notification())
		if !errors.Is(err, context.DeadlineExceeded) || f.calls.Load() != 2 || len(dead.List()) != 1 {
			t.Fatalf("err = %v, calls = %d, dead = %d", err, f.calls.Load(), len(dead.List()))
		}
	})
}

func TestPendingStatusVisibleDuringRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 1, err: errors.New("timeout talking to receiver")}
		d, _, _ := newDispatcher(t, f, func(o *notify.Options) { o.InitialBackoff = time.Minute; o.MaxBackoff = time.Minute })
		done := make(chan error)
		go func() { done <- d.Deliver(context.Background(), "r", notifytest.Notification()) }()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		st, _ := d.Status().Get(notifytest.Alert().ID, "r")
		if st.State != notify.StatePending || st.Attempts != 1 || st.LastError != "timeout talking to receiver" {
			t.Errorf("status mid-retry = %+v", st)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestSendFansOut(t *testing.T) {
	ok := &flaky{}
	bad := &flaky{failures: 1000, err: notify.Permanent(errors.New("rejected"))}
	opts := notify.DefaultOptions()
	d, err := notify.NewDispatcher(map[string]notify.Notifier{"ok": ok, "bad": bad}, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := notifytest.Notification()
	err = d.Send(context.Background(), []string{"ok", "bad", "missing"}, n)
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !errors.Is(err, notify.ErrUnknownReceiver) || strings.Contains(err.Error(), `"ok"`) {
		t.Fatalf("Send = %v", err)
	}
	got := d.Status().Alert(notifytest.Alert().ID)
	if len(got) != 2 || got[0].Receiver != "bad" || got[0].State != notify.StateFailed || got[1].State != notify.StateSent {
		t.Fatalf("statuses = %+v", got)
	}
}

func TestDeliverRejectsInvalid(t *testing.T) {
	d, _, _ := newDispatcher(t, &flaky{}, nil)
	for _, n := range []*notify.Notification{
		nil,
		{Kind: "exploded", Alerts: notifytest.Notification().Alerts},
		{Kind: notify.KindFiring},
		{Kind: notify.KindFiring, Level: -1, Alerts: notifytest.Notification().Alerts},
	} {
		if err := d.Deliver(context.Background(), "r", n); err == nil {
			t.Errorf("Deliver(%+v) = nil", n)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, mut := range map[string]func(*notify.Options){
		"attempts": func(o *notify.Options) { o.MaxAttempts = 0 },
		"elapsed":  func(o *notify.Options) { o.MaxElapsed = 0 },
		"backoff":  func(o *notify.Options) { o.MaxBackoff = o.InitialBackoff / 2 },
		"jitter":   func(o *notify.Options) { o.Jitter = 1.5 },
		"logger":   func(o *notify.Options) { o.Logger = nil },
	} {
		o := notify.DefaultOptions()
		mut(&o)
		if _, err := notify.NewDispatcher(nil, o); err == nil || !strings.Contains(strings.ToLower(err.Error()), name) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestFileDeadLetters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	w, err := notify.OpenFileDeadLetters(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Put(context.Background(), notify.DeadLetter{Receiver: fmt.Sprint("r", i), Attempts: i + 1, Error: "e", Notification: notifytest.Notification()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(context.Background(), notify.DeadLetter{}); err == nil {
		t.Fatal("Put after Close succeeded")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v; want 0600", fi.Mode().Perm())
	}
	// Simulate a crash mid-write: a torn last line is ignored.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"receiver":"torn","notif`)
	f.Close()
	data, _ := os.ReadFile(path)
	got, err := notify.ReadDeadLetters(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Receiver != "r2" || got[2].Attempts != 3 || got[0].Notification.Alerts[0].ID != notifytest.Alert().ID {
		t.Fatalf("read back %+v", got)
	}
	// Corruption in the middle is an error naming the line.
	bad := append([]byte("{}\nnot json\n"), data...)
	if _, err := notify.ReadDeadLetters(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corrupt middle line: err = %v", err)
	}
}

func TestMemoryDeadLettersBounded(t *testing.T) {
	m := notify.NewMemoryDeadLetters(2)
	for i := range 5 {
		_ = m.Put(context.Background(), notify.DeadLetter{Attempts: i})
	}
	if l := m.List(); len(l) != 2 || l[0].Attempts != 3 || l[1].Attempts != 4 {
		t.Fatalf("List = %+v", l)
	}
}

func TestStatusBookEvictsLeastRecent(t *testing.T) {
	opts := notify.DefaultOptions()
	opts.Status = notify.NewStatusBook(2)
	d, _ := notify.NewDispatcher(map[string]notify.Notifier{"r": &flaky{}}, opts)
	send := func(id string) {
		n := notifytest.Notification()
		n.Alerts[0].ID = id
		if err := d.Deliver(context.Background(), "r", n); err != nil {
			t.Fatal(err)
		}
	}
	send("a")
	send("b")
	send("a") // a is now the most recent
	send("c") // evicts b
	if d.Status().Len() != 2 || d.Status().Alert("b") != nil || d.Status().Alert("a") == nil || d.Status().Alert("c") == nil {
		t.Fatalf("book after eviction: len %d, a %v, b %v, c %v", d.Status().Len(), d.Status().Alert("a"), d.Status().Alert("b"), d.Status().Alert("c"))
	}
	d.Status().Forget("a")
	if d.Status().Alert("a") != nil {
		t.Fatal("Forget did not forget")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := notify.Secret("hunter2-secret")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "s", s, "cfg", struct{ Token notify.Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logs.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "hunter2-secret" {
		t.Error("Reveal lost the value")
	}
}
