// Package notifytest holds the contract checks and fixtures shared by every notifier's tests.
package notifytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// Time is the fixed clock of the fixtures.
var Time = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// Alert returns a fully populated, deterministic alert.
func Alert() alert.Alert {
	return alert.Alert{
		ID:          "alt_01HZX3K9Q2",
		RuleID:      "security.prompt_injection.burst",
		RuleName:    "Prompt injection burst",
		RuleVersion: "3",
		Severity:    alert.P1,
		State:       alert.Firing,
		Summary:     "12 prompt-injection attempts against support-bot in 1 min",
		Description: "Consumer svc-frontend sent 12 requests flagged as direct prompt injection (score > 0.9) within 60 s.",
		Model:       "support-bot",
		Environment: "prod",
		Actor:       "svc-frontend",
		DedupKey:    "security.prompt_injection.burst/support-bot/svc-frontend",
		GroupKey:    "support-bot",
		Labels:      map[string]string{"team": "ml-platform", "risk_tier": "high"},
		Tags:        []string{"atlas:AML.T0051.000", "owasp-llm:LLM01:2025"},
		Runbook:     "https://runbooks.example/warden/prompt-injection",
		EventIDs:    []string{"evt_7f3a", "evt_7f3b", "evt_7f3c"},
		Values:      map[string]float64{"count": 12, "max_score": 0.97},
		Actions:     []string{"rate_limit"},
		FirstEvent:  Time.Add(-70 * time.Second),
		StartsAt:    Time.Add(-10 * time.Second),
		UpdatedAt:   Time,
		Count:       12,
		ConsoleURL:  "http://127.0.0.1:7700/alerts/alt_01HZX3K9Q2",
	}
}

// Notification returns a firing notification of [Alert] at [Time].
func Notification() *notify.Notification {
	return &notify.Notification{Kind: notify.KindFiring, GroupKey: "support-bot", Alerts: []alert.Alert{Alert()}, Time: Time}
}

// Resolved returns n's alerts marked resolved, as a resolved notification.
func Resolved(n *notify.Notification) *notify.Notification {
	out := *n
	out.Kind = notify.KindResolved
	out.Alerts = make([]alert.Alert, len(n.Alerts))
	for i, a := range n.Alerts {
		t := Time.Add(5 * time.Minute)
		a.State = alert.Resolved
		a.ResolvedAt = &t
		a.ResolvedBy = "auto"
		a.UpdatedAt = t
		out.Alerts[i] = a
	}
	return &out
}

// EchoFailServer starts a loopback HTTP server that answers every request with status and a
// body echoing the request line, headers and body, the worst case for a notifier that copies
// response bodies into its errors.
func EchoFailServer(t testing.TB, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.String())
		_ = r.Header.Write(&b)
		b.Write(body)
		w.WriteHeader(status)
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// ClosedURL returns a loopback URL on which nothing listens, with path appended.
func ClosedURL(t testing.TB, path string) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u + path
}

// AssertNoSecretLeak sends [Notification] through n, which the caller has pointed at a failing
// receiver, once directly and once through a [notify.Dispatcher] with a log and a dead-letter
// sink, and fails t if the delivery succeeds or if any secret (or its URL-escaped form)
// appears in the error text, the log output or the dead letter.
func AssertNoSecretLeak(t testing.TB, n notify.Notifier, secrets ...string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("AssertNoSecretLeak needs at least one secret to look for")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.Notify(ctx, Notification())
	if err == nil {
		t.Fatal("Notify to a failing receiver returned nil; want an error")
	}
	checkNoSecret(t, "Notify error", err.Error(), secrets)

	var logs bytes.Buffer
	dead := notify.NewMemoryDeadLetters(0)
	opts := notify.DefaultOptions()
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Registerer = prometheus.NewRegistry()
	opts.MaxAttempts = 2
	opts.InitialBackoff = time.Millisecond
	opts.MaxBackoff = time.Millisecond
	opts.DeadLetters = dead
	d, derr := notify.NewDispatcher(map[string]notify.Notifier{"leaky": n}, opts)
	if derr != nil {
		t.Fatal(derr)
	}
	err = d.Deliver(ctx, "leaky", Notification())
	if err == nil {
		t.Fatal("Dispatcher.Deliver to a failing receiver returned nil; want an error")
	}
	checkNoSecret(t, "Deliver error", err.Error(), secrets)
	checkNoSecret(t, "log output", logs.String(), secrets)
	letters := dead.List()
	if len(letters) != 1 {
		t.Fatalf("dead letters = %d; want 1", len(letters))
	}
	dl, _ := json.Marshal(letters[0])
	checkNoSecret(t, "dead letter", string(dl), secrets)
	st, ok := d.Status().Get(Alert().ID, "leaky")
	if !ok || st.State != notify.StateFailed {
		t.Fatalf("status = %+v, %v; want failed", st, ok)
	}
	checkNoSecret(t, "status", st.LastError, secrets)
}

func checkNoSecret(t testing.TB, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(text, form) {
				t.Errorf("%s leaks a secret (%q): %s", where, redactHint(s), text)
			}
		}
	}
}

func redactHint(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:2] + "…" + s[len(s)-2:]
}
