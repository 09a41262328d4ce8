package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
)

// TestUnauthenticatedAmplification reproduces finding 2 of issue 12: 200 requests with a bad
// key, a 450 KB User-Agent and a forged X-Warden-User used to append 200 events carrying the
// whole header and the forged user as the actor. Now: one aggregated event per source with
// truncated fields, the claimed user marked as a claim and not the actor, and 429 past the
// per-source limit.
func TestUnauthenticatedAmplification(t *testing.T) {
	h := newHarness(t, false)
	huge := strings.Repeat("A", 450<<10)
	statuses := map[int]int{}
	for range 200 {
		res := h.post("wk-forged", "/v1/chat/completions", chatBody("chat", "hi"), "User-Agent", huge+"\ttail", "X-Warden-User", "bob@corp.example")
		statuses[res.status]++
		if res.status == http.StatusTooManyRequests && res.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[401] != 60 || statuses[429] != 140 {
		t.Fatalf("statuses %v, want 60×401 and 140×429", statuses)
	}
	// bob's real request, with a valid key.
	bob := h.key(keys.Spec{Consumer: "support-app", Groups: []string{"support"}})
	if res := h.post(bob, "/v1/chat/completions", chatBody("chat", "hi"), "X-Warden-User", "bob@corp.example"); res.status != 200 {
		t.Fatalf("valid request: %d %s", res.status, res.body)
	}
	h.gw.flushUnauth()
	var aggs []*event.Event
	size := 0
	for _, e := range waitEvents(t, h, 3) {
		b, _ := json.Marshal(e)
		if e.Type != event.TypeAccess || e.Decision != "deny" {
			continue
		}
		size += len(b)
		aggs = append(aggs, e)
		if e.Actor.User != "" || e.Actor.Consumer != "" || e.Actor.APIKeyID != "" || e.Actor.Session != "" {
			t.Fatalf("unauthenticated event names an actor: %+v", e.Actor)
		}
	}
	if len(aggs) != 1 {
		t.Fatalf("%d deny events for one source, want 1 aggregate", len(aggs))
	}
	a := aggs[0]
	if a.Attributes["gateway.requests"] != float64(200) || a.Attributes["gateway.rate_limited"] != float64(140) ||
		a.Attributes["gateway.claimed_user"] != "bob@corp.example" || a.Attributes["gateway.claimed_user_is_claim"] != true {
		t.Fatalf("aggregate attributes %v", a.Attributes)
	}
	if len(a.Source.Client) > maxHeaderField || strings.ContainsRune(a.Source.Client, '\t') || !strings.Contains(a.Reason, "invalid_api_key 200") {
		t.Fatalf("client %d bytes, reason %q", len(a.Source.Client), a.Reason)
	}
	if size > 2048 {
		t.Fatalf("200 rejected requests wrote %d bytes of events", size)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("aggregate event invalid: %v", err)
	}
}

// waitEvents waits until at least n events were recorded and returns them all.
func waitEvents(t *testing.T, h *harness, n int) []*event.Event {
	t.Helper()
	for range 200 {
		if evs := h.rec.all(); len(evs) >= n {
			return evs
		}
		h.gw.flushUnauth()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d events recorded: %d", n, len(h.rec.all()))
	return nil
}

// TestUnauthenticatedSourcesBounded: beyond UnauthSources sources per interval, requests fold
// into one overflow aggregate, so memory and events per interval stay bounded.
func TestUnauthenticatedSourcesBounded(t *testing.T) {
	h := newHarness(t, false)
	h.gw.opts.TrustForwardedFor = true
	h.gw.unauth.max = 2
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.1"} {
		req, _ := http.NewRequest("GET", h.srv.URL+"/v1/models", nil)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	h.gw.flushUnauth()
	evs := waitEvents(t, h, 3)
	byIP := map[string]*event.Event{}
	for _, e := range evs {
		byIP[e.Source.IP] = e
	}
	if len(evs) != 3 || byIP["192.0.2.1"].Attributes["gateway.requests"] != float64(2) || byIP[""].Attributes["gateway.sources_folded"] != float64(2) {
		t.Fatalf("events %d: %v", len(evs), byIP)
	}
}

func TestCleanHeader(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"curl/8.0":               "curl/8.0",
		"a\x00b\nc\x7fd":         "abcd",
		"bad\xffutf8":            "badutf8",
		strings.Repeat("é", 200): strings.Repeat("é", 128),
	} {
		got := cleanHeader(in)
		if got != want || len(got) > maxHeaderField || !utf8.ValidString(got) {
			t.Errorf("cleanHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCleanHeader(f *testing.F) {
	f.Add("Mozilla/5.0")
	f.Add("\xff\xfe\x00" + strings.Repeat("x", 300))
	f.Fuzz(func(t *testing.T, in string) {
		got := cleanHeader(in)
		if len(got) > maxHeaderField || !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("cleanHeader(%q) = %q", in, got)
		}
	})
}
