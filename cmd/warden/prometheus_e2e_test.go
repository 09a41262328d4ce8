package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestPrometheusScrapesMetrics runs Debian's real Prometheus server against the binary's
// /metrics with the admin token as a bearer credential, and reads Warden's ingest counter back
// through Prometheus' query API.
func TestPrometheusScrapesMetrics(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("Debian's prometheus binary is required (scripts/test-deps.sh installs it): %v", err)
	}
	s := startServer(t, t.TempDir())
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("prom", 0, 25))); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: warden
    authorization: {type: Bearer, credentials: %q}
    static_configs: [{targets: [%q]}]
`, s.admin, s.addr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	query := func(q string) (float64, bool) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + q)
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &out) != nil || len(out.Data.Result) == 0 {
			return 0, false
		}
		v, err := strconv.ParseFloat(fmt.Sprint(out.Data.Result[0].Value[1]), 64)
		return v, err == nil
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		up, ok1 := query(`up{job="warden"}`)
		n, ok2 := query(`warden_ingest_events_total{job="warden"}`)
		if ok1 && ok2 && up == 1 && n >= 25 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape Warden (up=%v events=%v)\n%s", up, n, logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
