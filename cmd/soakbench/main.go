// Command soakbench runs the warden binary under a long mixed load and reports whether memory
// stays flat and acknowledged events survive (issue 12). It starts the simulated upstream model
// in-process, creates a virtual key, starts `warden serve` on a fresh data directory, and then:
//
//  1. baseline: valid traffic only (ingest batches with client ids, gateway chat requests) at
//     the configured rates, to measure the unloaded p99 of valid requests;
//  2. soak: the same valid traffic plus junk at -junk times the valid request rate, spread over
//     both listeners: malformed ingest bodies (400), ingest without a token (401), re-sent ids
//     with different content (409), gateway requests with unknown keys and forged
//     X-Warden-User headers (401, aggregated), for -duration;
//
// sampling the server's resident memory (VmRSS) every -sample. At the end it stops the server,
// runs `warden audit verify` and checks that every acknowledged event id is in the log, and
// compares the log's growth with the valid events sent.
//
//	go build -o /tmp/warden ./cmd/warden
//	go run ./cmd/soakbench -warden /tmp/warden -duration 10m
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/warden-ai/warden/internal/upstreamsim"
)

type options struct {
	warden      string
	duration    time.Duration
	baseline    time.Duration
	sample      time.Duration
	ingestRate  float64 // valid ingest batches per second
	batch       int
	gatewayRate float64 // valid gateway requests per second
	junk        float64 // junk requests per valid request
	keep        bool
}

func main() {
	var o options
	flag.StringVar(&o.warden, "warden", "", "path to the warden binary (required)")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "soak phase")
	flag.DurationVar(&o.baseline, "baseline", time.Minute, "baseline phase (valid traffic only)")
	flag.DurationVar(&o.sample, "sample", 30*time.Second, "RSS sample interval")
	flag.Float64Var(&o.ingestRate, "ingest-rate", 20, "valid ingest requests per second")
	flag.IntVar(&o.batch, "batch", 50, "events per valid ingest request")
	flag.Float64Var(&o.gatewayRate, "gateway-rate", 20, "valid gateway requests per second")
	flag.Float64Var(&o.junk, "junk", 2, "junk requests per valid request during the soak")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory")
	flag.Parse()
	if o.warden == "" {
		fmt.Fprintln(os.Stderr, "soakbench: -warden is required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soakbench:", err)
		os.Exit(1)
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// stats collects the outcome of one phase.
type stats struct {
	mu       sync.Mutex
	lat      []time.Duration // valid requests only
	status   map[string]int  // "kind status" → count
	acked    []string        // event ids answered 202
	gwOK     int
	failures int
}

func (s *stats) add(kind string, code int, d time.Duration, valid bool, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[fmt.Sprintf("%s %d", kind, code)]++
	if valid {
		s.lat = append(s.lat, d)
	}
	s.acked = append(s.acked, ids...)
	if kind == "gateway" && code == 200 {
		s.gwOK++
	}
}

// ackedID returns a random acknowledged id of this phase ("" before the first).
func (s *stats) ackedID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.acked) == 0 {
		return ""
	}
	return s.acked[rand.IntN(len(s.acked))]
}

func (s *stats) p99() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lat) == 0 {
		return 0
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	return l[len(l)*99/100]
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "soakbench")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	data := filepath.Join(dir, "data")

	// The simulated upstream, in this process.
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sim := &http.Server{Handler: upstreamsim.New(upstreamsim.Options{}), ReadHeaderTimeout: 10 * time.Second}
	go sim.Serve(simLn)
	defer sim.Close()

	cfg := fmt.Sprintf("models:\n  - name: soak-bot\n    risk_tier: medium\n    allowed_groups: [soak]\n    upstream: {url: http://%s/v1, model: sim-model}\n", simLn.Addr())
	cfgPath := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	out, err := exec.Command(o.warden, "keys", "create", "--data", data, "--consumer", "soak-app", "--groups", "soak").Output()
	if err != nil {
		return fmt.Errorf("keys create: %w", err)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	key := lines[len(lines)-1]

	api, err := freePort()
	if err != nil {
		return err
	}
	gw, err := freePort()
	if err != nil {
		return err
	}
	adminTok, ingestTok := "soak-admin-token-0123456789", "soak-ingest-token-0123456789"
	srv := exec.Command(o.warden, "serve", "--config", cfgPath, "--data", data, "--listen", api, "--gateway-listen", gw)
	srv.Env = append(os.Environ(), "WARDEN_ADMIN_TOKEN="+adminTok, "WARDEN_INGEST_TOKEN="+ingestTok)
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill() }()
	apiURL, gwURL := "http://"+api, "http://"+gw
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get(apiURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("warden did not become ready; see " + logf.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
	entries := func() uint64 {
		req, _ := http.NewRequest("GET", apiURL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminTok)
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		var b struct {
			Entries uint64 `json:"audit_entries"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return b.Entries
	}
	pid := srv.Process.Pid
	fmt.Printf("soakbench: warden pid %d, api %s, gateway %s, data %s\n", pid, api, gw, data)
	fmt.Printf("valid load: %.0f ingest req/s × %d events, %.0f gateway req/s; junk during the soak: %.1f× the valid request rate\n",
		o.ingestRate, o.batch, o.gatewayRate, o.junk)

	var seq atomic.Int64
	text := strings.Repeat("please summarise my last three invoices and the refund policy ", 16)
	validBatch := func() ([]byte, []string) {
		var b bytes.Buffer
		ids := make([]string, o.batch)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for i := range ids {
			n := seq.Add(1)
			ids[i] = fmt.Sprintf("soak-%d", n)
			fmt.Fprintf(&b, `{"id":%q,"type":"inference","time":%q,"model":{"name":"soak-bot"},"actor":{"user":"user-%d"},"request":{"input":%q},"response":{"output":"ok","latency_ms":%d}}`+"\n",
				ids[i], now, n%200, text, 40+n%50)
		}
		return b.Bytes(), ids
	}
	do := func(ctx context.Context, method, url, token string, body []byte, hdr map[string]string) (int, []byte, time.Duration) {
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, time.Since(start)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, time.Since(start)
	}
	chat := []byte(`{"model":"soak-bot","messages":[{"role":"user","content":"What are your opening hours on Saturdays?"}]}`)

	// Each source sends on its own schedule (open loop) so a slow answer does not slow the load.
	type source struct {
		rate float64
		send func(ctx context.Context, st *stats)
	}
	valid := []source{
		{o.ingestRate, func(ctx context.Context, st *stats) {
			body, ids := validBatch()
			code, _, d := do(ctx, "POST", apiURL+"/v1/events", ingestTok, body, nil)
			if code != 202 {
				ids = nil
			}
			st.add("ingest", code, d, true, ids)
		}},
		{o.gatewayRate, func(ctx context.Context, st *stats) {
			code, _, d := do(ctx, "POST", gwURL+"/v1/chat/completions", key, chat, nil)
			st.add("gateway", code, d, true, nil)
		}},
	}
	junkRate := o.junk * (o.ingestRate + o.gatewayRate) / 5
	junk := []source{
		{junkRate, func(ctx context.Context, st *stats) { // malformed body
			code, _, d := do(ctx, "POST", apiURL+"/v1/events", ingestTok, []byte(`{"type":"inference","time":"yesterday","model":{"name":`), nil)
			st.add("ingest-bad", code, d, false, nil)
		}},
		{junkRate, func(ctx context.Context, st *stats) { // no token
			body := []byte(`{"id":"noauth-1","type":"access","time":"2026-01-01T00:00:00Z","action":"invoke","decision":"allow"}`)
			code, _, d := do(ctx, "POST", apiURL+"/v1/events", "", body, nil)
			st.add("ingest-noauth", code, d, false, nil)
		}},
		{junkRate, func(ctx context.Context, st *stats) { // an acknowledged id re-sent with other content
			id := st.ackedID()
			if id == "" {
				return
			}
			body := fmt.Sprintf(`{"id":%q,"type":"inference","time":%q,"model":{"name":"soak-bot"},"request":{"input":"forged content"}}`, id, time.Now().UTC().Format(time.RFC3339))
			code, _, d := do(ctx, "POST", apiURL+"/v1/events", ingestTok, []byte(body), nil)
			st.add("ingest-conflict", code, d, false, nil)
		}},
		{junkRate, func(ctx context.Context, st *stats) { // unknown key, forged identity, big header
			hdr := map[string]string{"X-Warden-User": "bob@corp.example", "User-Agent": strings.Repeat("A", 8<<10)}
			code, _, d := do(ctx, "POST", gwURL+"/v1/chat/completions", fmt.Sprintf("wk-forged-%d", rand.IntN(1e6)), chat, hdr)
			st.add("gateway-badkey", code, d, false, nil)
		}},
		{junkRate, func(ctx context.Context, st *stats) { // no key at all
			code, _, d := do(ctx, "POST", gwURL+"/v1/chat/completions", "", chat, nil)
			st.add("gateway-nokey", code, d, false, nil)
		}},
	}
	phase := func(name string, d time.Duration, srcs []source, sample func(elapsed time.Duration)) *stats {
		st := &stats{status: map[string]int{}}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var wg sync.WaitGroup
		for _, s := range srcs {
			if s.rate <= 0 {
				continue
			}
			wg.Go(func() {
				tick := time.NewTicker(time.Duration(float64(time.Second) / s.rate))
				defer tick.Stop()
				var inner sync.WaitGroup
				defer inner.Wait()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						inner.Go(func() { s.send(context.WithoutCancel(ctx), st) })
					}
				}
			})
		}
		if sample != nil {
			wg.Go(func() {
				start := time.Now()
				tick := time.NewTicker(o.sample)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						sample(time.Since(start))
					}
				}
			})
		}
		wg.Wait()
		fmt.Printf("%s: %s, valid p99 %s\n", name, d, st.p99().Round(time.Millisecond))
		keys := make([]string, 0, len(st.status))
		for k := range st.status {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Printf("  %-22s %8d\n", k, st.status[k])
		}
		return st
	}

	startEntries := entries()
	fmt.Printf("RSS at start: %d MB\n", rss(pid)>>20)
	base := phase("baseline", o.baseline, valid, nil)
	fmt.Printf("RSS after baseline: %d MB\n", rss(pid)>>20)
	midEntries := entries()

	var samples []int64
	var smu sync.Mutex
	fmt.Printf("%10s %10s\n", "elapsed", "rss_mb")
	soak := phase("soak", o.duration, append(slices.Clone(valid), junk...), func(el time.Duration) {
		r := rss(pid)
		smu.Lock()
		samples = append(samples, r)
		smu.Unlock()
		fmt.Printf("%10s %10d\n", el.Round(time.Second), r>>20)
	})
	// Let the followers drain, then read the log size.
	time.Sleep(5 * time.Second)
	endEntries := entries()

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	_ = srv.Wait()
	vout, verr := exec.Command(o.warden, "audit", "verify", "--data", data).CombinedOutput()
	fmt.Printf("audit verify: %s", vout)
	if verr != nil {
		return fmt.Errorf("audit verify failed: %w", verr)
	}

	// Every acknowledged id must be in the log: the exported ids from a search would need the
	// server; count entries instead and look ids up in a restarted server below.
	acked := append(base.acked, soak.acked...)
	srv2 := exec.Command(o.warden, "serve", "--config", cfgPath, "--data", data, "--listen", api, "--gateway-listen", "off")
	srv2.Env = srv.Env
	srv2.Stdout, srv2.Stderr = logf, logf
	if err := srv2.Start(); err != nil {
		return err
	}
	defer func() { _ = srv2.Process.Kill() }()
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := client.Get(apiURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("restarted warden did not become ready")
		}
		time.Sleep(200 * time.Millisecond)
	}
	missing := 0
	checked := 0
	for i := 0; i < len(acked); i += max(1, len(acked)/2000) {
		code, _, _ := do(context.Background(), "GET", apiURL+"/v1/audit/proof/"+acked[i], adminTok, nil, nil)
		checked++
		if code != 200 {
			missing++
		}
	}
	_ = srv2.Process.Signal(syscall.SIGTERM)
	_ = srv2.Wait()

	smu.Lock()
	lo, hi := slices.Min(samples), slices.Max(samples)
	first, last := samples[0], samples[len(samples)-1]
	smu.Unlock()
	validEvents := (len(acked)) + base.gwOK + soak.gwOK
	fmt.Printf("\nRSS during the soak: first %d MB, last %d MB, min %d MB, max %d MB\n", first>>20, last>>20, lo>>20, hi>>20)
	fmt.Printf("valid p99: baseline %s, soak %s\n", base.p99().Round(time.Millisecond), soak.p99().Round(time.Millisecond))
	fmt.Printf("acknowledged ingest events %d; checked %d of them by inclusion proof after a restart: %d missing\n", len(acked), checked, missing)
	fmt.Printf("audit log: %d entries before, %d after the baseline, %d after the soak; valid events sent (ingest acknowledged + gateway 200) %d; other entries %d (aggregated unauthenticated counts, gateway denials, audit actions)\n",
		startEntries, midEntries, endEntries, validEvents, int64(endEntries-startEntries)-int64(validEvents))
	if missing > 0 {
		return fmt.Errorf("%d acknowledged events missing", missing)
	}
	return nil
}
