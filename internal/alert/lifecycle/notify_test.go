package lifecycle

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/webhook"
)

// TestNotificationFieldsReachTheReceiver drives the Manager into the real notify Dispatcher and a
// webhook receiver: the severity of a firing group, and the actor and comment of an
// acknowledgement, arrive in the payload. (Through the old alert→notify adapter in internal/app
// they were dropped.)
func TestNotificationFieldsReachTheReceiver(t *testing.T) {
	got := make(chan webhook.Payload, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("payload %s: %v", b, err)
		}
		got <- p
	}))
	defer srv.Close()
	wh, err := webhook.New(webhook.Config{URL: srv.URL, Secret: "s3cret"}, webhook.Options{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := notify.NewDispatcher(map[string]notify.Notifier{"oncall": wh}, notify.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// "manager" is escalated to by default but not configured: that must not break delivery.
	m, err := New(Options{Deliverer: d})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	defer func() { cancel(); <-done; _ = m.Close() }()

	next := func() webhook.Payload {
		t.Helper()
		select {
		case p := <-got:
			return p
		case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
			t.Fatal("no webhook delivery")
			return webhook.Payload{}
		}
	}
	if err := m.Receive(ctx, []alert.Alert{mk("exfil", alert.P1, "bot")}); err != nil {
		t.Fatal(err)
	}
	fired := next()
	if fired.Kind != notify.KindFiring || fired.Severity != alert.P1 || len(fired.Alerts) != 1 {
		t.Fatalf("firing payload = %+v", fired)
	}
	if _, err := m.Ack(ctx, fired.Alerts[0].ID, "alice", "looking into it"); err != nil {
		t.Fatal(err)
	}
	acked := next()
	if acked.Kind != notify.KindAcknowledged || acked.Severity != alert.P1 || acked.Actor != "alice" || acked.Comment != "looking into it" {
		t.Fatalf("acknowledged payload = %+v", acked)
	}
}
