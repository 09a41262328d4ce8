package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/users"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSessionExpiry(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	st := newSessionStore(c.now, 30*time.Minute, 2*time.Hour, nil, nil)
	ctx := context.Background()
	id, s, _ := st.create(ctx, users.User{Name: "ann", Role: access.Analyst})
	if s.csrf == "" || s.csrf == id {
		t.Fatal("session without its own CSRF token")
	}
	for range 5 { // active use keeps it alive up to the absolute limit
		c.t = c.t.Add(20 * time.Minute)
		if st.get(ctx, id) == nil {
			t.Fatalf("session expired at %v while in use", c.t)
		}
	}
	c.t = c.t.Add(21 * time.Minute) // past 2h in all
	if st.get(ctx, id) != nil {
		t.Fatal("session outlived its absolute limit")
	}
	id2, _, _ := st.create(ctx, users.User{Name: "bob", Role: access.Viewer})
	c.t = c.t.Add(31 * time.Minute)
	if st.get(ctx, id2) != nil {
		t.Fatal("idle session still valid")
	}
	if st.get(ctx, "not-a-session") != nil {
		t.Fatal("unknown id accepted")
	}
}

func TestSessionCSRF(t *testing.T) {
	s := &session{csrf: "abc"}
	for tok, want := range map[string]bool{"abc": true, "": false, "abd": false, "ab": false, "abcd": false} {
		if got := s.checkCSRF(tok); got != want {
			t.Errorf("checkCSRF(%q) = %v", tok, got)
		}
	}
}

func TestLoginLimiter(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	l := newLoginLimiter(c.now, 3, 10*time.Minute)
	for i := range 3 {
		if _, locked := l.locked("ann", "10.0.0.1"); locked {
			t.Fatalf("locked after %d failures", i)
		}
		l.fail("ann", "10.0.0.1")
		c.t = c.t.Add(time.Minute)
	}
	retry, locked := l.locked("ann", "10.0.0.2")
	if !locked || retry != 7*time.Minute {
		t.Fatalf("after 3 failures: locked %v retry %v, want 7m", locked, retry)
	}
	if _, locked := l.locked("bob", "10.0.0.2"); locked {
		t.Fatal("another name from another address is locked")
	}
	c.t = c.t.Add(7 * time.Minute)
	if _, locked := l.locked("ann", "10.0.0.1"); locked {
		t.Fatal("still locked after the window")
	}
	// One address spraying many names is locked at 4× the per-name limit.
	for i := range 12 {
		l.fail("user"+string(rune('a'+i)), "10.9.9.9")
	}
	if _, locked := l.locked("fresh", "10.9.9.9"); !locked {
		t.Fatal("spraying address not locked")
	}
	l.succeed("ann")
	if n := l.failures("ann"); n != 0 {
		t.Fatalf("%d failures after success", n)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/alerts": "/alerts", "/alerts?state=firing": "/alerts?state=firing",
		"//evil.example/": "/", "https://evil.example/": "/", "/\\evil.example": "/", "alerts": "/", "javascript:alert(1)": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", "/a?b=c", "http://x", "/\\x", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeNext(s)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.Contains(got, "\\") {
			t.Fatalf("safeNext(%q) = %q is not a local path", s, got)
		}
	})
}

func FuzzParseFormTime(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-01-02T15:04", "2026-01-02", "15m", "2026-01-02T15:04:05Z", "-1h", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseFormTime(s, now); err != nil && err.Error() == "" {
			t.Fatal("error without a message")
		}
	})
}

func TestChartsEscapeText(t *testing.T) {
	evil := `<script>alert(1)</script>`
	ts := []time.Time{time.Unix(0, 0), time.Unix(60, 0)}
	for name, svg := range map[string]string{
		"line":      string(lineChart(evil, evil, ts, []line{{evil, evil, []float64{1, 2}}})),
		"empty":     string(lineChart(evil, "ms", nil, nil)),
		"histogram": string(histogram(evil, evil, []float64{1, 2, 3}, 4)),
	} {
		if strings.Contains(svg, "<script") || !strings.Contains(svg, "&lt;script&gt;") {
			t.Errorf("%s chart: text not escaped: %.200s", name, svg)
		}
	}
}

func TestPagesParse(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"login", "error", "overview", "alerts", "alert", "incidents", "incident", "models", "model", "search", "audit", "event", "reports"} {
		if pages[name] == nil {
			t.Errorf("no template for page %s", name)
		}
	}
}
