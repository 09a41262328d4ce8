package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/report"
)

// BenchmarkConsolePages measures each console page over HTTP (login session, full render) with
// N events in the index (10k and 100k by default; WARDEN_BENCH_EVENTS=10000000 for the goal's
// size), reporting the p95 per page, and the monthly report's aggregation uncached.
//
//	go test ./internal/app -run XXX -bench BenchmarkConsolePages -benchtime 50x
func BenchmarkConsolePages(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if s := os.Getenv("WARDEN_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) { benchPages(b, n) })
	}
}

func benchPages(b *testing.B, n int) {
	cfg, err := config.Parse([]byte("models:\n  - name: bot\n    risk_tier: high\n  - name: scorer\n    risk_tier: medium\n"))
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": testAdminToken, "WARDEN_INGEST_TOKEN": testIngestToken}
	a, err := New(context.Background(), Options{DataDir: b.TempDir() + "/data", Listen: "127.0.0.1:0", GatewayListen: "off", Config: cfg,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Stop(context.Background()) })
	start := time.Now().UTC().Add(-time.Duration(n) * time.Millisecond)
	client := &http.Client{}
	for off := 0; off < n; off += 2000 {
		var sb strings.Builder
		for i := off; i < min(n, off+2000); i++ {
			model := "bot"
			if i%3 == 0 {
				model = "scorer"
			}
			fmt.Fprintf(&sb, `{"type":"inference","time":%q,"model":{"name":%q},"actor":{"user":"user-%d"},"source":{"ip":"10.1.%d.%d"},"request":{"input":"question %d about my order","input_tokens":20},"response":{"output":"answer","output_tokens":40,"status":"ok","latency_ms":%d},"cost_usd":0.0002}`+"\n",
				start.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), model, i%500, i%250, i%200, i, 40+i%300)
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
	for a.indexer.Lag() > 0 || a.worker.Lag() > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := a.Users().Create(context.Background(), "bench", access.Admin, "bench-password-1"); err != nil {
		b.Fatal(err)
	}
	cc := newConsoleClient(b, a)
	cc.do("GET", "/login", nil)
	cc.do("POST", "/login", url.Values{"csrf": {cc.csrf}, "username": {"bench"}, "password": {"bench-password-1"}})
	pages := []string{"/", "/alerts", "/incidents", "/models", "/models/bot", "/search?user=user-7&model=bot&since=24h", "/audit", "/reports"}
	for _, p := range pages {
		b.Run("page="+p, func(b *testing.B) {
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

func reportP95(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[(len(ds)*95+99)/100-1].Microseconds())/1000, "p95-ms")
}
