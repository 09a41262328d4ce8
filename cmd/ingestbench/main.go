// Command ingestbench loads a running Warden's POST /v1/events over loopback with NDJSON batches
// (default 100 events of ~1 KB text each) and reports durable events/s, request latency
// percentiles and the server's resident memory. Closed loop (-rate 0) finds the maximum
// sustained rate; open loop (-rate N batches/s) measures latency at a fixed offered load.
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
	pid := flag.Int("pid", 0, "server pid, to report its peak resident memory")
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
		fmt.Printf("server peak RSS: %.0f MB\n", float64(peakRSS.Load())/(1<<20))
	}
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
