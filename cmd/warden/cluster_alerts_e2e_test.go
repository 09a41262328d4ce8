package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClusterAlertsAcrossAPIRestart: alerts raised on a worker reach the api process's alert
// manager through the ALERTS stream — a per-event alert, and a window alert that the worker's
// engine resolves when its window slides (the resolution travels the same way). The api process
// is then killed (SIGKILL); an alert raised while it is down waits in the stream, and the api
// restarted on its data directory applies it after the last message it had applied: nothing
// applied twice (the open alert counts 2 raises, the resolved one is not raised again), each
// alert notified once. Killed again, it leaves the leases to a standby api process with a data
// directory of its own, which rebuilds the alerts from the stream and goes on applying.
func TestClusterAlertsAcrossAPIRestart(t *testing.T) {
	ns := startNATSProc(t)
	dsn, _, _ := pgSchema(t, "127.0.0.1:5432")
	rulesDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rulesDir, "t.yaml"), []byte(`rules:
  - id: t.mallory
    severity: P3
    select: {types: [inference]}
    condition: actor.id == 'mallory'
    dedup_by: [actor.id]
  - id: t.burst
    severity: P3
    select: {types: [inference]}
    condition: actor.id == 'bob'
    aggregate: {kind: event_count, group_by: [actor.id], timespan: 2s, threshold: ">= 2"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "cluster-alerts-webhook-secret"
	hook := newAlertHook(t, secret)
	t.Setenv("CLUSTER_ALERTS_SECRET", secret)
	env := newClusterEnv(t, ns.url(), dsn, fmt.Sprintf(`rules_dir: %s
receivers:
  - name: soc
    webhook: {url: %s, secret_env: CLUSTER_ALERTS_SECRET}
escalation:
  P3: [{after: 0s, receivers: [soc]}]
response: {group_wait: 0s}
`, rulesDir, hook.URL))
	api := env.startRole(t, "api")
	ing := env.startRole(t, "ingest")
	worker := env.startRole(t, "worker")
	event := func(id, user string) string {
		return fmt.Sprintf(`{"id":%q,"type":"inference","time":%q,"model":{"name":"bot"},"actor":{"user":%q},"response":{"output":"ok","latency_ms":3}}`+"\n",
			id, time.Now().UTC().Format(time.RFC3339Nano), user)
	}
	send := func(body string) {
		t.Helper()
		if code, resp, _, err := post(ing.addr, env.ingst, []byte(body)); err != nil || code != 202 {
			t.Fatalf("post: %d %s %v", code, resp, err)
		}
	}
	// waitAlert waits until the api lists exactly one alert of rule in state with count, and
	// fails when it lists more, or a higher count.
	waitAlert := func(s *server, rule, state string, count int) clusterAlert {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			als := clusterAlerts(t, s, env.admin, rule)
			if len(als) == 1 && als[0].State == state && als[0].Count == count {
				return als[0]
			}
			if len(als) > 1 || len(als) == 1 && als[0].Count > count || time.Now().After(deadline) {
				t.Fatalf("GET /v1/alerts lists %+v for %s; want one %s alert of count %d", als, rule, state, count)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	send(event("m-1", "mallory"))
	mal := waitAlert(api, "t.mallory", "firing", 1)
	// Two of bob's events within 2 s fire t.burst; the worker's tick resolves it once they
	// have left the window, and the resolution reaches the api's manager.
	send(event("b-1", "bob") + event("b-2", "bob"))
	burst := waitAlert(api, "t.burst", "resolved", 2)
	if burst.By != "warden" {
		t.Fatalf("t.burst resolved by %q, want warden (its condition cleared)", burst.By)
	}

	// The api process dies; a new raise waits in ALERTS until it is back on its data.
	_ = api.cmd.Process.Kill()
	_ = api.cmd.Wait()
	send(event("m-2", "mallory"))
	api2 := env.startRole(t, "api", api.data)
	if got := waitAlert(api2, "t.mallory", "firing", 2); got.ID != mal.ID {
		t.Fatalf("after the restart t.mallory is alert %s, want %s (the same, counted up)", got.ID, mal.ID)
	}
	if got := waitAlert(api2, "t.burst", "resolved", 2); got.ID != burst.ID {
		t.Fatalf("after the restart t.burst is alert %s, want %s", got.ID, burst.ID)
	}
	code, body := api2.do(t, "GET", "/readyz", env.admin, nil)
	if code != 200 || !strings.Contains(string(body), `"alerts_leader":true`) || !strings.Contains(string(body), `"alerts_lag":0`) {
		t.Fatalf("api readyz after the restart: %d %s", code, body)
	}
	// The worker published the raises and the resolution, none failed.
	var wr struct {
		Published uint64 `json:"alerts_published"`
		Failed    uint64 `json:"alerts_publish_failures"`
		Overflow  uint64 `json:"alerts_overflowed"`
	}
	if code, body := worker.do(t, "GET", "/readyz", env.admin, nil); code != 200 || json.Unmarshal(body, &wr) != nil || wr.Published < 4 || wr.Failed != 0 || wr.Overflow != 0 {
		t.Fatalf("worker readyz: %d %s; want at least 4 alert messages published, none failed", code, body)
	}
	// Each alert was notified as firing once (a count going up notifies nothing new).
	time.Sleep(500 * time.Millisecond)
	got := hook.alerts("t.")
	if !maps.Equal(got, map[string]int{"t.mallory|mallory": 1, "t.burst|bob": 1}) {
		t.Fatalf("alerts notified as firing per dedup key: %v, want each once", got)
	}

	// Fail-over to a standby api process with a data directory of its own: it takes the
	// leases once the killed holder's expire, rebuilds the log and the alerts from the streams
	// (docs/SCALE-OUT.md, Known limits: their notifications go out again), and carries on.
	// (A standby's /readyz says 503 while its own log is behind the shared index: it is not
	// ready to answer searches until it leads and has rebuilt the log.)
	standby := env.launchRole(t, "api")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + standby.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby api does not answer\n%s", standby.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if als := clusterAlerts(t, standby, env.admin, "t.mallory"); len(als) != 0 {
		t.Fatalf("the standby lists %+v while the api holds the alerts lease", als)
	}
	_ = api2.cmd.Process.Kill()
	_ = api2.cmd.Wait()
	waitAlert(standby, "t.mallory", "firing", 2)
	waitAlert(standby, "t.burst", "resolved", 2)
	send(event("m-3", "mallory"))
	waitAlert(standby, "t.mallory", "firing", 3)
	t.Logf("alerts notified as firing per dedup key after the fail-over: %v", hook.alerts("t."))
}

// clusterAlert is an alert as GET /v1/alerts lists it.
type clusterAlert struct {
	ID       string `json:"id"`
	RuleID   string `json:"rule_id"`
	DedupKey string `json:"dedup_key"`
	Model    string `json:"model"`
	State    string `json:"state"`
	Count    int    `json:"count"`
	Reason   string `json:"resolve_reason"`
	By       string `json:"resolved_by"`
}

// clusterAlerts lists the alerts of rule the process's GET /v1/alerts returns.
func clusterAlerts(t *testing.T, s *server, token, rule string) []clusterAlert {
	t.Helper()
	code, body := s.do(t, "GET", "/v1/alerts?limit=1000", token, nil)
	var out struct {
		Alerts []clusterAlert `json:"alerts"`
	}
	if code != 200 || json.Unmarshal(body, &out) != nil {
		t.Fatalf("GET /v1/alerts: %d %s", code, body)
	}
	var res []clusterAlert
	for _, a := range out.Alerts {
		if a.RuleID == rule {
			res = append(res, a)
		}
	}
	return res
}

// checkClusterAlertAPI: the alerts the workers raised are the api process's: listed by
// GET /v1/alerts (one per dedup key), resolved there with an analyst's verdict that
// GET /v1/alerts/feedback counts, and the P2 alert opened an incident on it.
func checkClusterAlertAPI(t *testing.T, api *server, token string) {
	t.Helper()
	vol := clusterAlerts(t, api, token, "t.volume")
	keys := map[string]bool{}
	for _, a := range vol {
		keys[a.DedupKey] = true
		if a.State != "firing" {
			t.Errorf("alert %s is %s, want firing", a.DedupKey, a.State)
		}
	}
	if len(vol) != 3 || len(keys) != 3 {
		t.Fatalf("GET /v1/alerts lists %+v for t.volume, want one firing alert per model (3)", vol)
	}
	mal := clusterAlerts(t, api, token, "t.mallory")
	if len(mal) != 1 {
		t.Fatalf("GET /v1/alerts lists %+v for t.mallory, want one", mal)
	}
	code, body := api.do(t, "POST", "/v1/alerts/"+vol[0].ID+"/resolve", token, strings.NewReader(`{"actor":"analyst","comment":"load test","reason":"false_positive"}`))
	var res clusterAlert
	if code != 200 || json.Unmarshal(body, &res) != nil || res.State != "resolved" || res.Reason != "false_positive" {
		t.Fatalf("resolve %s as a false positive: %d %s", vol[0].ID, code, body)
	}
	code, body = api.do(t, "GET", "/v1/alerts/feedback", token, nil)
	var fb struct {
		Rules []struct {
			RuleID        string `json:"rule_id"`
			Alerts        int    `json:"alerts"`
			FalsePositive int    `json:"false_positive"`
		} `json:"rules"`
	}
	if code != 200 || json.Unmarshal(body, &fb) != nil {
		t.Fatalf("GET /v1/alerts/feedback: %d %s", code, body)
	}
	var found bool
	for _, r := range fb.Rules {
		if r.RuleID == "t.volume" {
			found = r.Alerts == 3 && r.FalsePositive == 1
		}
	}
	if !found {
		t.Fatalf("feedback %s: want t.volume with 3 alerts, 1 false positive", body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = api.do(t, "GET", "/v1/incidents", token, nil)
		var inc struct {
			Incidents []struct {
				ID       string   `json:"id"`
				AlertIDs []string `json:"alert_ids"`
			} `json:"incidents"`
		}
		if code != 200 || json.Unmarshal(body, &inc) != nil {
			t.Fatalf("GET /v1/incidents: %d %s", code, body)
		}
		if len(inc.Incidents) == 1 && slices.Contains(inc.Incidents[0].AlertIDs, mal[0].ID) {
			return
		}
		if len(inc.Incidents) > 1 || time.Now().After(deadline) {
			t.Fatalf("GET /v1/incidents: %s; want one incident, opened by alert %s", body, mal[0].ID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
