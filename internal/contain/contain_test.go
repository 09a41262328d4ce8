package contain

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
)

type recorder struct {
	mu   sync.Mutex
	evs  []*event.Event
	fail bool
}

func (r *recorder) Emit(_ context.Context, evs []*event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("pipeline down")
	}
	r.evs = append(r.evs, evs...)
	return nil
}

func (r *recorder) events() []*event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*event.Event(nil), r.evs...)
}

func TestApplyCheckLiftAudit(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := &recorder{}
	s, err := Open(Options{Dir: t.TempDir(), Emitter: rec, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		a     Action
		check func() (Action, bool)
	}{
		{Action{Kind: SuspendKey, Target: "key_1", TTL: time.Hour, Reason: "leak", By: "alice"}, func() (Action, bool) { return s.KeySuspended("key_1") }},
		{Action{Kind: PauseModel, Target: "bot", TTL: time.Hour, By: "rules"}, func() (Action, bool) { return s.ModelPaused("bot") }},
		{Action{Kind: RateLimit, Target: "c1", RPM: 5, TTL: time.Hour, By: "bob"}, func() (Action, bool) { return s.ConsumerRateLimit("c1") }},
		{Action{Kind: BlockConsumer, Target: "c2", By: "bob"}, func() (Action, bool) { return s.ConsumerBlocked("c2") }},
	}
	for _, tc := range tests {
		a, err := s.Apply(ctx, tc.a)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := tc.check()
		if !ok || got.ID != a.ID {
			t.Fatalf("%s not in force: %+v", tc.a.Kind, got)
		}
	}
	if _, ok := s.KeySuspended("key_2"); ok {
		t.Fatal("unrelated key suspended")
	}
	evs := rec.events()
	if len(evs) != 4 {
		t.Fatalf("%d audit events, want 4", len(evs))
	}
	e := evs[0]
	if e.Type != event.TypeAccess || e.Action != "containment.suspend_key" || e.Decision != "allow" || e.Reason != "leak" || e.Actor.User != "alice" || e.Resource != "suspend_key:key_1" || e.Attributes["containment.target"] != "key_1" {
		t.Fatalf("audit event = %+v", e)
	}
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatalf("audit event invalid: %v", err)
		}
	}
	// TTL expiry.
	now = now.Add(time.Hour)
	if _, ok := s.KeySuspended("key_1"); ok {
		t.Fatal("suspension outlived its TTL")
	}
	if _, ok := s.ConsumerBlocked("c2"); !ok {
		t.Fatal("TTL-less block expired")
	}
	// Lift = human override.
	blocked, _ := s.ConsumerBlocked("c2")
	if _, err := s.Lift(ctx, blocked.ID, "carol", "false positive"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ConsumerBlocked("c2"); ok {
		t.Fatal("lifted block still in force")
	}
	last := rec.events()[len(rec.events())-1]
	if last.Action != "containment.lift" || last.Actor.User != "carol" || last.Reason != "false positive" || last.ID != blocked.ID+".lift" {
		t.Fatalf("lift event = %+v", last)
	}
	if _, err := s.Lift(ctx, blocked.ID, "carol", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second lift err = %v", err)
	}
	if got := len(s.List(false)); got != 0 { // TTLs ran out, the block was lifted
		t.Fatalf("List(false) = %d actions, want 0", got)
	}
}

func TestValidation(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Action{
		{Kind: "nuke", Target: "x"},
		{Kind: SuspendKey},
		{Kind: RateLimit, Target: "c"},
		{Kind: SuspendKey, Target: "k", RPM: 3},
		{Kind: PauseModel, Target: "m", TTL: -time.Second},
	} {
		if _, err := s.Apply(context.Background(), a); !errors.Is(err, ErrInvalid) {
			t.Errorf("Apply(%+v) err = %v", a, err)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not observed within 1s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAdminHandler(t *testing.T) {
	rec := &recorder{}
	s, err := Open(Options{Dir: t.TempDir(), Emitter: rec})
	if err != nil {
		t.Fatal(err)
	}
	h := httpx.Mux(AdminRoutes(s, nil)...)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		return w
	}
	w := do("POST", "/v1/containment", `{"kind":"rate_limit","target":"c9","rpm":2,"ttl":"5m","reason":"spike","by":"rules:cost"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("apply: %d %s", w.Code, w.Body)
	}
	a, ok := s.ConsumerRateLimit("c9")
	if !ok || a.RPM != 2 {
		t.Fatalf("rate limit not in force: %+v", a)
	}
	if w := do("GET", "/v1/containment", ""); w.Code != 200 || !strings.Contains(w.Body.String(), a.ID) {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if w := do("DELETE", "/v1/containment/"+a.ID, `{"by":"dave","reason":"ok now"}`); w.Code != 200 {
		t.Fatalf("lift: %d %s", w.Code, w.Body)
	}
	if evs := rec.events(); len(evs) != 2 || evs[1].Actor.User != "dave" {
		t.Fatalf("events = %+v", evs)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
		body2              string // the answer must contain this
	}{
		{"DELETE", "/v1/containment/" + a.ID, "", 404, ""},
		{"POST", "/v1/containment", `{"kind":"x","target":"y"}`, 400, ""},
		{"POST", "/v1/containment", `{"kind":"pause_model","target":"m","ttl":"later"}`, 400, `"field":"ttl"`},
		{"POST", "/v1/containment", `{"kind":"pause_model","target":"m","nope":1}`, 400, ""},
		{"POST", "/v1/containment", `{"kind":"pause_model","target":7}`, 400, `"field":"target"`},
		{"DELETE", "/v1/containment/x", `{"by":`, 400, `"code":"invalid"`},
	} {
		if w := do(tc.method, tc.path, tc.body); w.Code != tc.want {
			t.Errorf("%s %s %s = %d, want %d", tc.method, tc.path, tc.body, w.Code, tc.want)
		} else if !strings.Contains(w.Body.String(), tc.body2) {
			t.Errorf("%s %s %s: body %s does not contain %s", tc.method, tc.path, tc.body, w.Body, tc.body2)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s.KeySuspended("key_1")
		s.ModelPaused("m")
		s.ConsumerBlocked("c")
		s.ConsumerRateLimit("c")
	}
}
