package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

const upstreamSecret = "sk-upstream-SECRET-never-leak-42"

// probeSecret is the reserved probe identity's secret in the harness.
const probeSecret = "wp-probe-identity-test-secret"

type recorder struct {
	mu  sync.Mutex
	evs []*event.Event
}

func (r *recorder) Emit(_ context.Context, evs []*event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			panic("gateway emitted an invalid event: " + err.Error())
		}
	}
	r.evs = append(r.evs, evs...)
	return nil
}

func (r *recorder) all() []*event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*event.Event(nil), r.evs...)
}

// byRequest returns the inference event and the access event of a request id.
func (r *recorder) byRequest(t *testing.T, id string) (inf, acc *event.Event) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range r.all() {
			if e.Type == event.TypeInference && e.Request != nil && e.Request.ID == id {
				inf = e
			}
			if e.Type == event.TypeAccess && e.Attributes["gateway.request_id"] == id {
				acc = e
			}
		}
		if inf != nil && acc != nil {
			return inf, acc
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("events of %s not recorded (inference %v, access %v)", id, inf != nil, acc != nil)
	return nil, nil
}

type harness struct {
	t       *testing.T
	gw      *Gateway
	srv     *httptest.Server
	sim     *upstreamsim.Server
	simSrv  *httptest.Server
	keys    *keys.Store
	contain *contain.Store
	dataDir string
	rec     *recorder
	logs    *bytes.Buffer
	models  []config.Model
}

func newHarness(t *testing.T, scanner bool, mutate ...func([]config.Model) []config.Model) *harness {
	t.Helper()
	var so *scan.Options
	if scanner {
		o := scan.DefaultOptions()
		so = &o
	}
	return newHarnessScan(t, so, mutate...)
}

// newHarnessScan is newHarness with a scanner built from so (nil: scanning off).
func newHarnessScan(t *testing.T, so *scan.Options, mutate ...func([]config.Model) []config.Model) *harness {
	t.Helper()
	return newHarnessOpts(t, so, nil, mutate...)
}

// newHarnessOpts is newHarnessScan with the gateway's Options changed by opt before New.
func newHarnessOpts(t *testing.T, so *scan.Options, opt func(*Options), mutate ...func([]config.Model) []config.Model) *harness {
	t.Helper()
	h := &harness{t: t, rec: &recorder{}, logs: &bytes.Buffer{}, dataDir: t.TempDir()}
	h.sim = upstreamsim.New(upstreamsim.Options{APIKey: upstreamSecret, SlowDelay: 5 * time.Second})
	h.sim.Record(true)
	h.simSrv = httptest.NewServer(h.sim)
	t.Cleanup(h.simSrv.Close)
	base := h.simSrv.URL + "/v1"
	up := config.Upstream{URL: base, Model: "sim-model", APIKeyEnv: "SIM_KEY"}
	h.models = []config.Model{
		{Name: "chat", RiskTier: "medium", StoreText: "full", AllowedGroups: []string{"support"}, Upstream: up, Price: config.Price{InputPerMTok: 1, OutputPerMTok: 2}, Timeout: 3 * time.Second},
		{Name: "strict", RiskTier: "high", StoreText: "redacted", Upstream: up, Timeout: 3 * time.Second},
		{Name: "cutter", RiskTier: "high", StoreText: "none", Upstream: up, Timeout: 3 * time.Second, Scanning: map[string]string{"secret": "block"}},
		{Name: "fb-conn", RiskTier: "low", Upstream: config.Upstream{URL: "http://127.0.0.1:1/v1", Model: "x", APIKeyEnv: "SIM_KEY"}, Fallbacks: []config.Upstream{up}, Timeout: 3 * time.Second},
		{Name: "fb-5xx", RiskTier: "low", Upstream: config.Upstream{URL: base, Model: "sim-error", APIKeyEnv: "SIM_KEY"}, Fallbacks: []config.Upstream{up}, Timeout: 3 * time.Second},
		{Name: "short", RiskTier: "low", Upstream: up, Timeout: 300 * time.Millisecond},
		{Name: "badcred", RiskTier: "low", Upstream: config.Upstream{URL: base, Model: "sim-model"}},
	}
	for _, m := range mutate {
		h.models = m(h.models)
	}
	var err error
	h.keys, err = keys.Open(keys.Options{Dir: h.dataDir + "/keys", PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.contain, err = contain.Open(contain.Options{Dir: h.dataDir + "/contain", PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Models:  func() []config.Model { return h.models },
		Keys:    h.keys,
		Contain: h.contain,
		Emitter: h.rec,
		Logger:  slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv: func(k string) string {
			if k == "SIM_KEY" {
				return upstreamSecret
			}
			return ""
		},
		EventFlush:  5 * time.Millisecond,
		ProbeSecret: probeSecret,
	}
	if so != nil {
		eng, err := scan.New(*so)
		if err != nil {
			t.Fatal(err)
		}
		opts.Scanner = eng
	}
	if opt != nil {
		opt(&opts)
	}
	h.gw, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.gw.Handler())
	t.Cleanup(func() {
		h.srv.Close()
		if err := h.gw.Close(context.Background()); err != nil {
			t.Error(err)
		}
		h.assertNoSecretLeak()
	})
	return h
}

func (h *harness) key(spec keys.Spec) string {
	h.t.Helper()
	secret, _, err := h.keys.Create(context.Background(), spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

type result struct {
	status int
	header http.Header
	body   []byte
	id     string
}

func (h *harness) post(key, path, body string, hdr ...string) result {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "warden-test/1")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b, resp.Header.Get("X-Warden-Request-Id")}
}

func chatBody(model, content string, extra ...string) string {
	c, _ := json.Marshal(content)
	return `{"model":"` + model + `","messages":[{"role":"user","content":` + string(c) + `}]` + strings.Join(extra, "") + `}`
}

// assertNoSecretLeak checks logs and every recorded event for the upstream credential.
func (h *harness) assertNoSecretLeak() {
	if strings.Contains(h.logs.String(), upstreamSecret) {
		h.t.Error("upstream credential in logs")
	}
	for _, e := range h.rec.all() {
		b, _ := json.Marshal(e)
		if bytes.Contains(b, []byte(upstreamSecret)) {
			h.t.Errorf("upstream credential in event %s", b)
		}
	}
}

func policyCode(t *testing.T, body []byte) (typ, code string) {
	t.Helper()
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error body: %s", body)
	}
	return e.Error.Type, e.Error.Code
}

type (
	scanRole    = scan.Role
	scanContext = scan.Context
	scanFinding = scan.Finding
)

func newLocalServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func readAll(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}
