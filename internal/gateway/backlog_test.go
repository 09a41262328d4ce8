package gateway

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
)

// gatedEmitter holds every Emit until open is closed, then records the events.
type gatedEmitter struct {
	open chan struct{}
	mu   sync.Mutex
	evs  []*event.Event
}

func (g *gatedEmitter) Emit(ctx context.Context, evs []*event.Event) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.evs = append(g.evs, evs...)
	return nil
}

func (g *gatedEmitter) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.evs)
}

// TestEventBacklogRefusesRequests reproduces the last low finding of issue 12: with the event
// queue full, the gateway served requests and dropped their access and inference events with
// only a counter. Now a request reserves room for its events before anything is forwarded and
// is refused with 503 event_backlog (Retry-After) when there is none; nothing is dropped, and
// an aggregated unauthenticated count that finds the queue full waits for the next flush.
func TestEventBacklogRefusesRequests(t *testing.T) {
	em := &gatedEmitter{open: make(chan struct{})}
	h := newHarnessOpts(t, nil, func(o *Options) {
		o.Emitter = em
		o.EventQueue = 4 // two requests' events
	})
	k := h.key(keys.Spec{Consumer: "c", Groups: []string{"support"}})
	for i := range 2 {
		if res := h.post(k, "/v1/chat/completions", chatBody("chat", "hi")); res.status != 200 {
			t.Fatalf("request %d: %d %s", i, res.status, res.body)
		}
	}
	upstream := len(h.sim.Requests())
	res := h.post(k, "/v1/chat/completions", chatBody("chat", "hi"))
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("with the queue full: %d %s, want 503 with Retry-After", res.status, res.body)
	}
	if _, code := policyCode(t, res.body); code != "event_backlog" {
		t.Fatalf("code %q", code)
	}
	if len(h.sim.Requests()) != upstream {
		t.Fatal("the refused request reached the upstream")
	}
	// An unauthenticated request's aggregate finds the queue full and is kept.
	if res := h.post("wk-unknown", "/v1/chat/completions", chatBody("chat", "hi")); res.status != 401 {
		t.Fatalf("unknown key: %d", res.status)
	}
	h.gw.flushUnauth()
	if len(h.gw.unauthPending) != 1 {
		t.Fatalf("%d aggregates pending, want 1", len(h.gw.unauthPending))
	}
	close(em.open)
	deadline := time.Now().Add(5 * time.Second)
	for em.count() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if res := h.post(k, "/v1/chat/completions", chatBody("chat", "hi")); res.status != 200 {
		t.Fatalf("after the queue drained: %d %s", res.status, res.body)
	}
	h.gw.flushUnauth()
	if err := h.gw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var access, inference, aggregates int
	for _, e := range em.evs {
		switch {
		case e.Attributes["gateway.unauthenticated"] == true:
			aggregates++
		case e.Type == event.TypeAccess:
			access++
		case e.Type == event.TypeInference:
			inference++
		}
	}
	if access != 3 || inference != 3 || aggregates != 1 {
		t.Fatalf("recorded %d access, %d inference, %d aggregate events; want 3, 3, 1 (three served requests, one source)", access, inference, aggregates)
	}
	if d := counterValue(t, h.gw.events.dropped); d != 0 {
		t.Fatalf("%v events dropped", d)
	}
	if r := counterValue(t, h.gw.events.refused); r != 1 {
		t.Fatalf("%v refusals counted, want 1", r)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
