package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenTelemetryJSExportsToBinary points the official OpenTelemetry JS SDK (test/otel,
// `npm ci --prefix test/otel`) at the running binary's /v1/traces, over OTLP protobuf and JSON,
// and checks the GenAI spans became searchable inference events with their tokens and text.
func TestOpenTelemetryJSExportsToBinary(t *testing.T) {
	dir := filepath.Join("..", "..", "test", "otel")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("npm packages missing: run `npm ci --prefix test/otel` (make test does): %v", err)
	}
	for _, proto := range []string{"http/protobuf", "http/json"} {
		t.Run(proto, func(t *testing.T) {
			s := startServer(t, t.TempDir())
			cmd := exec.Command("node", "send.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(),
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://"+s.addr+"/v1/traces",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="+proto,
				"WARDEN_TOKEN="+s.ingt)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node send.mjs: %v\n%s", err, out)
			}
			s.waitAnalysed(t)
			code, body := s.do(t, "GET", "/v1/events?type=inference&limit=100", s.admin, nil)
			if code != 200 {
				t.Fatalf("search: %d %s", code, body)
			}
			var page struct {
				Events []struct {
					Model struct {
						Name, Provider, Upstream string
					} `json:"model"`
					Request *struct {
						Input       string `json:"input"`
						InputTokens *int64 `json:"input_tokens"`
					} `json:"request"`
				} `json:"events"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			models := map[string]bool{}
			var withTokens, withText int
			for _, ev := range page.Events {
				models[ev.Model.Name] = true
				if ev.Request != nil && ev.Request.InputTokens != nil && *ev.Request.InputTokens > 0 {
					withTokens++
				}
				if ev.Request != nil && ev.Request.Input != "" {
					withText++
				}
			}
			for _, m := range []string{"gpt-4o-mini", "claude-sonnet-4-20250514", "gpt-4o"} {
				if !models[m] {
					t.Errorf("no inference event for %s; got %v", m, models)
				}
			}
			if withTokens == 0 || withText == 0 {
				t.Errorf("events lack tokens (%d) or text (%d): %s", withTokens, withText, strings.TrimSpace(string(body))[:min(600, len(body))])
			}
		})
	}
}
