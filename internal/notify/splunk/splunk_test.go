package splunk_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/notifytest"
	"github.com/warden-ai/warden/internal/notify/splunk"
)

const token = "8c1e5d2a-7f4b-4e9a-b3c6-0d2e9f7a1b54"

// hec plays a Splunk HTTP Event Collector: it checks the token and parses concatenated events.
func hec(t *testing.T, events chan<- splunk.Event) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/collector/event" {
			http.Error(w, `{"text":"The requested URL was not found on this server.","code":404}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Splunk "+token {
			http.Error(w, `{"text":"Invalid token","code":4}`, http.StatusForbidden)
			return
		}
		b, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(b)))
		for dec.More() {
			var ev splunk.Event
			if err := dec.Decode(&ev); err != nil {
				http.Error(w, `{"text":"Invalid data format","code":6}`, http.StatusBadRequest)
				return
			}
			events <- ev
		}
		_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHEC(t *testing.T) {
	events := make(chan splunk.Event, 4)
	srv := hec(t, events)
	n, err := splunk.New(splunk.Config{URL: srv.URL, Token: token, Index: "security"}, splunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	two := notifytest.Notification()
	b := notifytest.Alert()
	b.ID = "alt_2"
	two.Alerts = append(two.Alerts, b)
	if err := n.Notify(context.Background(), two); err != nil {
		t.Fatal(err)
	}
	e1, e2 := <-events, <-events
	if e1.Sourcetype != splunk.DefaultSourcetype || e1.Source != "warden" || e1.Index != "security" ||
		e1.Event.Alert.ID != notifytest.Alert().ID || e2.Event.Alert.ID != "alt_2" || e1.Event.Kind != notify.KindFiring ||
		e1.Time != float64(notifytest.Time.Unix()) {
		t.Fatalf("events = %+v, %+v", e1, e2)
	}

	wrong, _ := splunk.New(splunk.Config{URL: srv.URL, Token: "nope"}, splunk.Options{})
	if err := wrong.Notify(context.Background(), notifytest.Notification()); !notify.IsPermanent(err) {
		t.Fatalf("bad token: err = %v; want permanent", err)
	}
}

func TestNoSecretLeak(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusForbidden} {
		srv := notifytest.EchoFailServer(t, status)
		n, err := splunk.New(splunk.Config{URL: srv.URL, Token: token}, splunk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		notifytest.AssertNoSecretLeak(t, n, token)
	}
}

func BenchmarkRender(b *testing.B) {
	n, _ := splunk.New(splunk.Config{URL: "https://splunk.example:8088", Token: token}, splunk.Options{})
	notification := notifytest.Notification()
	for b.Loop() {
		if _, err := n.Render(notification); err != nil {
			b.Fatal(err)
		}
	}
}
