package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
)

// The backlog that makes ingest answer 429 counts the analysis worker as well as the index: a
// worker that falls behind while the index keeps up must still push back.
func TestBacklogCountsTheSlowestFollower(t *testing.T) {
	cfg, err := config.Parse([]byte("models:\n  - name: bot\n    risk_tier: high\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": "admin-token-0123456789", "WARDEN_INGEST_TOKEN": "ingest-token-0123456789"}
	a, err := New(context.Background(), Options{DataDir: t.TempDir() + "/data", Listen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0", Config: cfg,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	evs := make([]*event.Event, 10)
	for i := range evs {
		evs[i] = &event.Event{ID: fmt.Sprintf("ev-%d", i), Type: event.TypeInference, Time: time.Now().UTC(),
			Model: event.Model{Name: "bot"}, Request: &event.Request{Input: "hello"}}
	}
	// Not started: no follower runs, so both trail by what is submitted here.
	if _, err := a.pipeline.Submit(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := a.indexer.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.indexer.Lag() != 0 || a.worker.Lag() != 10 {
		t.Fatalf("index lag %d, worker lag %d; want 0 and 10", a.indexer.Lag(), a.worker.Lag())
	}
	if got := a.backlog(); got != 10 {
		t.Fatalf("backlog %d with the worker 10 entries behind, want 10", got)
	}
}
