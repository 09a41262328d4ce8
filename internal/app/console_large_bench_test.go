package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/rollup"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/sqlite"
)

// BenchmarkConsolePagesLarge measures every console page with a large index: 10 million events
// by default (WARDEN_BENCH_EVENTS=N for another size). Ingesting that many through the API
// would take most of an hour on two cores, so the data directory is filled directly, the way
// the followers of the audit log would fill it: the SQLite index (store.Apply, as the index
// writer does) and the daily rollup (fed the same events as log entries). Filling 10 M takes
// several minutes; WARDEN_BENCH_DATA=DIR keeps the filled directory for the next run. Then the
// server starts on that directory, 20,000 live events go through the API (for the live
// analyzer windows, alerts and incidents), and each page is fetched with an admin session.
//
//	go test ./internal/app -run '^$' -bench BenchmarkConsolePagesLarge -benchtime 20x -timeout 60m
func BenchmarkConsolePagesLarge(b *testing.B) {
	n := 10_000_000
	if s := os.Getenv("WARDEN_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("WARDEN_BENCH_EVENTS=%q: want a number ≥ 1000", s)
		}
		n = v
	}
	data := os.Getenv("WARDEN_BENCH_DATA")
	if data == "" {
		data = filepath.Join(b.TempDir(), "data")
	} else {
		data = filepath.Join(data, fmt.Sprintf("events-%d", n))
	}
	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		fillLarge(b, data, n)
		benchLargePages(b, data)
	})
}

// largeSpan is the time the synthetic events cover, ending now (a month's report reads them).
const largeSpan = 20 * 24 * time.Hour

// largeEvent is synthetic event i of n: two models, 500 users, 1 in 20 an access decision, 1 in
// 50 an error; latency, tokens and cost vary.
func largeEvent(i, n int, end time.Time) *event.Event {
	at := end.Add(-largeSpan + time.Duration(int64(largeSpan)/int64(n)*int64(i)))
	model := "bot"
	if i%3 == 0 {
		model = "scorer"
	}
	user := fmt.Sprintf("user-%d", i%500)
	if i%20 == 7 {
		dec := "allow"
		if i%60 == 7 {
			dec = "deny"
		}
		return &event.Event{ID: fmt.Sprintf("ev-%09d", i), Type: event.TypeAccess, Time: at, Environment: "prod", Model: event.Model{Name: model},
			Actor: event.Actor{User: user}, Source: event.Source{IP: fmt.Sprintf("10.1.%d.%d", i%250, i%200)}, Action: "invoke", Resource: model, Decision: dec}
	}
	lat, in, out, cost := float64(40+i%300), int64(20+i%50), int64(40+i%90), 0.0002
	status := "ok"
	if i%50 == 0 {
		status = "error"
	}
	return &event.Event{ID: fmt.Sprintf("ev-%09d", i), Type: event.TypeInference, Time: at, Environment: "prod", Model: event.Model{Name: model},
		Actor: event.Actor{User: user}, Source: event.Source{IP: fmt.Sprintf("10.1.%d.%d", i%250, i%200)},
		Request:  &event.Request{InputSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", InputTokens: &in},
		Response: &event.Response{Status: status, LatencyMS: &lat, OutputTokens: &out}, CostUSD: &cost}
}

// synthLog serves the synthetic events as audit-log entries to the rollup.
type synthLog struct {
	n   int
	end time.Time
}

func (l synthLog) Size() uint64 { return uint64(l.n) }
func (l synthLog) Read(from uint64, fn func(i uint64, id string, leaf, blob []byte) error) error {
	for i := from; i < uint64(l.n); i++ {
		ev := largeEvent(int(i), l.n, l.end)
		leaf, err := ev.Leaf()
		if err != nil {
			return err
		}
		if err := fn(i, ev.ID, leaf, nil); err != nil {
			return err
		}
	}
	return nil
}

// fillLarge fills data's index and rollup with n events unless a previous run did.
func fillLarge(b *testing.B, data string, n int) {
	done := filepath.Join(data, "bench-filled")
	if _, err := os.Stat(done); err == nil {
		b.Logf("reusing %s", data)
		return
	}
	if err := os.RemoveAll(data); err != nil {
		b.Fatal(err)
	}
	// The audit log's directory, empty: the server starts with no entries of its own.
	if err := os.MkdirAll(filepath.Join(data, "log"), 0o700); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	end := time.Now().UTC()
	t0 := time.Now()
	st, err := sqlite.Open(ctx, filepath.Join(data, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	for i := 0; i < n; i += batch {
		rows := make([]store.Row, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			ev := largeEvent(j, n, end)
			leaf, err := ev.Leaf()
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, store.Row{Seq: uint64(j), Event: ev, Leaf: leaf, Tier: "medium"})
		}
		if err := st.Apply(ctx, rows); err != nil {
			b.Fatal(err)
		}
		if i%1_000_000 == 0 && i > 0 {
			b.Logf("indexed %d events in %s", i, time.Since(t0).Round(time.Second))
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("index of %d events filled in %s", n, time.Since(t0).Round(time.Second))
	r, err := rollup.New(rollup.Options{Dir: filepath.Join(data, "aggregates"), Log: synthLog{n, end}, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- r.Run(rctx) }()
	for r.Position() < uint64(n) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.Logf("rollup filled after %s", time.Since(t0).Round(time.Second))
	if err := os.WriteFile(done, []byte(strconv.Itoa(n)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
}

func benchLargePages(b *testing.B, data string) {
	cfg, err := config.Parse([]byte("models:\n  - name: bot\n    risk_tier: high\n  - name: scorer\n    risk_tier: medium\n"))
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": testAdminToken, "WARDEN_INGEST_TOKEN": testIngestToken}
	a, err := New(context.Background(), Options{DataDir: data, Listen: "127.0.0.1:0", GatewayListen: "off", Config: cfg,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Stop(context.Background()) })
	// Live traffic for the analyzers (these entries are beyond what the filled index holds).
	client := &http.Client{}
	start := time.Now().UTC().Add(-20 * time.Second)
	for off := 0; off < 20_000; off += 2000 {
		var sb strings.Builder
		for i := off; i < off+2000; i++ {
			model := "bot"
			if i%3 == 0 {
				model = "scorer"
			}
			fmt.Fprintf(&sb, `{"type":"inference","time":%q,"model":{"name":%q},"actor":{"user":"user-%d"},"request":{"input":"question %d about my order","input_tokens":20},"response":{"output":"answer","output_tokens":40,"status":"ok","latency_ms":%d},"cost_usd":0.0002}`+"\n",
				start.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), model, i%500, i, 40+i%300)
		}
		req, _ := http.NewRequest("POST", "http://"+a.Addr()+"/v1/events", strings.NewReader(sb.String()))
		req.Header.Set("Authorization", "Bearer "+testIngestToken)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("ingest: %d", resp.StatusCode)
		}
	}
	for a.worker.Lag() > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := a.Users().Create(context.Background(), "bench", access.Admin, "bench-password-1"); err != nil && !strings.Contains(err.Error(), "exists") {
		b.Fatal(err)
	}
	cc := newConsoleClient(b, a)
	cc.do("GET", "/login", nil)
	cc.do("POST", "/login", url.Values{"csrf": {cc.csrf}, "username": {"bench"}, "password": {"bench-password-1"}})
	pages := []string{"/", "/alerts", "/incidents", "/models", "/models/bot", "/models/scorer",
		"/search", "/search?user=user-7&model=bot&since=24h", "/search?model=scorer&type=access", "/search?q=ev-000000042",
		"/audit", "/reports"}
	for _, p := range pages {
		b.Run("page="+p, func(b *testing.B) {
			cc.do("GET", p, nil) // warm: the first request after start reads cold pages
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				resp, _ := cc.do("GET", p, nil)
				ds = append(ds, time.Since(t0))
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", p, resp.StatusCode)
				}
			}
			reportP95(b, ds)
		})
	}
	// The API's search is not bounded (Query.Scan 0). Three requests, whatever -benchtime says.
	// (A text search of the API reads all 10 M rows and outlasts the server's write timeout.)
	for _, p := range []string{"/v1/events?model=scorer&type=access"} {
		b.Run("api="+p, func(b *testing.B) {
			var ds []time.Duration
			for range 3 {
				req, _ := http.NewRequest("GET", "http://"+a.Addr()+p, nil)
				req.Header.Set("Authorization", "Bearer "+testAdminToken)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				ds = append(ds, time.Since(t0))
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", p, resp.StatusCode)
				}
			}
			reportP95(b, ds)
		})
	}
	b.Run("report=monthly-uncached", func(b *testing.B) {
		now := time.Now().UTC()
		from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		var ds []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := (consoleBackend{a}).Report(context.Background(), report.Monthly, from, from.AddDate(0, 1, 0)); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		reportP95(b, ds)
	})
}
