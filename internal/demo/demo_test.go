package demo

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/gateway"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

func TestDemoRound(t *testing.T) {
	sim := httptest.NewServer(upstreamsim.New(upstreamsim.Options{}))
	defer sim.Close()
	ks, err := keys.Open(keys.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := Setup(ctx, sim.URL, ks)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let the demo's expired key expire
	gw, err := gateway.New(gateway.Options{Models: func() []config.Model { return f.Models }, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	var out bytes.Buffer
	if err := Run(ctx, srv.URL, f, &out, Options{Rounds: 2, Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// Round 1 is the tour, one line per kind; round 2 has the same outcomes, so one summary line.
	if len(lines) != len(kinds)+1 {
		t.Fatalf("%d lines, want one per kind and one summary:\n%s", len(lines), out.String())
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "demo round 2: ") || !strings.Contains(last, "× 200") || !strings.Contains(last, "× 401") {
		t.Errorf("summary line = %q", last)
	}
	for want, kindName := range map[string]string{
		"→ 200 \"You said":                        "ordinary question",
		"→ 200 streamed":                          "streaming answer",
		"→ 403 group_not_allowed (warden_policy)": "consumer outside groups",
		"→ 401 key_revoked (warden_policy)":       "revoked key",
		"→ 401 key_expired (warden_policy)":       "expired key",
		"jane.roe@example.com":                    "PII in output", // medium tier, no scanner here: passes
		"Jane Roe, 42 Elm Street":                 "name and address redacted",
	} {
		found := false
		for _, l := range lines {
			if strings.Contains(l, kindName) && strings.Contains(l, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %q line containing %q:\n%s", kindName, want, out.String())
		}
	}
	if err := gw.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
