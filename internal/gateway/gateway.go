package gateway

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
)

// Gateway is the inline proxy.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	table   atomic.Pointer[routeTable]
	limits  limiter
	events  *emitQueue
	handler http.Handler
	bufs    sync.Pool // *bytes.Buffer
	closed  atomic.Bool
	unauth  unauthLog
	// probeKey is the reserved probe identity's key (nil when Options.ProbeSecret is empty).
	probeKey *keys.Key
	// unauthStop ends runUnauth, which closes unauthDone after its last flush.
	unauthStop, unauthDone chan struct{}
	unauthPending          []*event.Event // aggregates a full queue refused; runUnauth's only

	requests   *prometheus.CounterVec
	ok         [3]prometheus.Counter // requests{endpoint, status="200"} per inference endpoint
	overhead   prometheus.Histogram
	fallbacks  *prometheus.CounterVec
	scanErrors prometheus.Counter
}

// New builds a gateway and starts its event goroutine; stop it with Close.
func New(opts Options) (*Gateway, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics still count; nobody scrapes them
	}
	f := promauto.With(reg)
	g := &Gateway{
		opts: opts,
		log:  opts.Logger.With("component", "gateway"),
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "warden_gateway_requests_total",
			Help: "Gateway requests by endpoint and HTTP status."}, []string{"endpoint", "status"}),
		overhead: f.NewHistogram(prometheus.HistogramOpts{Name: "warden_gateway_overhead_seconds",
			Help:    "Time the gateway adds to a request: total time minus time waiting for the upstream.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3}}),
		fallbacks: f.NewCounterVec(prometheus.CounterOpts{Name: "warden_gateway_upstream_fallbacks_total",
			Help: "Requests retried on a fallback upstream after a connection error or 5xx."}, []string{"model"}),
		scanErrors: f.NewCounter(prometheus.CounterOpts{Name: "warden_gateway_scan_errors_total",
			Help: "Scanner calls that failed or timed out."}),
	}
	g.bufs.New = func() any { return new(bytes.Buffer) }
	if opts.ProbeSecret != "" {
		g.probeKey = &keys.Key{ID: event.ProbeServiceAccount, Consumer: event.ProbeServiceAccount}
	}
	for _, ep := range []endpoint{epChat, epCompletions, epEmbeddings} {
		g.ok[ep] = g.requests.WithLabelValues(ep.path(), "200")
	}
	g.events = &emitQueue{
		em: opts.Emitter, log: g.log, ch: make(chan *event.Event, opts.EventQueue), slots: make(chan struct{}, opts.EventQueue),
		batch: opts.EventBatch, flush: opts.EventFlush,
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "warden_gateway_events_dropped_total", Help: "Gateway events without a reservation that found the event queue full (aggregates kept for the next interval, denials of /v1/models)."}),
		emitted: f.NewCounter(prometheus.CounterOpts{Name: "warden_gateway_events_emitted_total", Help: "Gateway events handed to the pipeline."}),
		failed:  f.NewCounter(prometheus.CounterOpts{Name: "warden_gateway_events_failed_total", Help: "Gateway events the pipeline refused."}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "warden_gateway_backlog_refusals_total", Help: "Requests refused with 503 because the event queue had no room for their events."}),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	g.unauth.max = opts.UnauthSources
	if opts.Emitter != nil {
		go g.events.run()
		g.unauthStop, g.unauthDone = make(chan struct{}), make(chan struct{})
		go g.runUnauth(g.unauthStop, g.unauthDone)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", g.serveInference(epChat))
	mux.HandleFunc("POST /v1/completions", g.serveInference(epCompletions))
	mux.HandleFunc("POST /v1/embeddings", g.serveInference(epEmbeddings))
	mux.HandleFunc("GET /v1/models", g.serveModels)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_endpoint", "Unknown endpoint "+r.Method+" "+r.URL.Path+".")
	})
	g.handler = mux
	return g, nil
}

// Handler returns the handler of the gateway listener.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close drains queued events into the Emitter; it is idempotent and bounded by ctx. Shut the
// HTTP server down first so no new events arrive.
func (g *Gateway) Close(ctx context.Context) error {
	if !g.closed.CompareAndSwap(false, true) {
		return nil
	}
	if t, ok := g.opts.Transport.(interface{ CloseIdleConnections() }); ok {
		defer t.CloseIdleConnections()
	}
	if g.unauthStop != nil {
		close(g.unauthStop)
		select {
		case <-g.unauthDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.events.close(ctx)
}

type endpoint int

const (
	epChat endpoint = iota
	epCompletions
	epEmbeddings
)

func (e endpoint) path() string {
	switch e {
	case epCompletions:
		return "/v1/completions"
	case epEmbeddings:
		return "/v1/embeddings"
	}
	return "/v1/chat/completions"
}

func (e endpoint) upstreamPath() string { return strings.TrimPrefix(e.path(), "/v1") }

// apiError is an OpenAI-style error body.
type apiError struct {
	status     int
	typ, code  string
	msg        string
	param      string // the offending request field, for invalid_request_error
	retryAfter int
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeAPIError(w, &apiError{status: status, typ: typ, code: code, msg: msg})
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	var param any
	if e.param != "" {
		param = e.param
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": e.msg, "type": e.typ, "code": e.code, "param": param}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.WriteHeader(e.status)
	w.Write(body)
}

func policyError(status int, code, msg string) *apiError {
	return &apiError{status: status, typ: "warden_policy", code: code, msg: msg}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (g *Gateway) clientIP(r *http.Request) string {
	if g.opts.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return ""
}

// authenticate resolves the virtual key and applies key/consumer containment. On denial it
// returns the error to send; the access event is the caller's.
func (g *Gateway) authenticate(r *http.Request) (*keys.Key, *apiError) {
	secret := bearer(r)
	if secret == "" {
		return nil, &apiError{status: http.StatusUnauthorized, typ: "warden_policy", code: "missing_api_key", msg: "Missing virtual key: send Authorization: Bearer wk-..."}
	}
	k, err := g.lookupKey(secret)
	switch {
	case errors.Is(err, keys.ErrRevoked):
		return k, &apiError{status: http.StatusUnauthorized, typ: "warden_policy", code: "key_revoked", msg: "This virtual key has been revoked."}
	case errors.Is(err, keys.ErrExpired):
		return k, &apiError{status: http.StatusUnauthorized, typ: "warden_policy", code: "key_expired", msg: "This virtual key has expired."}
	case err != nil:
		return nil, &apiError{status: http.StatusUnauthorized, typ: "warden_policy", code: "invalid_api_key", msg: "Unknown virtual key."}
	}
	if c := g.opts.Contain; c != nil {
		if _, ok := c.KeySuspended(k.ID); ok {
			return k, policyError(http.StatusForbidden, "key_suspended", "This virtual key is suspended by Warden containment.")
		}
		if _, ok := c.ConsumerBlocked(k.Consumer); ok {
			return k, policyError(http.StatusForbidden, "consumer_blocked", "This consumer is blocked by Warden containment.")
		}
	}
	return k, nil
}

// serveModels lists the models the key may use.
func (g *Gateway) serveModels(w http.ResponseWriter, r *http.Request) {
	k, aerr := g.authenticate(r)
	if aerr != nil && isUnauthenticated(k, aerr) {
		aerr = g.denyUnauthenticated(w, r, k, aerr)
		g.requests.WithLabelValues("/v1/models", strconv.Itoa(aerr.status)).Inc()
		return
	}
	g.accessEvent(r, k, "", "list_models", aerr, "", nil)
	if aerr != nil {
		g.requests.WithLabelValues("/v1/models", strconv.Itoa(aerr.status)).Inc()
		writeAPIError(w, aerr)
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, rt := range g.routes().list {
		if ok, _, _ := rt.allowedFor(k.Groups, k.Models); ok {
			owner := rt.model.Owner
			if owner == "" {
				owner = "warden"
			}
			out.Data = append(out.Data, model{ID: rt.model.Name, Object: "model", OwnedBy: owner})
		}
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
	g.requests.WithLabelValues("/v1/models", "200").Inc()
}

// accessEvent records the authorization decision for a request.
// reserved is the caller's reservation in the event queue (nil: none).
func (g *Gateway) accessEvent(r *http.Request, k *keys.Key, model, action string, denied *apiError, reqID string, reserved *int) {
	if g.opts.Emitter == nil {
		return
	}
	ev := &event.Event{
		Type:        event.TypeAccess,
		Time:        g.opts.Now().UTC(),
		Environment: g.opts.Environment,
		Model:       event.Model{Name: model},
		Source:      event.Source{IP: g.clientIP(r), Client: r.UserAgent(), Endpoint: r.URL.Path},
		Action:      action,
		Resource:    "gateway:" + r.URL.Path,
		Decision:    "allow",
	}
	if model != "" {
		ev.Resource = "model:" + model
	}
	if k != nil {
		ev.Actor = event.Actor{APIKeyID: k.ID, Consumer: k.Consumer, Groups: k.Groups}
	}
	ev.Actor.User = cleanHeader(r.Header.Get("X-Warden-User"))
	if g.isProbe(k) {
		g.markProbe(r, ev)
	}
	ev.Actor.Session = cleanHeader(r.Header.Get("X-Warden-Session"))
	ev.Source.Client = cleanHeader(ev.Source.Client)
	if denied != nil {
		ev.Decision = "deny"
		ev.Reason = denied.code + ": " + denied.msg
	}
	if reqID != "" {
		if ev.Attributes == nil {
			ev.Attributes = map[string]any{}
		}
		ev.Attributes["gateway.request_id"] = reqID
	}
	if !g.events.push(ev, reserved) {
		g.events.dropped.Inc()
		g.log.Warn("gateway event queue full: access event not recorded", "action", action, "decision", ev.Decision)
	}
}

// scanText runs the built-in scanners (no guard models; call.scan consults those) with the
// route's timeout and reports findings, the action and whether scanning failed.
func (g *Gateway) scanText(ctx context.Context, rt *route, text string, role scan.Role) ([]scan.Finding, scan.Action, error) {
	fs, act, _, err := g.scanWith(ctx, rt, text, role, false)
	return fs, act, err
}

// scanWith runs the scanner over text, with the route's guard models when guards is set (their
// timeout added to the scan deadline). Guard failures come back apart from scanner errors.
func (g *Gateway) scanWith(ctx context.Context, rt *route, text string, role scan.Role, guards bool) ([]scan.Finding, scan.Action, []*scan.GuardError, error) {
	if g.opts.Scanner == nil || text == "" {
		return nil, scan.ActionAllow, nil, nil
	}
	sc, timeout := rt.scanCtx, g.opts.ScanTimeout
	if guards && len(rt.guards) > 0 {
		sc.Guards = rt.guards
		timeout += rt.guardBudget
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fs, err := g.opts.Scanner.Scan(ctx, text, role, sc)
	gerrs, err := scan.GuardErrors(err)
	if err != nil {
		g.scanErrors.Inc()
		g.log.Warn("scanner failed", "model", rt.model.Name, "role", string(role), "err", err)
	}
	return fs, rt.policy.Decide(role, fs), gerrs, err
}

// newRequestID is "req_" and the 32 hex digits of a UUIDv7 (time-ordered), built with one
// allocation.
func newRequestID() string {
	u := uuid.Must(uuid.NewV7())
	var b [4 + 32]byte
	copy(b[:], "req_")
	hex.Encode(b[4:], u[:])
	return string(b[:])
}

// countRequest increments warden_gateway_requests_total; the 200 counters of the inference
// endpoints are resolved once in New instead of per request.
func (g *Gateway) countRequest(ep endpoint, status int) {
	if status == http.StatusOK && int(ep) < len(g.ok) {
		g.ok[ep].Inc()
		return
	}
	g.requests.WithLabelValues(ep.path(), strconv.Itoa(status)).Inc()
}

// lookupKey resolves a bearer secret: the reserved probe identity (compared in constant time)
// or a virtual key.
func (g *Gateway) lookupKey(secret string) (*keys.Key, error) {
	if g.probeKey != nil && subtle.ConstantTimeCompare([]byte(secret), []byte(g.opts.ProbeSecret)) == 1 {
		return g.probeKey, nil
	}
	return g.opts.Keys.Lookup(secret)
}

// isProbe reports whether k is the reserved probe identity.
func (g *Gateway) isProbe(k *keys.Key) bool { return k != nil && k == g.probeKey }

// markProbe records an event of probe traffic under the reserved identity with its run id.
func (g *Gateway) markProbe(r *http.Request, ev *event.Event) {
	ev.Actor = event.Actor{ServiceAccount: event.ProbeServiceAccount, Consumer: event.ProbeServiceAccount}
	run := cleanHeader(r.Header.Get("X-Warden-Probe-Run"))
	if run == "" {
		run = "unnamed"
	}
	if ev.Attributes == nil {
		ev.Attributes = map[string]any{}
	}
	ev.Attributes[event.AttrProbeRun] = run
	if p := cleanHeader(r.Header.Get("X-Warden-Probe")); p != "" {
		ev.Attributes["warden.probe"] = p
	}
}
