package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDriftEndToEnd runs the scenario through the binary: stable traffic forms a
// baseline, a full window of unchanged traffic raises no drift finding (the minimum-window
// rule holds), and a window whose feature x shifts raises a drift finding naming features.x
// (and not the unchanged features.y) within that one window.
func TestDriftEndToEnd(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "warden.yaml")
	cfg := "models:\n  - name: scorer\n    kind: ml\n    risk_tier: medium\nanalysis:\n  baseline_events: 500\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "--config", cfgPath)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now().UTC().Add(-time.Hour)
	seq := 0
	send := func(n int, shiftX float64) {
		t.Helper()
		var b bytes.Buffer
		for i := 0; i < n; i++ {
			seq++
			x := rng.NormFloat64() + shiftX
			y := rng.NormFloat64()*2 + 5
			fmt.Fprintf(&b, `{"type":"inference","time":%q,"model":{"name":"scorer","version":"1"},"actor":{"service_account":"batch"},"request":{"features":{"x":%.4f,"y":%.4f}},"response":{"prediction":%.3f}}`+"\n",
				start.Add(time.Duration(seq)*100*time.Millisecond).Format(time.RFC3339Nano), x, y, 0.3+0.1*y)
			if (i+1)%500 == 0 {
				if code, body := s.do(t, "POST", "/v1/events", s.ingt, &b); code != 202 {
					t.Fatalf("post: %d %s", code, body)
				}
				b.Reset()
			}
		}
		s.waitAnalysed(t)
	}
	driftFeatures := func() []string {
		code, body := s.do(t, "GET", "/v1/detections?model=scorer", s.admin, nil)
		if code != 200 {
			t.Fatalf("detections: %d %s", code, body)
		}
		var out struct {
			Detections []struct{ Kind, Feature, Statistic, Windows string } `json:"detections"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		var fs []string
		for _, d := range out.Detections {
			if strings.Contains(d.Kind, "drift") {
				fs = append(fs, d.Kind+":"+d.Feature)
			}
		}
		return fs
	}

	send(500, 0)  // baseline
	send(1000, 0) // one full window of unchanged traffic
	if fs := driftFeatures(); len(fs) != 0 {
		t.Fatalf("unchanged traffic raised drift findings: %v", fs)
	}
	code, body := s.do(t, "GET", "/v1/models/scorer/drift", s.admin, nil)
	if code != 200 || !strings.Contains(string(body), "baseline_id") {
		t.Fatalf("drift endpoint: %d %s", code, body)
	}

	send(1000, 1.5) // one window with x shifted by 1.5σ
	fs := driftFeatures()
	joined := strings.Join(fs, " ")
	if !strings.Contains(joined, "drift:features.x") {
		t.Fatalf("shifted feature not named within one window; findings: %v", fs)
	}
	if strings.Contains(joined, "drift:features.y") {
		t.Fatalf("unchanged feature y reported as drifted: %v", fs)
	}
	// The P3 drift rule turns the finding into an alert.
	deadline := time.Now().Add(10 * time.Second)
	for !s.alertRules(t)["warden.ops.drift"] {
		if time.Now().After(deadline) {
			t.Fatalf("no drift alert; rules fired: %v", s.alertRules(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
