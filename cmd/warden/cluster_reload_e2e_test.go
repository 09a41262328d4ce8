package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/upstreamsim"
)

// TestClusterRulesReload: in the distributed mode, POST /v1/rules/reload (and `warden rules
// reload`) on the api process reloads the rule files in every process — the workers, which run
// the rules, included — and says what each did. A rule added by the reload fires from the
// worker; a broken file is refused by every process, named per process with file:line (422,
// CLI exit 2), and the workers keep firing the rules they had.
func TestClusterRulesReload(t *testing.T) {
	ns := startNATSProc(t)
	dsn, _, _ := pgSchema(t, "127.0.0.1:5432")
	sim := httptest.NewServer(upstreamsim.New(upstreamsim.Options{}))
	defer sim.Close()
	rulesDir := t.TempDir()
	ruleFile := filepath.Join(rulesDir, "custom.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(ruleFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules: []\n")
	const secret = "cluster-reload-webhook-secret"
	hook := newAlertHook(t, secret)
	t.Setenv("CLUSTER_E2E_SECRET", secret)
	env := newClusterEnv(t, ns.url(), dsn, fmt.Sprintf(`rules_dir: %s
receivers:
  - name: soc
    webhook: {url: %s, secret_env: CLUSTER_E2E_SECRET}
escalation:
  P3: [{after: 0s, receivers: [soc]}]
response: {group_wait: 0s, group_interval: 100ms}
`, rulesDir, hook.URL))
	api := env.startRole(t, "api")
	ing := env.startRole(t, "ingest")
	env.startRole(t, "worker")

	type reload struct {
		Result string `json:"result"`
		Errors []struct {
			Node, File, Message string
			Line                int
		} `json:"errors"`
		Nodes []struct {
			Node, Roles, Result string
			Change              *struct {
				Added []string `json:"added"`
			} `json:"change"`
		} `json:"nodes"`
	}
	roles := func(r reload) string {
		var rs []string
		for _, n := range r.Nodes {
			rs = append(rs, n.Roles)
		}
		return strings.Join(rs, " ")
	}

	// A rule added on disk: every process reloads it.
	write(`rules:
  - id: t.yolanda
    severity: P3
    select: {types: [inference]}
    condition: actor.id.startsWith('yolanda')
    dedup_by: [actor.id]
`)
	code, body := api.do(t, "POST", "/v1/rules/reload", env.admin, nil)
	var ok reload
	if code != 200 || json.Unmarshal(body, &ok) != nil || ok.Result != "success" {
		t.Fatalf("cluster reload: %d %s", code, body)
	}
	if len(ok.Nodes) != 3 {
		t.Fatalf("%d processes answered the reload (%s), want api, ingest and worker: %s", len(ok.Nodes), roles(ok), body)
	}
	for _, n := range ok.Nodes {
		if n.Result != "success" || n.Change == nil || len(n.Change.Added) != 1 || n.Change.Added[0] != "t.yolanda" {
			t.Fatalf("process %s (%s) did not add the rule: %s", n.Node, n.Roles, body)
		}
	}
	send := func(user string) {
		t.Helper()
		ev := fmt.Sprintf(`{"id":"rl-%s","type":"inference","time":%q,"model":{"name":"bot-r"},"actor":{"user":%q},"response":{"output":"fine","latency_ms":3}}`,
			user, time.Now().UTC().Format(time.RFC3339Nano), user)
		if code, body, _, err := post(ing.addr, env.ingst, []byte(ev)); err != nil || code != 202 {
			t.Fatalf("post: %d %s %v", code, body, err)
		}
	}
	waitAlert := func(key string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for hook.alerts("t.")[key] == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no alert %s at the webhook (have %v)", key, hook.alerts("t."))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	send("yolanda-1")
	waitAlert("t.yolanda|yolanda-1")

	// A broken file: refused by every process, each named with file:line; the running rules stay.
	write(`rules:
  - id: t.yolanda
    severity: P3
    select: {types: [inference]}
    condition: actor.id.startsWith('yolanda') &&
    dedup_by: [actor.id]
`)
	code, body = api.do(t, "POST", "/v1/rules/reload", env.admin, nil)
	var refused struct {
		Error struct {
			Code, Message string
		} `json:"error"`
		Reload reload `json:"reload"`
	}
	if code != 422 || json.Unmarshal(body, &refused) != nil || refused.Error.Code != "invalid_rules" || refused.Reload.Result != "failure" {
		t.Fatalf("broken reload: %d %s", code, body)
	}
	if len(refused.Reload.Nodes) != 3 || len(refused.Reload.Errors) < 3 {
		t.Fatalf("broken reload: want 3 processes each refusing, got %s", body)
	}
	for _, e := range refused.Reload.Errors {
		if e.Node == "" || !strings.HasSuffix(e.File, "custom.yaml") || e.Line == 0 {
			t.Fatalf("a refusal without its process or file:line: %+v in %s", e, body)
		}
	}
	exit, _, stderr := runCLI(t, "rules", "reload", "--url", "http://"+api.addr, "--token", env.admin)
	if exit != 2 || strings.Count(stderr, "custom.yaml:") < 3 || !strings.Contains(stderr, "worker") {
		t.Fatalf("warden rules reload in a cluster with a broken file: exit %d, stderr %s", exit, stderr)
	}
	send("yolanda-2")
	waitAlert("t.yolanda|yolanda-2")
}
