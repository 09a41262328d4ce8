package pagerduty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/notifytest"
	"github.com/warden-ai/warden/internal/notify/pagerduty"
)

const routingKey = "R0UT1NGKEY0123456789abcdef012345"

func TestGolden(t *testing.T) {
	ack := notifytest.Notification()
	ack.Kind = notify.KindAcknowledged
	tests := map[string]*notify.Notification{
		"trigger":     notifytest.Notification(),
		"acknowledge": ack,
		"resolve":     notifytest.Resolved(notifytest.Notification()),
	}
	for name, n := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			for _, ev := range pagerduty.Render(n, "ROUTING_KEY") {
				b, err := pagerduty.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Indent(&out, b, "", "  "); err != nil {
					t.Fatal(err)
				}
			}
			notifytest.Golden(t, name, out.Bytes())
		})
	}
}

func TestSeverityAndDedupKey(t *testing.T) {
	for sev, want := range map[alert.Severity]string{alert.P1: "critical", alert.P2: "error", alert.P3: "warning", alert.P4: "info"} {
		if got := pagerduty.Severity(sev); got != want {
			t.Errorf("Severity(%s) = %s; want %s", sev, got, want)
		}
	}
	a := notifytest.Alert()
	if got := pagerduty.DedupKey(&a); got != a.DedupKey {
		t.Errorf("DedupKey = %q", got)
	}
	a.DedupKey = ""
	if got := pagerduty.DedupKey(&a); got != a.ID {
		t.Errorf("empty dedup key: got %q; want the alert id", got)
	}
	a.DedupKey = strings.Repeat("k", 300)
	if got := pagerduty.DedupKey(&a); len(got) > 255 || !strings.HasPrefix(got, "sha256:") {
		t.Errorf("long dedup key: got %q", got)
	}
}

// TestEventsAPI plays PagerDuty: it checks the routing key and answers 202 like the real API.
func TestEventsAPI(t *testing.T) {
	var mu sync.Mutex
	var got []pagerduty.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev pagerduty.Event
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v2/enqueue" || json.Unmarshal(b, &ev) != nil || ev.RoutingKey != routingKey {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid"}`)
			return
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey)
	}))
	defer srv.Close()
	n, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: srv.URL + "/v2/enqueue"}, pagerduty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	two := notifytest.Notification()
	b := notifytest.Alert()
	b.ID, b.DedupKey = "alt_2", "other-key"
	two.Alerts = append(two.Alerts, b)
	if err := n.Notify(context.Background(), two); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Resolved(notifytest.Notification())); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].EventAction != "trigger" || got[1].DedupKey != "other-key" ||
		got[2].EventAction != "resolve" || got[2].DedupKey != got[0].DedupKey || got[2].Payload != nil {
		t.Fatalf("events = %+v", got)
	}

	bad, _ := pagerduty.New(pagerduty.Config{RoutingKey: "wrong-key-1234567890", URL: srv.URL + "/v2/enqueue"}, pagerduty.Options{})
	if err := bad.Notify(context.Background(), notifytest.Notification()); !notify.IsPermanent(err) {
		t.Fatalf("rejected event: err = %v; want permanent", err)
	}
}

func TestNoSecretLeak(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusTooManyRequests} {
		srv := notifytest.EchoFailServer(t, status)
		n, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: srv.URL + "/v2/enqueue"}, pagerduty.Options{})
		if err != nil {
			t.Fatal(err)
		}
		notifytest.AssertNoSecretLeak(t, n, routingKey)
	}
}

func BenchmarkRender(b *testing.B) {
	n := notifytest.Notification()
	for b.Loop() {
		for _, ev := range pagerduty.Render(n, routingKey) {
			if _, err := pagerduty.Encode(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}
