// Command gwbench measures the latency the Warden gateway adds in front of the simulated
// upstream model. In one process it starts the simulated upstream and the gateway on loopback,
// then, for each rate, drives an open-loop load (requests are sent on schedule whether or not
// earlier ones finished; latency counts from the scheduled time) first directly at the upstream
// and then through the gateway, with 1 KB chat prompts, and prints p50/p90/p99/max, errors,
// the added latency, CPU time per request and resident memory.
//
//	go run ./cmd/gwbench -rates 1000,5000 -duration 10s -scan=false
//	go run ./cmd/gwbench -rates 1000,5000 -duration 10s -scan=true
//	go run ./cmd/gwbench -rates 1000 -duration 10s -cpuprofile /tmp/gwbench.prof
//
// With -cpuprofile the gateway phase of each rate is profiled (the file holds the last rate).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/gateway"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

func main() {
	rates := flag.String("rates", "1000,5000", "comma-separated request rates (req/s)")
	duration := flag.Duration("duration", 10*time.Second, "duration of each phase")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up per phase (not measured)")
	scanOn := flag.Bool("scan", false, "run the default scanners inline")
	promptBytes := flag.Int("prompt", 1024, "prompt size in bytes")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the gateway phases (whole process: load generator, gateway and upstream) to this file")
	flag.Parse()
	if err := run(*rates, *duration, *warmup, *scanOn, *promptBytes, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "gwbench:", err)
		os.Exit(1)
	}
}

type countingEmitter struct{ n atomic.Int64 }

func (c *countingEmitter) Emit(_ context.Context, evs []*event.Event) error {
	c.n.Add(int64(len(evs)))
	return nil
}

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func run(rateList string, dur, warm time.Duration, scanOn bool, promptBytes int, cpuProfile string) error {
	sim := upstreamsim.New(upstreamsim.Options{})
	simURL, stopSim, err := listen(sim)
	if err != nil {
		return err
	}
	defer stopSim()
	dir, err := os.MkdirTemp("", "gwbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ks, err := keys.Open(keys.Options{Dir: dir})
	if err != nil {
		return err
	}
	key, _, err := ks.Create(context.Background(), keys.Spec{Consumer: "bench", Groups: []string{"bench"}})
	if err != nil {
		return err
	}
	models := []config.Model{{Name: "bench", RiskTier: "medium", StoreText: "redacted", AllowedGroups: []string{"bench"},
		Upstream: config.Upstream{URL: simURL + "/v1", Model: "sim-model"}, Timeout: 30 * time.Second, Kind: "llm"}}
	em := &countingEmitter{}
	opts := gateway.Options{Models: func() []config.Model { return models }, Keys: ks, Emitter: em, Logger: slog.New(slog.DiscardHandler)}
	if scanOn {
		eng, err := scan.New(scan.DefaultOptions())
		if err != nil {
			return fmt.Errorf("scanners: %w", err)
		}
		opts.Scanner = eng
	}
	gw, err := gateway.New(opts)
	if err != nil {
		return err
	}
	gwURL, stopGW, err := listen(gw.Handler())
	if err != nil {
		return err
	}
	defer stopGW()

	prompt := benignPrompt(promptBytes)
	fmt.Printf("gwbench: prompt %d B, scanners %v, %d phases of %s (+%s warm-up), GOMAXPROCS=%s\n", len(prompt), scanOn, 2, dur, warm, os.Getenv("GOMAXPROCS"))
	fmt.Printf("%-8s %-7s %9s %9s %9s %9s %7s %12s %10s\n", "rate", "target", "p50", "p90", "p99", "max", "errors", "cpu/req", "rss")
	for _, rs := range strings.Split(rateList, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(rs))
		if err != nil || rate <= 0 {
			return fmt.Errorf("bad rate %q", rs)
		}
		body := []byte(`{"model":"bench","messages":[{"role":"user","content":"` + prompt + `"}]}`)
		direct := phase(simURL, "", bytes.ReplaceAll(body, []byte(`"bench"`), []byte(`"sim-model"`)), rate, dur, warm)
		var prof *os.File
		if cpuProfile != "" {
			if prof, err = os.Create(cpuProfile); err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			if err := pprof.StartCPUProfile(prof); err != nil {
				prof.Close()
				return fmt.Errorf("cpu profile: %w", err)
			}
		}
		via := phase(gwURL, key, body, rate, dur, warm)
		if prof != nil {
			pprof.StopCPUProfile()
			if err := prof.Close(); err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
		}
		direct.print(rate, "direct")
		via.print(rate, "gateway")
		fmt.Printf("%-8d %-7s %9s %9s %9s\n", rate, "added", us(via.p(50)-direct.p(50)), us(via.p(90)-direct.p(90)), us(via.p(99)-direct.p(99)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Close(ctx); err != nil {
		return err
	}
	fmt.Printf("events emitted: %d\n", em.n.Load())
	return nil
}

type result struct {
	lat    []time.Duration
	errors int64
	cpu    time.Duration
	rss    int64
}

func (r *result) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * q / 100)
	return r.lat[i]
}

func (r *result) print(rate int, target string) {
	per := time.Duration(0)
	if len(r.lat) > 0 {
		per = r.cpu / time.Duration(len(r.lat))
	}
	fmt.Printf("%-8d %-7s %9s %9s %9s %9s %7d %12s %8dMB\n", rate, target, us(r.p(50)), us(r.p(90)), us(r.p(99)), us(r.lat[len(r.lat)-1]), r.errors, us(per), r.rss>>20)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d.Nanoseconds())/1e3) }

// phase runs an open-loop load at rate req/s against base for warm+dur.
func phase(base, key string, body []byte, rate int, dur, warm time.Duration) *result {
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	url := base + "/v1/chat/completions"
	interval := time.Second / time.Duration(rate)
	total := int((warm + dur) / interval)
	skip := int(warm / interval)
	res := &result{lat: make([]time.Duration, 0, total-skip)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	var cpu0 time.Duration
	for i := range total {
		if i == skip {
			cpu0 = cpuTime()
		}
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat := time.Since(at)
			if i < skip {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				res.errors++
				return
			}
			res.lat = append(res.lat, lat)
		}(i, at)
	}
	wg.Wait()
	res.cpu = cpuTime() - cpu0
	res.rss = rssBytes()
	slices.Sort(res.lat)
	return res
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benignPrompt is ordinary support-chat text of n bytes.
func benignPrompt(n int) string {
	const s = "Hello, I ordered a pair of running shoes last week and the parcel has not arrived yet. Could you check the delivery status and tell me when I can expect it? "
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(s)
	}
	return b.String()[:n]
}
