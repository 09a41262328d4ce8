package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/bus"
	"github.com/warden-ai/warden/internal/notify/webhook"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

// natsProc is a real nats-server with JetStream on a port and store of its own.
type natsProc struct {
	t           *testing.T
	port, store string
	cmd         *exec.Cmd
	out         *bytes.Buffer
}

func startNATSProc(t *testing.T) *natsProc {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("nats-server is required (apt-get install nats-server)")
		}
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	n := &natsProc{t: t, port: port, store: t.TempDir()}
	n.start(bin)
	t.Cleanup(n.kill)
	return n
}

func (n *natsProc) url() string { return "nats://127.0.0.1:" + n.port }

func (n *natsProc) start(bin string) {
	n.t.Helper()
	n.out = new(bytes.Buffer)
	n.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", n.port, "-js", "-sd", n.store)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	waitDial(n.t, "127.0.0.1:"+n.port)
}

func (n *natsProc) restart() { n.start(n.cmd.Path) }

func (n *natsProc) kill() {
	if n.cmd != nil && n.cmd.ProcessState == nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
}

func waitDial(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgSchema makes a schema of its own in the machine's PostgreSQL and returns a DSN that uses it.
func pgSchema(t *testing.T, hostport string) (dsn string, conn *pgx.Conn, schema string) {
	t.Helper()
	base := os.Getenv("WARDEN_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is required (127.0.0.1:5432, database test): %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "warden_cluster_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	dsn = strings.Replace(base, "127.0.0.1:5432", hostport, 1) + "&search_path=" + schema
	return dsn, conn, schema
}

// clusterEnv is what every process of one test cluster shares: config and tokens.
type clusterEnv struct {
	cfg          string
	admin, ingst string
}

func newClusterEnv(t *testing.T, natsURL, dsn string, extraConfig ...string) clusterEnv {
	t.Helper()
	return newClusterEnvBus(t, "", natsURL, dsn, extraConfig...)
}

// newClusterEnvBus is newClusterEnv with more settings of the bus section (e.g. "  replicas: 3\n").
func newClusterEnvBus(t *testing.T, bus, natsURL, dsn string, extraConfig ...string) clusterEnv {
	t.Helper()
	var b [12]byte
	_, _ = rand.Read(b[:])
	env := clusterEnv{cfg: filepath.Join(t.TempDir(), "warden.yaml"), admin: "adm-" + hex.EncodeToString(b[:]), ingst: "ing-" + hex.EncodeToString(b[:])}
	cfg := fmt.Sprintf("store:\n  driver: postgres\n  dsn: %q\nbus:\n  driver: nats\n  url: %q\n  lease_ttl: 2s\n  ack_wait: 2s\n", dsn, natsURL) + bus + strings.Join(extraConfig, "")
	if err := os.WriteFile(env.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return env
}

// startRole runs `warden serve --role ROLE` of the cluster and waits for /readyz; data, when
// given, is its data directory (default: a new one).
func (e clusterEnv) startRole(t *testing.T, role string, data ...string) *server {
	t.Helper()
	s := e.launchRole(t, role, data...)
	s.waitReady(t, 30*time.Second)
	return s
}

// launchRole starts `warden serve --role ROLE` without waiting for it to be ready.
func (e clusterEnv) launchRole(t *testing.T, role string, data ...string) *server {
	t.Helper()
	s := &server{addr: freeAddr(t), gw: freeAddr(t), data: t.TempDir(), stderr: new(bytes.Buffer), admin: e.admin, ingt: e.ingst}
	if len(data) > 0 {
		s.data = data[0]
	}
	s.cmd = exec.Command(wardenBin, "serve", "--role", role, "--config", e.cfg, "--data", s.data, "--listen", s.addr, "--gateway-listen", s.gw)
	s.cmd.Env = append(os.Environ(), "WARDEN_ADMIN_TOKEN="+e.admin, "WARDEN_INGEST_TOKEN="+e.ingst)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			_ = s.cmd.Wait()
		}
	})
	return s
}

func (s *server) waitReady(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not become ready: %v\n%s", s.cmd.Args[1:4], err, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends events and returns the status, body and Retry-After.
func post(addr, token string, body []byte) (int, []byte, string, error) {
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Retry-After"), nil
}

// indexed returns how many rows, and distinct ids, the shared index holds.
func indexed(t *testing.T, conn *pgx.Conn, schema string) (rows, ids int) {
	t.Helper()
	err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT id) FROM "+schema+".warden_events").Scan(&rows, &ids)
	if err != nil {
		t.Fatal(err)
	}
	return rows, ids
}

func waitIndexed(t *testing.T, conn *pgx.Conn, schema string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		rows, ids := indexed(t, conn, schema)
		if rows == want && ids == want {
			return
		}
		if rows > want || time.Now().After(deadline) {
			t.Fatalf("index holds %d rows / %d distinct ids, want %d", rows, ids, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ndjsonNow is ndjson with event times of now (the rules' windows run in event time and the
// workers tick with the wall clock).
func ndjsonNow(prefix string, from, n int, t0 time.Time) []byte {
	var b bytes.Buffer
	text := strings.Repeat("lorem ipsum dolor sit amet ", 37) // ~1 KB
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"id":"%s-%d","type":"inference","time":%q,"model":{"name":"bot-%d"},"actor":{"user":"user-%d"},"request":{"input":%q},"response":{"output":"fine","latency_ms":12}}`+"\n",
			prefix, i, t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i%3, i%7, text)
	}
	return b.Bytes()
}

// alertHook is a webhook receiver that records, per dedup key, the ids of the alerts notified
// as firing (a dedup key begins with the rule id).
type alertHook struct {
	*httptest.Server
	mu     sync.Mutex
	firing map[string]map[string]int // dedup key → alert id → notifications
}

func newAlertHook(t *testing.T, secret string) *alertHook {
	h := &alertHook{firing: map[string]map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, []byte(secret), 5*time.Minute, time.Now()); err != nil {
			t.Errorf("webhook signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p struct {
			Kind     string `json:"kind"`
			Reminder bool   `json:"reminder"`
			Alerts   []struct {
				ID       string `json:"id"`
				RuleID   string `json:"rule_id"`
				DedupKey string `json:"dedup_key"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		h.mu.Lock()
		for _, a := range p.Alerts {
			if p.Kind == "firing" {
				if h.firing[a.DedupKey] == nil {
					h.firing[a.DedupKey] = map[string]int{}
				}
				h.firing[a.DedupKey][a.ID]++
			}
		}
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

// alerts returns, per dedup key of the rules whose id starts with prefix, how many distinct
// alerts were notified as firing.
func (h *alertHook) alerts(prefix string) map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, ids := range h.firing {
		if strings.HasPrefix(k, prefix) {
			out[k] = len(ids)
		}
	}
	return out
}

// ownedPartitions reads a worker's partitions from its /readyz.
func ownedPartitions(t *testing.T, s *server, token string) []int {
	t.Helper()
	code, body := s.do(t, "GET", "/readyz", token, nil)
	var r struct {
		Owned []int `json:"partitions_owned"`
	}
	if code != 200 || json.Unmarshal(body, &r) != nil {
		return nil
	}
	return r.Owned
}

// testCluster is the distributed mode as the goal describes it: a 3-node NATS
// JetStream cluster started by the test (streams and buckets with 3 replicas), the machine's
// PostgreSQL (a schema of its own), and 1 api + 2 ingest + 2 worker + 1 gateway processes of
// the binary.
type testCluster struct {
	nats    *natsClusterProcs
	env     clusterEnv
	conn    *pgx.Conn
	schema  string
	api     *server
	ingest  []*server
	workers []*server
	gw      *server
}

// startTestCluster starts the cluster with config (models, rules, receivers …) added to every
// process's config; gwData is the gateway's data directory (its virtual keys are made there
// before the start), "" for a new one. The api process starts first (it creates nothing the
// others need, but it makes the appender's lease certain), then the rest together.
func startTestCluster(t *testing.T, config, gwData string) *testCluster {
	t.Helper()
	c := &testCluster{nats: startNATSClusterProcs(t, 3)}
	var dsn string
	dsn, c.conn, c.schema = pgSchema(t, "127.0.0.1:5432")
	c.env = newClusterEnvBus(t, "  replicas: 3\n", c.nats.url(), dsn, config)
	if gwData == "" {
		gwData = t.TempDir()
	}
	c.api = c.env.startRole(t, "api")
	procs := []*server{c.env.launchRole(t, "ingest"), c.env.launchRole(t, "ingest"), c.env.launchRole(t, "worker"), c.env.launchRole(t, "worker"), c.env.launchRole(t, "gateway", gwData)}
	for _, p := range procs {
		p.waitReady(t, 60*time.Second)
	}
	c.ingest, c.workers, c.gw = procs[0:2], procs[2:4], procs[4]
	return c
}

// waitSettled waits until the appender has appended everything the stream holds and the
// workers have indexed and analysed (acknowledged) everything appended.
func (c *testCluster) waitSettled(t *testing.T, what string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := c.api.do(t, "GET", "/readyz", c.env.admin, nil)
		if code == 200 && bytes.Contains(body, []byte(`"appender_leader":true`)) && bytes.Contains(body, []byte(`"index_lag":0,`)) && bytes.Contains(body, []byte(`"append_lag":0,`)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: api readyz %d %s", what, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendAcked posts one request of events and, as a client should, re-sends it while it is
// answered 503 (NATS losing a node: the ids make re-sending idempotent); it returns the
// acknowledged ids. Anything but 202 or 503 fails the test.
func sendAcked(t *testing.T, addr, token string, body []byte, n int, resent *atomic.Int64) ([]string, bool) {
	deadline := time.Now().Add(90 * time.Second)
	for try := 0; ; try++ {
		if try > 0 {
			resent.Add(1)
		}
		code, resp, retry, err := post(addr, token, body)
		if err == nil && code == 202 {
			var res struct{ IDs []string }
			if err := json.Unmarshal(resp, &res); err != nil || len(res.IDs) != n {
				t.Errorf("202 body %s: %v", resp, err)
				return nil, false
			}
			return res.IDs, true
		}
		if err == nil && (code != 503 || retry == "") || time.Now().After(deadline) {
			t.Errorf("post to %s: %d %s (Retry-After %q) %v", addr, code, resp, retry, err)
			return nil, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterRoles is the distributed mode's goal test, in one run: 2 ingest, 2 workers,
// 1 gateway and 1 api process of the binary on a 3-node NATS cluster (replicas 3) and the
// machine's PostgreSQL. The workers split the model partitions; while events stream in, one
// worker that owns a model's partition is killed with SIGKILL, and so is the NATS node leading
// the events stream (where the appender's consumer lives); clients re-send what is answered
// 503. Every acknowledged event must be appended and indexed exactly once and have an
// inclusion proof from the api process; a rule that counts each model's events to the last one
// must fire exactly once per model (the survivor resumes the dead worker's windows from the
// partition state, and the alert manager on the api de-duplicates what it raises again); one alert raised
// by both workers is notified once; the gateway's calls reach the index too; the api's log
// verifies.
func TestClusterRoles(t *testing.T) {
	start := time.Now()
	sim := httptest.NewServer(upstreamsim.New(upstreamsim.Options{}))
	defer sim.Close()
	const senders, batches, per = 4, 24, 40 // 3,840 events of ~1 KB
	// bot-0 gets 1,280 events, bot-1 and bot-2 as many: the rule fires at each model's 1,280th,
	// which only a window that saw all of them (across both kills) reaches.
	rulesDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rulesDir, "volume.yaml"), []byte(`rules:
  - id: t.volume
    severity: P3
    select: {types: [inference]}
    condition: "true"
    aggregate: {kind: event_count, group_by: [event.model], timespan: 1h, threshold: ">= 1280"}
  - id: t.mallory
    severity: P2
    select: {types: [inference]}
    condition: actor.id == 'mallory'
    dedup_by: [actor.id]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "cluster-e2e-webhook-secret"
	hook := newAlertHook(t, secret)
	t.Setenv("CLUSTER_E2E_SECRET", secret)
	gwData := t.TempDir()
	code, out, errs := runCLI(t, "keys", "create", "--data", gwData, "--consumer", "alice", "--groups", "support")
	lines := strings.Fields(out)
	if code != 0 || len(lines) == 0 {
		t.Fatalf("keys create: %d %s %s", code, out, errs)
	}
	vkey := lines[len(lines)-1]
	c := startTestCluster(t, fmt.Sprintf(`models:
  - name: support-bot
    allowed_groups: [support]
    upstream: {url: %q, model: sim-model}
rules_dir: %s
receivers:
  - name: soc
    webhook: {url: %s, secret_env: CLUSTER_E2E_SECRET}
escalation:
  P2: [{after: 0s, receivers: [soc]}]
  P3: [{after: 0s, receivers: [soc]}]
response: {group_wait: 0s}
`, sim.URL+"/v1", rulesDir, hook.URL), gwData)
	api, ingest, workers, gw, env, conn, schema := c.api, c.ingest, c.workers, c.gw, c.env, c.conn, c.schema
	t.Logf("cluster up after %v", time.Since(start).Round(time.Millisecond))

	// Role routing: ingest answers ingest only, api everything else.
	if code, body := ingest[0].do(t, "GET", "/v1/events?limit=1", env.admin, nil); code != 404 {
		t.Fatalf("search on an ingest process: %d %s", code, body)
	}
	if code, body := api.do(t, "POST", "/v1/events", env.ingst, bytes.NewReader(ndjson("x", 0, 1))); code != 404 {
		t.Fatalf("ingest on the api process: %d %s", code, body)
	}
	// The workers split the 16 partitions: each owned by exactly one.
	var owned [2][]int
	deadline := time.Now().Add(60 * time.Second)
	for {
		owned[0], owned[1] = ownedPartitions(t, workers[0], env.admin), ownedPartitions(t, workers[1], env.admin)
		all := slices.Sorted(slices.Values(append(slices.Clone(owned[0]), owned[1]...)))
		if len(owned[0]) > 0 && len(owned[1]) > 0 && slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions owned: %v and %v, want the 16 split between the two workers", owned[0], owned[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The victim is a worker that owns a model's partition (the other one may own none of them).
	victim := 0
	if !slices.Contains(owned[0], bus.Partition("bot-0", 16)) && !slices.Contains(owned[0], bus.Partition("bot-1", 16)) && !slices.Contains(owned[0], bus.Partition("bot-2", 16)) {
		victim = 1
	}
	survivor := workers[1-victim]

	// Alerts across workers: one actor's events in two models whose partitions are on
	// different workers raise the same alert (dedup key t.mallory|mallory) on both; both raises
	// reach the api process's alert manager through the ALERTS stream, which records one alert
	// (count 2), notifies it once and opens one incident for it (P2).
	var models [2]string
	for i := 0; models[0] == "" || models[1] == ""; i++ {
		m := fmt.Sprintf("dd-%d", i)
		for w := range 2 {
			if models[w] == "" && slices.Contains(owned[w], bus.Partition(m, 16)) {
				models[w] = m
			}
		}
	}
	var mb bytes.Buffer
	for i, m := range models {
		fmt.Fprintf(&mb, `{"id":"mallory-%d","type":"inference","time":%q,"model":{"name":%q},"actor":{"user":"mallory"},"response":{"output":"ok","latency_ms":3}}`+"\n",
			i, time.Now().UTC().Format(time.RFC3339Nano), m)
	}
	if code, body, _, err := post(ingest[0].addr, env.ingst, mb.Bytes()); err != nil || code != 202 {
		t.Fatalf("mallory's events: %d %s %v", code, body, err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		als := clusterAlerts(t, api, env.admin, "t.mallory")
		if got := hook.alerts("t."); len(als) == 1 && als[0].Count == 2 && got["t.mallory|mallory"] == 1 {
			break
		} else if time.Now().After(deadline) || len(als) > 1 || got["t.mallory|mallory"] > 1 {
			t.Fatalf("mallory's alert raised by two workers: the api lists %+v, the webhook got %v; want one alert of count 2, notified once", als, got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var mu sync.Mutex
	var acked []string
	var natsKilled bool
	var afterKill int // requests acknowledged after the NATS node's kill
	var resent atomic.Int64
	t0 := time.Now().UTC()
	// Batches [from, to) of every sender, alternating between the ingest processes. With
	// faults, sender 0 kills the victim worker before its second batch, and the sender whose
	// request makes a third of them acknowledged kills the NATS node leading the events stream,
	// while the other senders' requests are in flight.
	send := func(from, to int, faults bool) {
		var wg sync.WaitGroup
		var done atomic.Int64
		leader := -1
		if faults { // asked before: the kill itself must be quick, with the other senders' requests in flight
			leader = c.nats.streamLeader(t, "WARDEN")
		}
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := from; b < to; b++ {
					if faults && s == 0 && b == from+1 {
						_ = workers[victim].cmd.Process.Kill() // SIGKILL mid-stream
						_ = workers[victim].cmd.Wait()
					}
					ids, ok := sendAcked(t, ingest[(s+b)%2].addr, env.ingst, ndjsonNow(fmt.Sprintf("cl%d", s), b*per, per, t0), per, &resent)
					if !ok {
						return
					}
					mu.Lock()
					acked = append(acked, ids...)
					if natsKilled {
						afterKill++
					}
					mu.Unlock()
					if faults && done.Add(1) == int64(senders*(to-from)/3) {
						c.nats.nodes[leader].kill() // SIGKILL mid-stream
						mu.Lock()
						natsKilled = true
						mu.Unlock()
						t.Logf("NATS node n%d (leader of the events stream) killed after %v", leader, time.Since(start).Round(time.Millisecond))
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	// First a third, analysed and acknowledged, so that the victim's partitions have state;
	// then the rest, with the victim and a NATS node killed.
	send(0, batches/3, false)
	// Besides the events sent, the log and the index hold what the cluster made itself: the
	// access event of the incident mallory's P2 alert opened on the api process.
	const made = 1
	waitIndexed(t, conn, schema, senders*(batches/3)*per+len(models)+made, 60*time.Second)
	c.waitSettled(t, "first third analysed", 60*time.Second)
	t.Logf("first third settled after %v", time.Since(start).Round(time.Millisecond))
	send(batches/3, batches, true)
	t.Logf("all acknowledged after %v; %d requests acknowledged after the NATS node's kill, %d re-sent after a 503", time.Since(start).Round(time.Millisecond), afterKill, resent.Load())
	if !natsKilled || afterKill == 0 {
		t.Fatalf("the NATS node was not killed mid-stream (killed: %v, requests acknowledged after: %d)", natsKilled, afterKill)
	}
	want := senders*batches*per + len(models) + made // mallory's two, the incident's
	if len(acked)+len(models)+made != want {
		t.Fatalf("%d events acknowledged, want %d", len(acked), want-len(models)-made)
	}
	waitIndexed(t, conn, schema, want, 90*time.Second)
	var missing int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM unnest($1::text[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM "+schema+".warden_events e WHERE e.id = a.id)", acked).Scan(&missing); err != nil || missing != 0 {
		t.Fatalf("%d acknowledged events not indexed (%v)", missing, err)
	}
	// The killed worker may have written its last batch without acknowledging it: that batch
	// counts as lag until the survivor takes the partition over and re-indexes it (same rows).
	c.waitSettled(t, "after the kills", 90*time.Second)
	t.Logf("settled after the kills after %v", time.Since(start).Round(time.Millisecond))
	if rows, ids := indexed(t, conn, schema); rows != want || ids != want {
		t.Fatalf("after redelivery the index holds %d rows / %d ids, want %d", rows, ids, want)
	}
	checkProofs(t, api, env.admin, acked)
	code, body := api.do(t, "GET", "/v1/events?model=bot-1&limit=5", env.admin, nil)
	var page struct {
		Events []json.RawMessage `json:"events"`
	}
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Events) != 5 {
		t.Fatalf("search on the api process: %d %s", code, body)
	}
	// The survivor owns every partition now, and each model's alert fired once.
	deadline = time.Now().Add(60 * time.Second)
	for {
		got := hook.alerts("t.")
		if len(ownedPartitions(t, survivor, env.admin)) == 16 && len(got) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("survivor owns %v; alerts notified per dedup key: %v (want 3 models and mallory)\n%s", ownedPartitions(t, survivor, env.admin), got, survivor.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for k, n := range hook.alerts("t.") {
		if n != 1 {
			t.Errorf("alert %s notified as %d distinct alerts, want 1", k, n)
		}
	}
	checkClusterAlertAPI(t, api, env.admin)

	// The gateway's calls become events on the same bus, indexed by the workers.
	const calls = 10
	for i := range calls {
		req, _ := http.NewRequest("POST", "http://"+gw.gw+"/v1/chat/completions", strings.NewReader(fmt.Sprintf(`{"model":"support-bot","messages":[{"role":"user","content":"where is order %d?"}]}`, i)))
		req.Header.Set("Authorization", "Bearer "+vkey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("gateway call %d: %d %s", i, resp.StatusCode, b)
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".warden_events WHERE model = 'support-bot' AND type = 'inference'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == calls {
			break
		}
		if n > calls || time.Now().After(deadline) {
			t.Fatalf("%d gateway inference events indexed, want %d\n%s", n, calls, gw.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.waitSettled(t, "after the gateway calls", 30*time.Second)
	rows, ids := indexed(t, conn, schema)
	if rows != ids {
		t.Fatalf("index holds %d rows for %d ids", rows, ids)
	}
	// Every event appended exactly once: the log holds as many entries as the index ids.
	var counts struct {
		Entries uint64 `json:"audit_entries"`
	}
	if code, body := api.do(t, "GET", "/readyz", env.admin, nil); code != 200 || json.Unmarshal(body, &counts) != nil || counts.Entries != uint64(ids) {
		t.Fatalf("api readyz: %d %s (want %d audit entries: each event once)", code, body, ids)
	}
	api.stop(t)
	if code, out, errs := runCLI(t, "audit", "verify", "--data", api.data); code != 0 || !strings.Contains(out, fmt.Sprint(counts.Entries)) {
		t.Fatalf("audit verify: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
}

// checkProofs asks the api process for the inclusion proof of every id, 8 at a time.
func checkProofs(t *testing.T, api *server, token string, ids []string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				req, _ := http.NewRequest("GET", "http://"+api.addr+"/v1/audit/proof/"+ids[i], nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- fmt.Sprintf("proof of %s: %v", ids[i], err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"checkpoint"`)) {
					errs <- fmt.Sprintf("proof of %s: %d %s", ids[i], resp.StatusCode, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestClusterNATSDownAtStart: a process whose NATS is not there exits with an error naming the URL.
func TestClusterNATSDownAtStart(t *testing.T) {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	url := "nats://127.0.0.1:" + port
	env := newClusterEnv(t, url, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	cmd := exec.Command(wardenBin, "serve", "--role", "ingest", "--config", env.cfg, "--data", t.TempDir(), "--listen", freeAddr(t), "--gateway-listen", "off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(stderr.String(), url) {
			t.Fatalf("exit %v, stderr %q: want a failure naming %s", err, stderr.String(), url)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("serve kept running without NATS: %s", stderr.String())
	}
}

// pgProxy forwards TCP to the machine's PostgreSQL and can cut every connection, to take the
// real database away from a worker and give it back.
type pgProxy struct {
	t     *testing.T
	addr  string
	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startPGProxy(t *testing.T) *pgProxy {
	p := &pgProxy{t: t, addr: freeAddr(t)}
	p.listen()
	t.Cleanup(p.cut)
	return p
}

func (p *pgProxy) listen() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", "127.0.0.1:5432")
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestClusterFaults: NATS lost while running → ingest answers 503 with Retry-After and resumes
// after reconnection; PostgreSQL lost → the worker's /readyz fails naming the index lag while
// ingest keeps acknowledging; both back → every acknowledged event indexed once.
func TestClusterFaults(t *testing.T) {
	ns := startNATSProc(t)
	proxy := startPGProxy(t)
	dsn, conn, schema := pgSchema(t, proxy.addr)
	env := newClusterEnv(t, ns.url(), dsn)
	api := env.startRole(t, "api")
	ing := env.startRole(t, "ingest")
	wk := env.startRole(t, "worker")
	sent := 0
	send := func(prefix string, wantCode int) {
		t.Helper()
		code, body, retry, err := post(ing.addr, env.ingst, ndjson(prefix, 0, 50))
		if err != nil || code != wantCode {
			t.Fatalf("post %s: %d %s %v, want %d", prefix, code, body, err, wantCode)
		}
		if code == 503 && retry == "" {
			t.Fatalf("503 without Retry-After: %s", body)
		}
		if code == 202 {
			sent += 50
		}
	}
	send("before", 202)
	waitIndexed(t, conn, schema, sent, 30*time.Second)

	// NATS goes away: 503 + Retry-After, readyz says why; it comes back: 202 again.
	ns.kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, retry, err := post(ing.addr, env.ingst, ndjson("down", 0, 50))
		if err == nil && code == 503 && retry != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest while NATS is down: %d %v", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := ing.do(t, "GET", "/readyz", "", nil); code != 503 || !strings.Contains(string(body), ns.url()) {
		t.Fatalf("ingest readyz while NATS is down: %d %s", code, body)
	}
	ns.restart()
	ing.waitReady(t, 15*time.Second)
	send("after", 202)
	waitIndexed(t, conn, schema, sent, 30*time.Second)

	// PostgreSQL goes away (for the api and the worker): ingest continues, the worker's readyz
	// reports the index lag, and the backlog drains once it is back.
	proxy.cut()
	send("pgdown1", 202)
	send("pgdown2", 202)
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, body := wk.do(t, "GET", "/readyz", "", nil)
		if code == 503 && strings.Contains(string(body), "index lag") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker readyz while PostgreSQL is down: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	proxy.listen()
	waitIndexed(t, conn, schema, sent, 60*time.Second)
	wk.waitReady(t, 20*time.Second)
	api.waitReady(t, 20*time.Second)
}

// natsClusterProcs is a 3-node JetStream cluster of nats-server processes.
type natsClusterProcs struct {
	nodes []*natsProc
}

func startNATSClusterProcs(t *testing.T, n int) *natsClusterProcs {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	c := &natsClusterProcs{}
	var routes []string
	for range n {
		_, port, _ := net.SplitHostPort(freeAddr(t))
		_, rport, _ := net.SplitHostPort(freeAddr(t))
		c.nodes = append(c.nodes, &natsProc{t: t, port: port, store: t.TempDir()})
		routes = append(routes, rport)
	}
	for i, nd := range c.nodes {
		var rs []string
		for j, r := range routes {
			if j != i {
				rs = append(rs, "nats://127.0.0.1:"+r)
			}
		}
		nd.out = new(bytes.Buffer)
		nd.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", nd.port, "-js", "-sd", nd.store, "--server_name", fmt.Sprintf("n%d", i),
			"--cluster_name", "warden", "--cluster", "nats://127.0.0.1:"+routes[i], "--routes", strings.Join(rs, ","))
		nd.cmd.Stdout, nd.cmd.Stderr = nd.out, nd.out
		if err := nd.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nd.kill)
	}
	for _, nd := range c.nodes {
		waitDial(t, "127.0.0.1:"+nd.port)
	}
	c.waitFormed(t)
	return c
}

// waitFormed waits until the cluster places a stream with 3 replicas (a metadata leader
// elected, every node a JetStream peer): on a loaded machine that takes a while, and the roles
// would fail their start meanwhile.
func (c *natsClusterProcs) waitFormed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := func() error {
			nc, err := nats.Connect(c.url())
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := natsjs.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "FORMED", Subjects: []string{"formed"}, Replicas: 3, Storage: natsjs.MemoryStorage}); err != nil {
				return err
			}
			return js.DeleteStream(ctx, "FORMED")
		}()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS cluster did not form: %v\n%s", err, c.nodes[0].out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (c *natsClusterProcs) url() string {
	u := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		u[i] = nd.url()
	}
	return strings.Join(u, ",")
}

// streamLeader asks the cluster which node leads a stream.
func (c *natsClusterProcs) streamLeader(t *testing.T, stream string) int {
	t.Helper()
	nc, err := nats.Connect(c.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var n int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &n); err != nil {
		t.Fatalf("leader %q of %s: %v", info.Cluster.Leader, stream, err)
	}
	return n
}
