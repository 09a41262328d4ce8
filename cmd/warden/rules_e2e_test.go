package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestBuiltinRuleScenariosThroughBinary replays every built-in rule's fire and near-miss
// scenario (internal/rules/testdata/scenarios) through a running server: the events go in over
// POST /v1/events, and the rule's alert must (fire) or must not (miss) appear in GET /v1/alerts.
// Scenarios made of analysis detections rather than events are covered by `warden rules test`
// and the drift end-to-end test; they are listed as such here.
func TestBuiltinRuleScenariosThroughBinary(t *testing.T) {
	root := filepath.Join("..", "..", "internal", "rules", "testdata", "scenarios")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 20 {
		t.Fatalf("only %d rule scenarios found", len(dirs))
	}
	for _, d := range dirs {
		rule := d.Name()
		for _, kind := range []string{"fire", "miss", "resolve"} {
			if _, err := os.Stat(filepath.Join(root, rule, kind+".jsonl")); kind == "resolve" && err != nil {
				continue // only window rules have a resolve scenario
			}
			t.Run(rule+"/"+kind, func(t *testing.T) {
				models, events, detections := readScenario(t, filepath.Join(root, rule, kind+".jsonl"))
				if detections {
					t.Logf("%s/%s is built from analysis detections: covered by `warden rules test` (TestRunTestScenarios)", rule, kind)
					return
				}
				data := t.TempDir()
				cfgPath := filepath.Join(t.TempDir(), "warden.yaml")
				cfg, err := yaml.Marshal(map[string]any{"models": models})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
					t.Fatal(err)
				}
				s := startServer(t, data, "--config", cfgPath)
				if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(events)); code != 202 {
					t.Fatalf("post scenario: %d %s", code, body)
				}
				s.waitAnalysed(t)
				fired := s.alertRules(t)
				if kind == "fire" && !fired[rule] {
					t.Fatalf("rule %s did not fire through the binary; alerts: %v", rule, fired)
				}
				if kind == "miss" && fired[rule] {
					t.Fatalf("rule %s fired on its near miss", rule)
				}
				if kind == "resolve" {
					deadline := time.Now().Add(10 * time.Second)
					for s.alertStates(t, rule)["resolved"] == 0 {
						if time.Now().After(deadline) {
							t.Fatalf("rule %s: alert not auto-resolved after its condition cleared: %v", rule, s.alertStates(t, rule))
						}
						time.Sleep(200 * time.Millisecond)
					}
				}
			})
		}
	}
}

// readScenario returns the inventory, the events (NDJSON) and whether detections are involved.
func readScenario(t *testing.T, path string) ([]any, []byte, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var models []any
	var events bytes.Buffer
	detections := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &probe); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch {
		case probe["models"] != nil:
			if err := json.Unmarshal(probe["models"], &models); err != nil {
				t.Fatal(err)
			}
		case probe["detection"] != nil:
			detections = true
		case probe["tick"] != nil:
			// The binary's clock ticks by itself; scenario events are in the past, so its
			// first tick already lies past every window.
		default:
			events.WriteString(line)
			events.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return models, events.Bytes(), detections
}

// waitAnalysed waits until the index and the analysis stage have caught up with the log.
func (s *server) waitAnalysed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.admin) // lags are shown only with a token
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var st struct {
				IndexLag    uint64 `json:"index_lag"`
				AnalysisLag uint64 `json:"analysis_lag"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.IndexLag == 0 && st.AnalysisLag == 0 {
				time.Sleep(300 * time.Millisecond) // alerts are recorded right after the position moves
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("analysis did not catch up within 30 s")
}

// alertRules returns the rule ids of all alerts the server recorded.
func (s *server) alertRules(t *testing.T) map[string]bool {
	t.Helper()
	code, body := s.do(t, "GET", "/v1/alerts?limit=1000", s.admin, nil)
	if code != 200 {
		t.Fatalf("alerts: %d %s", code, body)
	}
	var out struct {
		Alerts []struct {
			RuleID string `json:"rule_id"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, a := range out.Alerts {
		m[a.RuleID] = true
	}
	return m
}

// alertStates counts a rule's alerts by state.
func (s *server) alertStates(t *testing.T, rule string) map[string]int {
	t.Helper()
	code, body := s.do(t, "GET", "/v1/alerts?limit=1000", s.admin, nil)
	if code != 200 {
		t.Fatalf("alerts: %d %s", code, body)
	}
	var out struct {
		Alerts []struct {
			RuleID string `json:"rule_id"`
			State  string `json:"state"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, a := range out.Alerts {
		if a.RuleID == rule {
			m[a.State]++
		}
	}
	return m
}
