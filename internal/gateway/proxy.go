package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
)

// v1Compat makes go-json-experiment/json decode as leniently as encoding/json does
// (case-insensitive names, last duplicate wins, invalid UTF-8 replaced), so OpenAI clients see
// the same behaviour; decoding request and response bodies with it is several times faster.
var v1Compat = jsonv1.DefaultOptionsV1()

// strictJSON is how request bodies are read: case-sensitive names, no duplicates, valid UTF-8
// (go-json-experiment's defaults), after checkBody has rejected any body another reader could
// read differently (strict.go).
var strictJSON = jsonv2.DefaultOptionsV2()

// reqFields is the part of a request body the gateway reads; the body itself is forwarded
// as is, apart from surgical patches of "model" and "stream_options". Every field that carries
// text to the model is read here and scanned.
type reqFields struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	User     string `json:"user"`
	Messages []struct {
		Role         string         `json:"role"`
		Content      jsontext.Value `json:"content"`
		ToolCalls    []toolCall     `json:"tool_calls"`
		FunctionCall *function      `json:"function_call"`
	} `json:"messages"`
	Prompt    jsontext.Value `json:"prompt"`
	Suffix    string         `json:"suffix"`
	Input     jsontext.Value `json:"input"`
	Tools     []tool         `json:"tools"`
	Functions []function     `json:"functions"`
}

// tool is a tools[] entry; function is a tool's function, a legacy functions[] entry, or the
// function of a tool call.
type tool struct {
	Function *function `json:"function"`
}

type toolCall struct {
	Function *function `json:"function"`
}

type function struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Parameters  jsontext.Value `json:"parameters"`
	Arguments   string         `json:"arguments"`
}

// text is what of a function reaches the model as text: its description, the strings of its
// parameter schema (property descriptions, enums) and call arguments.
func (f *function) text() string {
	if f == nil {
		return ""
	}
	parts := make([]string, 0, 3)
	for _, s := range []string{f.Description, schemaStrings(f.Parameters), f.Arguments} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

// schemaStrings collects the string values (not the names) of a JSON value, such as the
// descriptions and enums of a tool's parameter schema.
func schemaStrings(v jsontext.Value) string {
	if len(v) == 0 || v[0] != '{' && v[0] != '[' && v[0] != '"' {
		return ""
	}
	var out []string
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	for {
		kind, n := dec.StackIndex(dec.StackDepth())
		isName := kind == '{' && n%2 == 0
		tok, err := dec.ReadToken()
		if err != nil {
			break
		}
		if tok.Kind() == '"' && !isName {
			if s := tok.String(); s != "" {
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, "\n")
}

// call is the state of one inference request.
type call struct {
	g        *Gateway
	r        *http.Request
	ep       endpoint
	start    time.Time
	id       string
	idHdr    []string // []string{id}, the header value on the response and upstream request
	key      *keys.Key
	rt       *route
	f        reqFields
	input    string
	spans    []span // message spans inside input
	spanBuf  [2]span
	upWait   time.Duration
	up       *upstream
	status   int
	errCode  string
	outcome  string // ok | error | blocked
	finish   string
	output   strings.Builder
	inTok    int64
	outTok   int64
	provided bool // token counts came from the provider
	reserved int  // event-queue slots reserved and not yet used
	ttft     time.Duration
	findings []event.Trigger
	action   scan.Action
	attrs    map[string]any
	// guardsAsked: the route's guard models were consulted for this call; guardClosed: a
	// fail-closed one gave no verdict.
	guardsAsked, guardClosed bool
	redactIn                 []scan.Finding
	// storeOnly are input PII findings the policy allows (a user's own
	// name or address): not triggers, but redacted from the stored text.
	storeOnly []scan.Finding
	outFinds  []scan.Finding
	streamed  bool
	segs      []seg // texts the current SSE event added to output
	// delivered is how much of output reached the client (before any redaction).
	delivered int
}

type span struct{ start, end int }

// Shared read-only header values (never appended to or modified).
var (
	hdrJSON        = []string{"application/json"}
	hdrEventStream = []string{"text/event-stream"}
)

func (g *Gateway) serveInference(ep endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{g: g, r: r, ep: ep, start: time.Now(), id: newRequestID(), outcome: "ok", action: scan.ActionAllow}
		c.idHdr = []string{c.id}
		w.Header()["X-Warden-Request-Id"] = c.idHdr
		c.serve(w)
		if c.streamed {
			c.record(c.outFinds, scan.Output)
		}
		g.countRequest(ep, c.status)
		if c.rt != nil {
			g.overhead.Observe(max(0, time.Since(c.start)-c.upWait).Seconds())
			g.inferenceEvent(c)
		}
		g.events.release(c.reserved)
	}
}

func (c *call) fail(w http.ResponseWriter, e *apiError, outcome string) {
	c.status, c.errCode, c.outcome = e.status, e.code, outcome
	writeAPIError(w, e)
}

func (c *call) serve(w http.ResponseWriter) {
	g, r := c.g, c.r
	k, aerr := g.authenticate(r)
	c.key = k
	if aerr != nil && isUnauthenticated(k, aerr) {
		c.status = g.denyUnauthenticated(w, r, k, aerr).status
		return
	}
	if aerr != nil {
		g.accessEvent(r, k, "", "invoke", aerr, c.id, nil)
		c.status = aerr.status
		writeAPIError(w, aerr)
		return
	}
	// Room for this request's access decision and inference event, before anything is read
	// or forwarded: a request whose events could not be recorded is not served.
	if !g.events.reserve(2) {
		c.status = http.StatusServiceUnavailable
		g.events.refused.Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, c.status, "server_error", "event_backlog", "Warden cannot record more requests right now; retry shortly.")
		return
	}
	c.reserved = 2
	buf := g.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer g.bufs.Put(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes)); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			c.status = http.StatusRequestEntityTooLarge
			writeError(w, c.status, "invalid_request_error", "body_too_large", "Request body too large.")
			return
		}
		c.status = http.StatusBadRequest
		writeError(w, c.status, "invalid_request_error", "body_read_error", "Could not read the request body.")
		return
	}
	body := buf.Bytes()
	body, perr := parseRequest(body, &c.f)
	if perr != nil {
		c.status = perr.status
		writeAPIError(w, perr)
		return
	}
	if c.f.Model == "" {
		c.status = http.StatusBadRequest
		writeError(w, c.status, "invalid_request_error", "missing_model", "The request body must name a model.")
		return
	}
	rt := g.routes().routes[c.f.Model]
	if rt == nil {
		e := policyError(http.StatusNotFound, "model_not_found", "The model "+strconv.Quote(c.f.Model)+" is not in Warden's inventory.")
		g.accessEvent(r, k, c.f.Model, "invoke", e, c.id, &c.reserved)
		c.status = e.status
		writeAPIError(w, e)
		return
	}
	c.rt = rt
	c.extractInput()
	if e := c.authorize(); e != nil {
		g.accessEvent(r, k, rt.model.Name, "invoke", e, c.id, &c.reserved)
		c.fail(w, e, "blocked")
		return
	}
	g.accessEvent(r, k, rt.model.Name, "invoke", nil, c.id, &c.reserved)
	if rt.err != nil || len(rt.upstreams) == 0 {
		g.log.Error("model route misconfigured", "model", rt.model.Name, "err", rt.err)
		c.fail(w, &apiError{status: http.StatusServiceUnavailable, typ: "upstream_error", code: "route_misconfigured", msg: "The route for this model is misconfigured."}, "error")
		return
	}
	// Input scanning.
	if c.input != "" && g.opts.Scanner != nil {
		fs, act, guardClosed, err := c.scan(r.Context(), c.input, scan.Input, true)
		c.record(fs, scan.Input)
		if err != nil {
			c.setAttr("warden.scan_error", "input")
		}
		if guardClosed {
			c.action = scan.ActionBlock
			c.fail(w, guardUnavailable("this request"), "blocked")
			return
		}
		if err != nil && !rt.failOpen {
			c.fail(w, policyError(http.StatusServiceUnavailable, "scanner_unavailable", "Warden could not scan this request and the model's policy is fail-closed."), "blocked")
			return
		}
		c.action = c.action.Stronger(act)
		switch act {
		case scan.ActionBlock:
			c.fail(w, policyError(http.StatusForbidden, "content_blocked", "Request blocked by Warden policy: "+topCategory(fs, rt, scan.Input)+" detected in the input."), "blocked")
			return
		case scan.ActionRedact:
			c.redactIn = fs
		}
	}
	// Forward.
	var addUsage bool
	if c.f.Stream && c.ep != epEmbeddings {
		addUsage = c.f.StreamOptions == nil || !c.f.StreamOptions.IncludeUsage
	}
	if c.redactIn != nil {
		nb, err := c.redactedBody(body)
		if err != nil {
			c.fail(w, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_json", msg: "Could not redact the request body."}, "error")
			return
		}
		body = nb
	}
	c.forward(w, body, addUsage)
}

// authorize applies model containment, the access policy and rate limits.
func (c *call) authorize() *apiError {
	g, k, rt := c.g, c.key, c.rt
	if g.isProbe(k) {
		// Warden's own probes test the route itself: containment applies, the access policy
		// and key rate limits (which belong to consumers) do not.
		if g.opts.Contain != nil {
			if _, ok := g.opts.Contain.ModelPaused(rt.model.Name); ok {
				return policyError(http.StatusServiceUnavailable, "model_paused", "The route to model "+strconv.Quote(rt.model.Name)+" is paused by Warden containment; try again later.")
			}
		}
		return nil
	}
	if ok, code, reason := rt.allowedFor(k.Groups, k.Models); !ok {
		return policyError(http.StatusForbidden, code, reason+".")
	}
	if g.opts.Contain != nil {
		if _, ok := g.opts.Contain.ModelPaused(rt.model.Name); ok {
			return policyError(http.StatusServiceUnavailable, "model_paused", "The route to model "+strconv.Quote(rt.model.Name)+" is paused by Warden containment; try again later.")
		}
		if a, ok := g.opts.Contain.ConsumerRateLimit(k.Consumer); ok {
			if ok, wait := g.limits.get("crpm:"+k.Consumer).take(g.opts.Now(), float64(a.RPM), 1); !ok {
				e := policyError(http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit for this consumer reached (containment).")
				e.retryAfter = retryAfter(wait)
				return e
			}
		}
	}
	now := g.opts.Now()
	if k.RPM > 0 {
		if ok, wait := g.limits.get("rpm:"+k.ID).take(now, float64(k.RPM), 1); !ok {
			e := policyError(http.StatusTooManyRequests, "rate_limit_exceeded", "Requests-per-minute limit of this key reached.")
			e.retryAfter = retryAfter(wait)
			return e
		}
	}
	if k.TPM > 0 {
		if ok, wait := g.limits.get("tpm:"+k.ID).take(now, float64(k.TPM), float64(estimateTokens(c.input))); !ok {
			e := policyError(http.StatusTooManyRequests, "rate_limit_exceeded", "Tokens-per-minute limit of this key reached.")
			e.retryAfter = retryAfter(wait)
			return e
		}
	}
	return nil
}

// parseRequest is the gateway's one reading of a request body: checkBody, canonical escaping
// when names were escaped, then a strict decode of the fields into f. It returns the body to
// forward (the one that was read).
func parseRequest(body []byte, f *reqFields) ([]byte, *apiError) {
	escaped, rerr := checkBody(body)
	if rerr != nil {
		return nil, rerr.apiError()
	}
	if escaped {
		nb, err := formatBody(body)
		if err != nil {
			return nil, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_json", msg: "The request body is not valid JSON."}
		}
		body = nb
	}
	if err := jsonv2.Unmarshal(body, f, strictJSON); err != nil {
		e := &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_field", msg: "The request body is not valid for this endpoint."}
		var se *jsonv2.SemanticError
		if errors.As(err, &se) {
			e.param = pointerParam(se.JSONPointer)
			e.msg = "Invalid type for " + strconv.Quote(e.param) + ": expected " + goTypeName(se) + "."
		}
		return nil, e
	}
	return body, nil
}

// goTypeName names the JSON type a decoding error expected.
func goTypeName(se *jsonv2.SemanticError) string {
	if se.GoType == nil {
		return "another type"
	}
	switch se.GoType.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	return "another type"
}

func estimateTokens(s string) int64 { return int64((len(s) + 3) / 4) }

// extractInput collects the text of the request for scanning and the event. A single piece
// (the common one-message request) is used as is, without copying it into a builder.
func (c *call) extractInput() {
	var first string
	var b strings.Builder
	c.spans = c.spanBuf[:0]
	add := func(s string) {
		if s == "" {
			return
		}
		switch {
		case len(c.spans) == 0:
			first = s
		case len(c.spans) == 1:
			b.Grow(len(first) + 1 + len(s))
			b.WriteString(first)
			fallthrough
		default:
			b.WriteByte('\n')
		}
		st := 0
		if len(c.spans) > 0 {
			st = b.Len()
			b.WriteString(s)
		}
		c.spans = append(c.spans, span{st, st + len(s)})
	}
	for _, m := range c.f.Messages {
		add(contentText(m.Content))
	}
	if len(c.f.Prompt) > 0 {
		add(contentText(c.f.Prompt))
	}
	if len(c.f.Input) > 0 {
		add(contentText(c.f.Input))
	}
	// Text the redaction path does not rewrite comes last, so spans above keep their order.
	add(c.f.Suffix)
	for _, m := range c.f.Messages {
		for _, tc := range m.ToolCalls {
			add(tc.Function.text())
		}
		add(m.FunctionCall.text())
	}
	for _, t := range c.f.Tools {
		add(t.Function.text())
	}
	for i := range c.f.Functions {
		add(c.f.Functions[i].text())
	}
	if len(c.spans) == 1 {
		c.input = first
	} else {
		c.input = b.String()
	}
}

// contentText reads a string, an array of strings, or an array of {type, text} parts.
func contentText(raw []byte) string {
	if len(raw) == 0 || raw[0] == 'n' {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if jsonv2.Unmarshal(raw, &s, strictJSON) == nil {
			return s
		}
		return ""
	}
	var parts []jsontext.Value
	if raw[0] != '[' || jsonv2.Unmarshal(raw, &parts, strictJSON) != nil {
		return ""
	}
	var out []string
	for _, p := range parts {
		if len(p) > 0 && p[0] == '"' {
			var s string
			if jsonv2.Unmarshal(p, &s, strictJSON) == nil {
				out = append(out, s)
			}
			continue
		}
		var part struct {
			Text string `json:"text"`
		}
		if jsonv2.Unmarshal(p, &part, strictJSON) == nil && part.Text != "" {
			out = append(out, part.Text)
		}
	}
	return strings.Join(out, "\n")
}

// redactedBody rewrites string message contents (or a string prompt/input) with the input
// findings redacted. This path re-encodes the body; it only runs when the policy says redact.
func (c *call) redactedBody(body []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	shift := func(sp span) []scan.Finding {
		var out []scan.Finding
		for _, f := range c.redactIn {
			if f.Start >= sp.start && f.End <= sp.end {
				f.Start -= sp.start
				f.End -= sp.start
				out = append(out, f)
			}
		}
		return out
	}
	i := 0 // index into c.spans, in extractInput order
	if len(c.f.Messages) > 0 {
		var msgs []map[string]json.RawMessage
		if err := json.Unmarshal(doc["messages"], &msgs); err != nil {
			return nil, err
		}
		for mi, m := range c.f.Messages {
			if contentText(m.Content) == "" {
				continue
			}
			sp := c.spans[i]
			i++
			var s string
			if json.Unmarshal(m.Content, &s) != nil {
				continue // multi-part content is scanned and flagged but not rewritten
			}
			red, _ := json.Marshal(scan.Redact(s, shift(sp)))
			msgs[mi]["content"] = red
		}
		b, err := json.Marshal(msgs)
		if err != nil {
			return nil, err
		}
		doc["messages"] = b
	}
	for _, field := range []string{"prompt", "input"} {
		raw := doc[field]
		var s string
		if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || s == "" || i >= len(c.spans) {
			continue
		}
		red, _ := json.Marshal(scan.Redact(s, shift(c.spans[i])))
		doc[field] = red
		i++
	}
	c.setAttr("warden.input_redacted", true)
	return json.Marshal(doc)
}

// scan runs the route's scanners over text, and its guard models when guards is set. Guard
// models that gave no verdict are recorded on the event (warden.guard_error, with
// warden.guards naming the guards asked); guardClosed reports that one of them is fail-closed.
// err is a failure of the built-in scanners (the model's fail_open decides).
func (c *call) scan(ctx context.Context, text string, role scan.Role, guards bool) (fs []scan.Finding, act scan.Action, guardClosed bool, err error) {
	asked := guards && len(c.rt.guards) > 0 && text != "" && c.g.opts.Scanner != nil
	fs, act, gerrs, err := c.g.scanWith(ctx, c.rt, text, role, guards)
	if asked {
		c.guardsAsked = true
		c.setAttr("warden.guards", strings.Join(c.rt.guards, ","))
	}
	for _, ge := range gerrs {
		msg := ge.Guard + ": " + ge.Reason + " (" + string(role) + ")"
		if prev, ok := c.attrs["warden.guard_error"].(string); ok && prev != "" {
			msg = prev + "; " + msg
		}
		c.setAttr("warden.guard_error", msg)
		guardClosed = guardClosed || ge.FailClosed
	}
	if guardClosed {
		act = scan.ActionBlock
		c.guardClosed = true
	}
	return fs, act, guardClosed, err
}

// guardUnavailable is the error of a request blocked because a fail-closed guard model gave
// no verdict on what (the request or the response).
func guardUnavailable(what string) *apiError {
	return policyError(http.StatusServiceUnavailable, "guard_unavailable", "Warden's guard model could not judge "+what+" and its policy is fail-closed.")
}

func (c *call) setAttr(k string, v any) {
	if c.attrs == nil {
		c.attrs = map[string]any{}
	}
	c.attrs[k] = v
}

// record adds the findings the route's policy acts on (flag, redact or block) as event
// triggers; scores below every threshold are noise, not safety triggers.
func (c *call) record(fs []scan.Finding, role scan.Role) {
	for _, f := range fs {
		if c.rt != nil && c.rt.policy.Triggers(role, f) == scan.ActionAllow {
			if role == scan.Input && f.Category == scan.CatPII {
				c.storeOnly = append(c.storeOnly, f)
			}
			continue
		}
		c.findings = append(c.findings, event.Trigger{Detector: f.Detector, Category: f.Category, Score: clamp01(f.Score), Role: string(role), Start: f.Start, End: f.End})
	}
}

func clamp01(x float64) float64 { return min(1, max(0, x)) }

// topCategory names the category of the strongest finding that triggered the action.
func topCategory(fs []scan.Finding, rt *route, role scan.Role) string {
	best, bestScore := "content", -1.0
	for _, f := range fs {
		if rt.policy.Triggers(role, f) == scan.ActionBlock && f.Score > bestScore {
			best, bestScore = f.Category, f.Score
		}
	}
	return best
}

var errAllUpstreamsFailed = errors.New("all upstreams failed")

// send tries the route's upstreams in order: a connection error or a 5xx moves to the next.
// The returned response's body belongs to the caller.
func (c *call) send(ctx context.Context, body []byte, addUsage bool) (*http.Response, error) {
	g := c.g
	patched := g.bufs.Get().(*bytes.Buffer)
	defer g.bufs.Put(patched)
	var lastErr error
	for i := range c.rt.upstreams {
		up := &c.rt.upstreams[i]
		model := ""
		if up.model != c.f.Model {
			model = up.model
		}
		out := body
		if model != "" || addUsage {
			patched.Reset()
			if err := patchBody(patched, body, model, addUsage); err != nil {
				return nil, err
			}
			out = patched.Bytes()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, up.base+c.ep.upstreamPath(), bytes.NewReader(out))
		if err != nil {
			lastErr = errors.New("invalid upstream request")
			continue
		}
		// Header values are shared read-only slices: RoundTrip never modifies the request.
		hdr := req.Header
		hdr["Content-Type"] = hdrJSON
		if c.f.Stream {
			hdr["Accept"] = hdrEventStream
		} else {
			hdr["Accept"] = hdrJSON
		}
		hdr["X-Warden-Request-Id"] = c.idHdr
		if up.auth != nil {
			hdr["Authorization"] = up.auth
		}
		if i > 0 {
			g.fallbacks.WithLabelValues(c.rt.model.Name).Inc()
		}
		c.up = up
		resp, err := g.opts.Transport.RoundTrip(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The transport error may contain the URL but never the header; log the host only.
			g.log.Warn("upstream request failed", "model", c.rt.model.Name, "upstream", up.host, "attempt", i)
			lastErr = errAllUpstreamsFailed
			continue
		}
		if resp.StatusCode >= 500 && i+1 < len(c.rt.upstreams) {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			g.log.Warn("upstream answered 5xx; trying fallback", "model", c.rt.model.Name, "upstream", up.host, "status", resp.StatusCode)
			lastErr = errAllUpstreamsFailed
			continue
		}
		return resp, nil
	}
	if lastErr == nil {
		lastErr = errAllUpstreamsFailed
	}
	return nil, lastErr
}

func (c *call) forward(w http.ResponseWriter, body []byte, addUsage bool) {
	g := c.g
	timeout := c.rt.model.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), timeout)
	defer cancel()
	// The listener's read and write timeouts bound a request; a forwarded call may stream for
	// its route's timeout. The body has been read, so the read deadline is lifted.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(timeout + 10*time.Second))
	t0 := time.Now()
	resp, err := c.send(ctx, body, addUsage)
	if err != nil {
		c.upWait += time.Since(t0)
		switch {
		case c.r.Context().Err() != nil:
			c.status, c.outcome, c.finish, c.errCode = 499, "error", "client_cancel", "client_cancel"
		case errors.Is(err, context.DeadlineExceeded):
			c.fail(w, &apiError{status: http.StatusGatewayTimeout, typ: "upstream_error", code: "upstream_timeout", msg: "The upstream model did not answer in time."}, "error")
			c.finish = "timeout"
		default:
			c.fail(w, &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_unavailable", msg: "No upstream for this model is reachable."}, "error")
			c.finish = "upstream_error"
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		// The provider rejected Warden's credential; its message may quote part of it.
		c.upWait += time.Since(t0)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		g.log.Error("upstream rejected the gateway's credential", "model", c.rt.model.Name, "upstream", c.up.host, "status", resp.StatusCode)
		c.fail(w, &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_auth_failed", msg: "The upstream rejected Warden's credentials for this model."}, "error")
		c.finish = "upstream_error"
		return
	}
	if c.f.Stream && resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		c.stream(ctx, w, resp, t0, addUsage)
		return
	}
	c.complete(w, resp, t0)
}

// completion is the part of a non-streamed answer the gateway reads.
type completion struct {
	Choices []struct {
		Message *struct {
			Content *string `json:"content"`
		} `json:"message"`
		Text         *string `json:"text"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

func (c *call) complete(w http.ResponseWriter, resp *http.Response, t0 time.Time) {
	g := c.g
	buf := g.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer g.bufs.Put(buf)
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, g.opts.MaxResponseBytes+1))
	c.upWait += time.Since(t0)
	if err != nil {
		if c.r.Context().Err() != nil {
			c.status, c.outcome, c.finish, c.errCode = 499, "error", "client_cancel", "client_cancel"
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			c.fail(w, &apiError{status: http.StatusGatewayTimeout, typ: "upstream_error", code: "upstream_timeout", msg: "The upstream model did not answer in time."}, "error")
			c.finish = "timeout"
			return
		}
		c.fail(w, &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_read_error", msg: "The upstream connection failed mid-response."}, "error")
		c.finish = "upstream_error"
		return
	}
	if int64(buf.Len()) > g.opts.MaxResponseBytes {
		c.fail(w, &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_response_too_large", msg: "The upstream response exceeds Warden's limit."}, "error")
		return
	}
	out := buf.Bytes()
	c.status = resp.StatusCode
	if resp.StatusCode >= 300 {
		c.outcome, c.errCode, c.finish = "error", "upstream_"+strconv.Itoa(resp.StatusCode), "upstream_error"
	} else if c.ep != epEmbeddings {
		var comp completion
		if jsonv2.Unmarshal(out, &comp, v1Compat) == nil {
			texts := make([]string, len(comp.Choices))
			for i, ch := range comp.Choices {
				switch {
				case ch.Message != nil && ch.Message.Content != nil:
					texts[i] = *ch.Message.Content
				case ch.Text != nil:
					texts[i] = *ch.Text
				}
				if i == 0 {
					c.finish = ch.FinishReason
				}
			}
			c.output.WriteString(strings.Join(texts, "\n"))
			if comp.Usage != nil {
				c.inTok, c.outTok, c.provided = comp.Usage.PromptTokens, comp.Usage.CompletionTokens, true
			}
			if nb, blocked := c.scanOutputs(w, out, texts); blocked {
				return
			} else if nb != nil {
				out = nb
			}
		}
	} else {
		var emb struct {
			Usage *struct {
				PromptTokens int64 `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if jsonv2.Unmarshal(out, &emb, v1Compat) == nil && emb.Usage != nil {
			c.inTok, c.provided = emb.Usage.PromptTokens, true
		}
		c.finish = "stop"
	}
	h := w.Header()
	if ct := resp.Header["Content-Type"]; len(ct) > 0 && ct[0] != "" {
		h["Content-Type"] = ct[:1:1] // the upstream response's own value, not modified later
	}
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// scanOutputs scans each choice; it writes the block error itself (blocked = true) or returns
// a rewritten body when the policy redacts.
func (c *call) scanOutputs(w http.ResponseWriter, body []byte, texts []string) ([]byte, bool) {
	g := c.g
	if g.opts.Scanner == nil {
		return nil, false
	}
	act := scan.ActionAllow
	per := make([][]scan.Finding, len(texts))
	var scanErr error
	var guardClosed bool
	for i, t := range texts {
		fs, a, closed, err := c.scan(c.r.Context(), t, scan.Output, true)
		if err != nil {
			scanErr = err
		}
		guardClosed = guardClosed || closed
		per[i] = fs
		c.record(fs, scan.Output)
		c.outFinds = append(c.outFinds, fs...)
		act = act.Stronger(a)
	}
	if guardClosed {
		c.fail(w, guardUnavailable("the response"), "blocked")
		c.action = scan.ActionBlock
		return nil, true
	}
	if scanErr != nil {
		c.setAttr("warden.scan_error", "output")
		if !c.rt.failOpen {
			c.fail(w, policyError(http.StatusServiceUnavailable, "scanner_unavailable", "Warden could not scan the response and the model's policy is fail-closed."), "blocked")
			c.action = scan.ActionBlock
			return nil, true
		}
	}
	c.action = c.action.Stronger(act)
	switch act {
	case scan.ActionBlock:
		var all []scan.Finding
		for _, fs := range per {
			all = append(all, fs...)
		}
		c.fail(w, policyError(http.StatusForbidden, "output_blocked", "Response blocked by Warden policy: "+topCategory(all, c.rt, scan.Output)+" detected in the output."), "blocked")
		c.finish = "blocked"
		return nil, true
	case scan.ActionRedact:
		nb, err := redactChoices(body, per, texts)
		if err != nil {
			c.fail(w, policyError(http.StatusForbidden, "output_blocked", "Response withheld: Warden could not redact it."), "blocked")
			return nil, true
		}
		return nb, false
	}
	return nil, false
}

// redactChoices rewrites choices[i].message.content / choices[i].text with redactions.
func redactChoices(body []byte, per [][]scan.Finding, texts []string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var choices []map[string]json.RawMessage
	if err := json.Unmarshal(doc["choices"], &choices); err != nil {
		return nil, err
	}
	for i := range choices {
		if i >= len(per) || len(per[i]) == 0 {
			continue
		}
		red, _ := json.Marshal(scan.Redact(texts[i], per[i]))
		if msg, ok := choices[i]["message"]; ok {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(msg, &m); err != nil {
				return nil, err
			}
			m["content"] = red
			choices[i]["message"], _ = json.Marshal(m)
		} else {
			choices[i]["text"] = red
		}
	}
	b, err := json.Marshal(choices)
	if err != nil {
		return nil, err
	}
	doc["choices"] = b
	return json.Marshal(doc)
}

// chunk is the part of a stream chunk the gateway reads.
type chunk struct {
	Choices []struct {
		Delta *struct {
			Content string `json:"content"`
		} `json:"delta"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// stream passes SSE events through one by one, flushing each; it reads each data chunk for
// text, finish reason and usage, scans the accumulated text as it grows, drops the usage-only
// chunk the client did not ask for, and cuts the stream on a block when configured to.
func (c *call) stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, t0 time.Time, addedUsage bool) {
	g := c.g
	fl, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	c.status, c.streamed = http.StatusOK, true
	if fl != nil {
		fl.Flush()
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	defer func() { br.Reset(nil); readers.Put(br) }()
	var ev bytes.Buffer // the current SSE event, lines included
	var lastScan int
	var firstByte bool
	cut := !g.opts.KeepStreamOnBlock
	if c.rt.holdOutput && g.opts.Scanner != nil && g.opts.StreamHoldback > 0 {
		c.streamHeld(ctx, w, fl, br, &ev, addedUsage)
		return
	}
	defer func() { c.setAttr("warden.stream_delivered_chars", float64(c.delivered)) }()
	for {
		tr := time.Now()
		line, err := c.readLine(br)
		c.upWait += time.Since(tr)
		if len(line) > 0 {
			ev.Write(line)
		}
		if err != nil {
			c.endStream(ctx, err)
			if ev.Len() > 0 && c.outcome == "ok" {
				c.onEvent(ev.Bytes(), addedUsage)
			}
			if g.opts.Scanner != nil && (c.output.Len() > lastScan || len(c.rt.guards) > 0 && !c.guardsAsked) && c.scanStream(ctx, true) && cut && c.outcome == "ok" {
				c.cutStream(w, fl)
				return
			}
			if ev.Len() > 0 && c.outcome == "ok" {
				c.delivered = c.output.Len()
				w.Write(ev.Bytes())
				if fl != nil {
					fl.Flush()
				}
			}
			return
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			continue // the event is not complete yet
		}
		forward, done := c.onEvent(ev.Bytes(), addedUsage)
		// Scan the accumulated text each time it grew by a quarter (at least 64 bytes), and at
		// the end: O(n) scanning in total, and a block stops the stream close to the finding.
		if grown := c.output.Len() - lastScan; g.opts.Scanner != nil && grown > 0 && (done || grown >= max(64, lastScan/4)) {
			lastScan = c.output.Len()
			if c.scanStream(ctx, done) && cut {
				c.cutStream(w, fl)
				return
			}
		}
		if forward {
			if _, werr := w.Write(ev.Bytes()); werr != nil {
				c.outcome, c.finish, c.errCode = "error", "client_cancel", "client_cancel"
				return
			}
			if fl != nil {
				fl.Flush()
			}
			c.delivered = c.output.Len()
			if !firstByte && c.output.Len() > 0 {
				firstByte = true
				c.ttft = time.Since(c.start)
			}
		}
		ev.Reset()
		if done {
			if c.finish == "" {
				c.finish = "stop"
			}
			return
		}
	}
}

var errStreamTooLarge = errors.New("upstream stream exceeds the response limit")

// readLine reads one SSE line; a line or a stream longer than MaxResponseBytes is an error, so
// an upstream cannot make the gateway buffer without bound.
func (c *call) readLine(br *bufio.Reader) ([]byte, error) {
	limit := c.g.opts.MaxResponseBytes
	if int64(c.output.Len()) > limit {
		return nil, errStreamTooLarge
	}
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A very long line: collect it whole, up to the limit.
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if int64(len(long)) > limit {
				return nil, errStreamTooLarge
			}
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	return line, err
}

// onEvent inspects one complete SSE event.
func (c *call) onEvent(ev []byte, addedUsage bool) (forward, done bool) {
	forward = true
	c.segs = c.segs[:0]
	for line := range bytes.SplitSeq(ev, []byte("\n")) {
		data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
		if !ok {
			continue
		}
		data = bytes.TrimSpace(data)
		if bytes.Equal(data, []byte("[DONE]")) {
			return true, true
		}
		var ch chunk
		if jsonv2.Unmarshal(data, &ch, v1Compat) != nil {
			continue
		}
		for i, choice := range ch.Choices {
			st := c.output.Len()
			if choice.Delta != nil {
				c.output.WriteString(choice.Delta.Content)
			} else {
				c.output.WriteString(choice.Text)
			}
			if c.output.Len() > st {
				c.segs = append(c.segs, seg{choice: i, start: st, end: c.output.Len()})
			}
			if choice.FinishReason != nil && *choice.FinishReason != "" && i == 0 {
				c.finish = *choice.FinishReason
			}
		}
		if ch.Usage != nil {
			c.inTok, c.outTok, c.provided = ch.Usage.PromptTokens, ch.Usage.CompletionTokens, true
			if addedUsage && len(ch.Choices) == 0 {
				forward = false // the client did not ask for the usage chunk
			}
		}
	}
	return forward, false
}

// scanStream scans the accumulated output; it reports whether the stream must be cut. Guard
// models are consulted on the final scan only (the whole output, once).
func (c *call) scanStream(ctx context.Context, final bool) bool {
	fs, act, guardClosed, err := c.scan(ctx, c.output.String(), scan.Output, final)
	c.outFinds = fs // each scan covers the whole text so far
	if err != nil {
		c.setAttr("warden.scan_error", "output")
	}
	if guardClosed {
		return true
	}
	if err != nil {
		return !c.rt.failOpen
	}
	if act == scan.ActionRedact {
		// Text already sent cannot be redacted; record a flag and say why.
		c.setAttr("warden.stream_redact_unavailable", true)
		act = scan.ActionFlag
	}
	c.action = c.action.Stronger(act)
	return act == scan.ActionBlock
}

func (c *call) cutStream(w http.ResponseWriter, fl http.Flusher) {
	code, text := "output_blocked", "Stream cut by Warden policy: "+topCategory(c.outFinds, c.rt, scan.Output)+" detected in the output."
	if c.guardClosed {
		e := guardUnavailable("the response")
		code, text = e.code, "Stream cut: "+e.msg
	}
	msg, _ := json.Marshal(map[string]any{"error": map[string]any{"message": text, "type": "warden_policy", "code": code, "param": nil}})
	w.Write([]byte("data: "))
	w.Write(msg)
	w.Write([]byte("\n\ndata: [DONE]\n\n"))
	if fl != nil {
		fl.Flush()
	}
	c.outcome, c.finish, c.errCode, c.action = "blocked", "blocked", code, scan.ActionBlock
}

// endStream records why a stream ended without [DONE].
func (c *call) endStream(ctx context.Context, err error) {
	switch {
	case c.r.Context().Err() != nil:
		c.outcome, c.finish, c.errCode = "error", "client_cancel", "client_cancel"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		c.outcome, c.finish, c.errCode = "error", "timeout", "upstream_timeout"
	case errors.Is(err, io.EOF) && c.finish != "":
		// Upstream closed after its finish chunk without [DONE]: a normal end.
	default:
		c.outcome, c.finish, c.errCode = "error", "upstream_error", "upstream_stream_error"
	}
}

// inferenceEvent builds and queues the inference event of a routed call.
func (g *Gateway) inferenceEvent(c *call) {
	if g.opts.Emitter == nil {
		return
	}
	m := &c.rt.model
	out := c.output.String()
	ev := &event.Event{
		Type:        event.TypeInference,
		Time:        c.start.UTC(),
		Environment: g.opts.Environment,
		Model:       event.Model{Name: m.Name, Version: m.Version},
		Source:      event.Source{IP: g.clientIP(c.r), Client: cleanHeader(c.r.UserAgent()), Endpoint: c.ep.path()},
		Request:     &event.Request{ID: c.id},
		Response:    &event.Response{Status: c.outcome, ErrorCode: c.errCode, FinishReason: c.finish},
		Attributes:  c.attrs,
	}
	if c.up != nil {
		ev.Source.Destination = c.up.host
		if c.up.model != m.Name {
			ev.Model.Upstream = c.up.model
		}
	}
	if c.key != nil {
		ev.Actor = event.Actor{APIKeyID: c.key.ID, Consumer: c.key.Consumer, Groups: c.key.Groups}
	}
	ev.Actor.User = cleanHeader(c.f.User)
	if u := cleanHeader(c.r.Header.Get("X-Warden-User")); u != "" {
		ev.Actor.User = u
	}
	ev.Actor.Session = cleanHeader(c.r.Header.Get("X-Warden-Session"))
	if g.isProbe(c.key) {
		g.markProbe(c.r, ev)
	}
	lat := float64(time.Since(c.start).Microseconds()) / 1000
	ev.Response.LatencyMS = &lat
	if c.f.Stream && c.ttft > 0 {
		t := float64(c.ttft.Microseconds()) / 1000
		ev.Response.TTFTMS = &t
	}
	forwarded := c.up != nil
	if forwarded {
		in, outT := c.inTok, c.outTok
		if !c.provided {
			in, outT = estimateTokens(c.input), estimateTokens(out)
			ev.Response.TokensEstimated = true
		}
		ev.Request.InputTokens, ev.Response.OutputTokens = &in, &outT
		cost := float64(in)*m.Price.InputPerMTok/1e6 + float64(outT)*m.Price.OutputPerMTok/1e6
		ev.CostUSD = &cost
		if k := c.key; k != nil && k.TPM > 0 {
			// Settle the token bucket: the request reserved its estimated input only.
			g.limits.get("tpm:" + k.ID).adjust(float64(estimateTokens(c.input) - in - outT))
		}
	}
	// Text per store_text: none keeps hashes and lengths only; redacted applies the findings.
	var inFinds []scan.Finding
	for _, t := range c.findings {
		if t.Role == string(scan.Input) {
			inFinds = append(inFinds, scan.Finding{Detector: t.Detector, Category: t.Category, Score: t.Score, Start: t.Start, End: t.End})
		}
	}
	switch m.StoreText {
	case "full":
		ev.Request.Input, ev.Response.Output = c.input, out
	case "none":
		if c.input != "" {
			ev.Request.InputSHA256, ev.Request.InputChars = sha256Hex(c.input), len(c.input)
		}
		if out != "" {
			ev.Response.OutputSHA256, ev.Response.OutputChars = sha256Hex(out), len(out)
		}
	default:
		ev.Request.Input = scan.Redact(c.input, append(inFinds, c.storeOnly...))
		ev.Response.Output = scan.Redact(out, c.outFinds)
	}
	if len(c.findings) > 0 || c.action != scan.ActionAllow {
		ev.Safety = &event.Safety{Triggers: c.findings, Action: string(c.action)}
	}
	if c.f.Stream && !forwarded {
		ev.Response.TTFTMS = nil
	}
	if !g.events.push(ev, &c.reserved) {
		g.events.dropped.Inc() // unreachable: the call reserved its slot
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
