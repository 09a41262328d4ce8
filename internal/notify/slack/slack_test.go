package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/notifytest"
	"github.com/warden-ai/warden/internal/notify/slack"
)

func TestGolden(t *testing.T) {
	escalated := notifytest.Notification()
	escalated.Level = 1
	group := notifytest.Notification()
	for i := range 10 {
		a := notifytest.Alert()
		a.ID = fmt.Sprintf("alt_%02d", i)
		a.Severity = alert.P3
		a.Summary = "Drift <PSI> & friends"
		a.Runbook = "javascript:alert(1)"
		group.Alerts = append(group.Alerts, a)
	}
	tests := map[string]*notify.Notification{
		"firing":    notifytest.Notification(),
		"escalated": escalated,
		"resolved":  notifytest.Resolved(notifytest.Notification()),
		"group":     group,
	}
	for name, n := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := slack.Encode(n)
			if err != nil {
				t.Fatal(err)
			}
			notifytest.Golden(t, name, got)
			if len(slack.Render(n).Blocks) > 50 {
				t.Fatalf("more than 50 blocks")
			}
		})
	}
}

func TestNotifyPostsBlocks(t *testing.T) {
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/T000/B000/XXXX" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got <- b
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	n, err := slack.New(slack.Config{URL: notify.Secret(srv.URL + "/services/T000/B000/XXXX")}, slack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Notification()); err != nil {
		t.Fatal(err)
	}
	var m slack.Message
	if err := json.Unmarshal(<-got, &m); err != nil {
		t.Fatal(err)
	}
	if m.Blocks[0].Type != "header" || !strings.Contains(m.Text, "Prompt injection burst") {
		t.Fatalf("message = %+v", m)
	}
}

func TestNoSecretLeak(t *testing.T) {
	const token = "T0AAAA/B0BBBB/xoxb9c8d7e6f5a4b3c2d1"
	for _, status := range []int{http.StatusInternalServerError, http.StatusNotFound} {
		srv := notifytest.EchoFailServer(t, status)
		n, err := slack.New(slack.Config{URL: notify.Secret(srv.URL + "/services/" + token)}, slack.Options{})
		if err != nil {
			t.Fatal(err)
		}
		notifytest.AssertNoSecretLeak(t, n, token)
	}
	n, _ := slack.New(slack.Config{URL: notify.Secret(notifytest.ClosedURL(t, "/services/"+token))}, slack.Options{})
	notifytest.AssertNoSecretLeak(t, n, token)
}

func BenchmarkRender(b *testing.B) {
	for _, size := range []int{1, 10} {
		n := notifytest.Notification()
		for len(n.Alerts) < size {
			n.Alerts = append(n.Alerts, notifytest.Alert())
		}
		b.Run(fmt.Sprintf("alerts=%d", size), func(b *testing.B) {
			for b.Loop() {
				if _, err := slack.Encode(n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
