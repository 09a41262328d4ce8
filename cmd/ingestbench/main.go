// Command ingestbench loads a running Warden's POST /v1/events over loopback with NDJSON batches
// (default 100 events of ~1 KB text each) and reports durable events/s, request latency
// percentiles and the server's resident memory and CPU time per event. Closed loop (-rate 0)
// finds the maximum rate; open loop (-rate N batches/s) measures latency at a fixed offered load.
// With -admin-token it then waits until the followers (index writer, analysis worker) have
// caught up and reports the drain time and the server's CPU time per event end to end, the
// figure that bounds the sustained rate (2 cores / CPU per event).
//
//	go run ./cmd/ingestbench -url http://127.0.0.1:7700 -token $WARDEN_INGEST_TOKEN -duration 30s
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:7700", "Warden API base URL")
	token := flag.String("token", os.Getenv("WARDEN_INGEST_TOKEN"), "ingest token")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	conns := flag.Int("c", 32, "concurrent connections (closed loop) or max in flight (open loop)")
	batch := flag.Int("batch", 100, "events per request")
	textSize := flag.Int("text", 1000, "bytes of input text per event")
	rate := flag.Float64("rate", 0, "open loop: requests per second (0 = closed loop, as fast as possible)")
	pid := flag.Int("pid", 0, "server pid, to report its peak resident memory and CPU time")
	adminToken := flag.String("admin-token", "", "admin token: after the run, wait for the followers to catch up (GET /metrics) and report end-to-end CPU per event")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "ingestbench: -token (or WARDEN_INGEST_TOKEN) is required")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns * 2, MaxConnsPerHost: *conns * 2}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	text := strings.Repeat("x", *textSize)
	words := strings.Fields(strings.Repeat("the quick brown fox jumps over the lazy dog while users ask about refunds and invoices ", 40))
	var seq atomic.Int64
	body := func() []byte {
		var b bytes.Buffer
		n := seq.Add(int64(*batch)) - int64(*batch)
		for i := range *batch {
			k := n + int64(i)
			var t strings.Builder
			for t.Len() < len(text) {
				t.WriteString(words[(k*7+int64(t.Len()))%int64(len(words))])
				t.WriteByte(' ')
			}
			fmt.Fprintf(&b, `{"type":"inference","time":"%s","model":{"name":"bench-%d"},"actor":{"user":"user-%d"},"request":{"input":%q,"input_tokens":250},"response":{"output":"ok","output_tokens":1,"latency_ms":%d}}`+"\n",
				time.Now().UTC().Format(time.RFC3339Nano), k%10, k%1000, t.String()[:len(text)], 50+k%100)
		}
		return b.Bytes()
	}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		accepted atomic.Int64
		rejected atomic.Int64
		failed   atomic.Int64
	)
	send := func(ctx context.Context, payload []byte) {
		req, _ := http.NewRequestWithContext(ctx, "POST", *url+"/v1/events", bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				failed.Add(1)
			}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		switch resp.StatusCode {
		case http.StatusAccepted:
			accepted.Add(int64(*batch))
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		case http.StatusTooManyRequests:
			rejected.Add(1)
		default:
			failed.Add(1)
		}
	}
	// Pre-build payloads so the generator's own JSON work stays off the measurement.
	payloads := make([][]byte, 256)
	for i := range payloads {
		payloads[i] = body()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var peakRSS atomic.Int64
	if *pid > 0 {
		go func() {
			for ctx.Err() == nil {
				if r := rss(*pid); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	cpu0 := cpuTime(*pid)
	start := time.Now()
	var wg sync.WaitGroup
	if *rate <= 0 {
		for c := range *conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; ctx.Err() == nil; i += *conns {
					send(ctx, payloads[i%len(payloads)])
				}
			}()
		}
	} else {
		sem := make(chan struct{}, *conns)
		interval := time.Duration(float64(time.Second) / *rate)
		next := time.Now()
		for i := 0; ctx.Err() == nil; i++ {
			next = next.Add(interval)
			time.Sleep(time.Until(next))
			select {
			case sem <- struct{}{}:
			default:
				rejected.Add(1) // generator saturated: counts as a miss of the offered load
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				send(ctx, payloads[i%len(payloads)])
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("events accepted: %d in %s = %.0f events/s (batch %d, text %d B, %d conns, rate %v)\n",
		accepted.Load(), elapsed.Round(time.Millisecond), float64(accepted.Load())/elapsed.Seconds(), *batch, *textSize, *conns, *rate)
	fmt.Printf("request latency: p50 %s  p90 %s  p99 %s  max %s\n", pct(0.5), pct(0.9), pct(0.99), pct(1))
	fmt.Printf("429 responses: %d, failures: %d\n", rejected.Load(), failed.Load())
	if *pid > 0 {
		cpu := cpuTime(*pid) - cpu0
		fmt.Printf("server peak RSS: %.0f MB; server CPU during the run: %s = %.1f µs per accepted event\n",
			float64(peakRSS.Load())/(1<<20), cpu, float64(cpu.Microseconds())/max(1, float64(accepted.Load())))
	}
	if *adminToken != "" && *pid > 0 {
		drainStart := time.Now()
		for time.Since(drainStart) < 10*time.Minute {
			lag, err := followerLag(client, *url, *adminToken)
			if err != nil {
				fmt.Fprintln(os.Stderr, "ingestbench:", err)
				return
			}
			if lag == 0 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		cpu := cpuTime(*pid) - cpu0
		fmt.Printf("followers caught up %s after the run; server CPU end to end: %s = %.1f µs per accepted event\n",
			time.Since(drainStart).Round(100*time.Millisecond), cpu, float64(cpu.Microseconds())/max(1, float64(accepted.Load())))
	}
}

// followerLag sums warden_index_lag_entries and warden_analysis_lag_entries from GET /metrics.
func followerLag(client *http.Client, url, token string) (float64, error) {
	req, err := http.NewRequest("GET", url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read metrics: status %d", resp.StatusCode)
	}
	var lag float64
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		for _, name := range []string{"warden_index_lag_entries ", "warden_analysis_lag_entries "} {
			if v, ok := strings.CutPrefix(line, name); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0, fmt.Errorf("parse %s: %w", name, err)
				}
				lag += f
				seen++
			}
		}
	}
	if seen == 0 {
		return 0, fmt.Errorf("no follower lag metrics in GET /metrics")
	}
	return lag, nil
}

// cpuTime is the user+system CPU time of process pid (from /proc/<pid>/stat), 0 if unknown.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
