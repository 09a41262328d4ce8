package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
)

// cannedTransport answers every upstream request in memory, so the benchmark measures the
// gateway's own work per request (auth, policy, body handling, scanning, events), not the network.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

type discardEmitter struct{}

func (discardEmitter) Emit(context.Context, []*event.Event) error { return nil }

// BenchmarkGatewayRequest: one non-streamed chat completion with a 1 KB prompt through the
// gateway handler. go test ./internal/gateway -run x -bench GatewayRequest -benchmem
func BenchmarkGatewayRequest(b *testing.B) {
	for _, scanning := range []bool{false, true} {
		name := "scanners=off"
		if scanning {
			name = "scanners=on"
		}
		b.Run(name, func(b *testing.B) {
			ks, err := keys.Open(keys.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			key, _, _ := ks.Create(context.Background(), keys.Spec{Consumer: "bench", Groups: []string{"g"}})
			models := []config.Model{{Name: "bench", RiskTier: "medium", StoreText: "redacted", AllowedGroups: []string{"g"},
				Upstream: config.Upstream{URL: "http://upstream.invalid/v1", Model: "sim-model"}, Timeout: time.Minute}}
			resp := []byte(`{"id":"x","object":"chat.completion","created":1,"model":"sim-model","choices":[{"index":0,"message":{"role":"assistant","content":"Your parcel left our warehouse yesterday and should arrive within two working days."},"finish_reason":"stop"}],"usage":{"prompt_tokens":200,"completion_tokens":16,"total_tokens":216}}`)
			opts := Options{Models: func() []config.Model { return models }, Keys: ks, Emitter: discardEmitter{}, Transport: cannedTransport{resp}, EventQueue: 1 << 20}
			if scanning {
				eng, err := scan.New(scan.DefaultOptions())
				if err != nil {
					b.Skipf("scan engine unavailable: %v", err)
				}
				opts.Scanner = eng
			}
			gw, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer gw.Close(context.Background())
			h := gw.Handler()
			prompt := strings.Repeat("Hello, my running shoes have not arrived yet, could you check the delivery status? ", 13)[:1024]
			body := `{"model":"bench","messages":[{"role":"user","content":"` + prompt + `"}]}`
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// pacedTransport streams n chat chunks of one 4-byte token each, one every gap.
type pacedTransport struct {
	n   int
	gap time.Duration
}

func (p pacedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	pr, pw := io.Pipe()
	go func() {
		for range p.n {
			time.Sleep(p.gap)
			if _, err := io.WriteString(pw, `data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}`+"\n\n"); err != nil {
				return
			}
		}
		io.WriteString(pw, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
		pw.Close()
	}()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: pr, Request: r}, nil
}

// BenchmarkStreamHoldback measures what holding back streamed output costs: time to the first
// content byte at the client and total stream time, for a 200-token stream at one token per
// millisecond, on a route that is held (risk tier high) and one that is not (medium).
// go test ./internal/gateway -run x -bench StreamHoldback -benchtime 20x
func BenchmarkStreamHoldback(b *testing.B) {
	for _, tier := range []string{"medium", "high"} {
		b.Run("tier="+tier, func(b *testing.B) {
			ks, err := keys.Open(keys.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			key, _, _ := ks.Create(context.Background(), keys.Spec{Consumer: "bench"})
			models := []config.Model{{Name: "bench", RiskTier: tier, StoreText: "none",
				Upstream: config.Upstream{URL: "http://upstream.invalid/v1"}, Timeout: time.Minute}}
			eng, err := scan.New(scan.DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			gw, err := New(Options{Models: func() []config.Model { return models }, Keys: ks, Emitter: discardEmitter{}, Scanner: eng,
				Transport: pacedTransport{n: 200, gap: time.Millisecond}})
			if err != nil {
				b.Fatal(err)
			}
			defer gw.Close(context.Background())
			srv := httptest.NewServer(gw.Handler())
			defer srv.Close()
			body := `{"model":"bench","stream":true,"messages":[{"role":"user","content":"count"}]}`
			var ttfb, total time.Duration
			for b.Loop() {
				req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				t0 := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReader(resp.Body)
				first := true
				for {
					line, err := br.ReadString('\n')
					if first && strings.Contains(line, `"tok `) {
						ttfb += time.Since(t0)
						first = false
					}
					if err != nil {
						break
					}
				}
				total += time.Since(t0)
				resp.Body.Close()
			}
			b.ReportMetric(float64(ttfb.Microseconds())/1000/float64(b.N), "ttfb-ms")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "stream-ms")
		})
	}
}
