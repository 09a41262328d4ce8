package scan

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for the breaker.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestExternalResponses(t *testing.T) {
	var got map[string]any
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "application/json")
		switch got["text"].(string) {
		case "short":
			_, _ = w.Write([]byte(`{"score":0.97,"category":"jailbreak","label":"pg"}`))
		case "list":
			_, _ = w.Write([]byte(`{"findings":[{"score":0.4,"start":1,"end":3},{"score":0.9,"category":"prompt_injection","start":2,"end":99}]}`))
		case "badscore":
			_, _ = w.Write([]byte(`{"score":1.5}`))
		case "garbage":
			_, _ = w.Write([]byte(`not json`))
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	x, err := NewExternal(ExternalOptions{URL: srv.URL, Name: "guard", Header: http.Header{"Authorization": {"Bearer t0ken"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fs, err := x.Scan(ctx, NewDoc("short", Output, Context{Model: "m1"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Detector != "guard.pg" || fs[0].Category != CatJailbreak || fs[0].Score != 0.97 || fs[0].Start != 0 || fs[0].End != 5 {
		t.Fatalf("short form: %+v", fs)
	}
	if got["role"] != "output" || got["model"] != "m1" || got["version"] != GuardVersion || got["categories"] != nil || auth != "Bearer t0ken" {
		t.Fatalf("request %v auth %q", got, auth)
	}
	fs, err = x.Scan(ctx, NewDoc("list", Input, Context{}))
	if err != nil {
		t.Fatal(err)
	}
	// The second span is out of range and falls back to the whole text.
	if len(fs) != 2 || fs[0].Category != CatExternal || fs[0].Start != 1 || fs[0].End != 3 || fs[1].Start != 0 || fs[1].End != 4 {
		t.Fatalf("list form: %+v", fs)
	}
	for _, text := range []string{"badscore", "garbage", "status"} {
		if _, err := x.Scan(ctx, NewDoc(text, Input, Context{})); err == nil {
			t.Errorf("%s: want error", text)
		} else if strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), srv.URL) {
			t.Errorf("%s: error leaks secrets: %v", text, err)
		}
	}
}

func TestExternalTimeoutAndBreaker(t *testing.T) {
	var calls atomic.Int32
	var slow atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if slow.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"score":0.1}`))
	}))
	defer srv.Close()
	defer close(release)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var observed atomic.Int32
	x, err := NewExternal(ExternalOptions{
		URL: srv.URL, Timeout: 50 * time.Millisecond, FailureThreshold: 2, Cooldown: time.Minute,
		Observe: func(time.Duration, error) { observed.Add(1) },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.now = clk.now
	ctx := context.Background()
	d := NewDoc("hello", Input, Context{})

	slow.Store(true)
	for i := range 2 {
		_, err := x.Scan(ctx, d)
		if err == nil || errors.Is(err, ErrCircuitOpen) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d: want a timeout, got %v", i, err)
		}
	}
	// Threshold reached: open, no call goes out.
	before := calls.Load()
	if _, err := x.Scan(ctx, d); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("want ErrCircuitOpen, got %v", err)
	}
	if calls.Load() != before {
		t.Fatal("open breaker still called the server")
	}
	// Still open just before the cooldown ends.
	clk.add(time.Minute - time.Second)
	if _, err := x.Scan(ctx, d); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("before cooldown: %v", err)
	}
	// After the cooldown the breaker closes and a healthy server answers.
	slow.Store(false)
	clk.add(2 * time.Second)
	fs, err := x.Scan(ctx, d)
	if err != nil || len(fs) != 1 {
		t.Fatalf("after cooldown: %v %+v", err, fs)
	}
	// One failure after a success does not reopen (the count was reset).
	slow.Store(true)
	if _, err := x.Scan(ctx, d); errors.Is(err, ErrCircuitOpen) || err == nil {
		t.Fatalf("want a timeout, got %v", err)
	}
	slow.Store(false)
	if _, err := x.Scan(ctx, d); err != nil {
		t.Fatalf("single failure opened the breaker: %v", err)
	}
	if observed.Load() != 5 {
		t.Fatalf("Observe called %d times, want 5 (calls that went out)", observed.Load())
	}
}

func TestExternalOptionsValidate(t *testing.T) {
	for _, o := range []ExternalOptions{
		{URL: "ftp://x"}, {URL: "http://"}, {URL: "http://h", Timeout: -1}, {URL: "http://h", FailureThreshold: -1},
	} {
		if _, err := NewExternal(o, nil); err == nil {
			t.Errorf("%+v: want error", o)
		}
	}
	if _, err := NewExternal(ExternalOptions{}, nil); err == nil {
		t.Error("empty URL: want error")
	}
}
