package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// GuardVersion is the wire-contract version Warden sends in every classifier request and
// accepts in responses (docs/INTEGRATIONS.md, "Guard models"). Responses may omit it; a
// response naming another major version is rejected.
const GuardVersion = "warden.guard/v1"

// ExternalOptions configure the HTTP classifier hook (the transport of guard models).
//
// Request: POST URL with Content-Type application/json and body
//
//	{"version": "warden.guard/v1", "text": "...", "role": "input"|"output", "model": "...",
//	 "categories": ["prompt_injection", ...]}
//
// (categories only when set). Response: 200, Content-Type application/json, with either
//
//	{"findings": [{"category": "prompt_injection", "score": 0.97, "label": "...", "start": 0, "end": 12}]}
//
// or the short form {"score": 0.97, "category": "jailbreak", "label": "..."}.
// A finding without category gets "external"; without a valid start/end it spans
// the whole text. Any other status, another content type, a body over
// MaxResponseBytes, a timeout or a malformed body is an [*ExternalError]; after
// FailureThreshold consecutive errors the breaker opens for Cooldown and the hook
// answers ErrCircuitOpen without calling out.
type ExternalOptions struct {
	URL              string
	Name             string // detector name prefix, default "external"
	Timeout          time.Duration
	FailureThreshold int
	Cooldown         time.Duration
	// MaxResponseBytes bounds the response body read (default 1 MiB); a longer body is an
	// error with reason "too_large", and no more than this is ever read.
	MaxResponseBytes int64
	// Categories, when set, are sent in the request: what the classifier is asked to decide.
	Categories []string
	Header     http.Header // e.g. Authorization; never logged
	Client     *http.Client
	// Observe, when set, receives the latency of every call that went out and its error.
	Observe func(d time.Duration, err error)
}

func (o ExternalOptions) validate() error {
	if o.URL == "" {
		return nil
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("scan options: External.URL must be an http(s) URL")
	}
	if o.Timeout < 0 || o.Cooldown < 0 || o.FailureThreshold < 0 || o.MaxResponseBytes < 0 {
		return fmt.Errorf("scan options: External timeouts, threshold and size must not be negative")
	}
	return nil
}

// ErrCircuitOpen is returned (wrapped in an [*ExternalError] with reason "circuit_open")
// while the external hook's breaker is open.
var ErrCircuitOpen = errors.New("external classifier circuit open")

// Reasons an external classifier call failed; they label the guard error metrics.
const (
	ReasonTimeout     = "timeout"      // the call's deadline passed (connect, headers or body)
	ReasonCanceled    = "canceled"     // the caller went away; not counted by the breaker
	ReasonUnreachable = "unreachable"  // connection refused, DNS, TLS, reset
	ReasonStatus      = "status"       // any status other than 200
	ReasonContentType = "content_type" // a 200 whose Content-Type is not JSON
	ReasonTooLarge    = "too_large"    // body longer than MaxResponseBytes
	ReasonMalformed   = "malformed"    // not the contract's JSON, or a score outside [0,1]
	ReasonVersion     = "version"      // the response names another contract version
	ReasonCircuitOpen = "circuit_open" // the breaker is open: no call went out
)

// ExternalError is a failed classifier call. Its message never contains the URL, headers,
// the scanned text or the response body.
type ExternalError struct {
	Reason string
	Status int // HTTP status for ReasonStatus
	Err    error
}

func (e *ExternalError) Error() string {
	switch {
	case e.Reason == ReasonStatus:
		return fmt.Sprintf("external classifier: status %d", e.Status)
	case e.Err != nil:
		return "external classifier: " + e.Reason + ": " + e.Err.Error()
	}
	return "external classifier: " + e.Reason
}

func (e *ExternalError) Unwrap() error { return e.Err }

// External is the HTTP classifier scanner.
type External struct {
	o   ExternalOptions
	log *slog.Logger

	mu       sync.Mutex
	failures int
	openTill time.Time
	now      func() time.Time
}

var _ Scanner = (*External)(nil)

// NewExternal builds the hook; defaults: timeout 500 ms, 5 failures, 30 s, 1 MiB.
func NewExternal(o ExternalOptions, log *slog.Logger) (*External, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("scan options: External.URL is empty")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = 500 * time.Millisecond
	}
	if o.FailureThreshold == 0 {
		o.FailureThreshold = 5
	}
	if o.Cooldown == 0 {
		o.Cooldown = 30 * time.Second
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 1 << 20
	}
	if o.Name == "" {
		o.Name = "external"
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &External{o: o, log: log, now: time.Now}, nil
}

// Name implements Scanner.
func (x *External) Name() string { return x.o.Name }

// Scan implements Scanner.
func (x *External) Scan(ctx context.Context, in *Doc) ([]Finding, error) {
	x.mu.Lock()
	if x.now().Before(x.openTill) {
		x.mu.Unlock()
		return nil, &ExternalError{Reason: ReasonCircuitOpen, Err: ErrCircuitOpen}
	}
	x.mu.Unlock()
	start := x.now()
	fs, err := x.call(ctx, in)
	d := x.now().Sub(start)
	if x.o.Observe != nil {
		x.o.Observe(d, err)
	}
	var xe *ExternalError
	if errors.As(err, &xe) && xe.Reason == ReasonCanceled {
		return nil, err // the caller left: says nothing about the classifier's health
	}
	x.mu.Lock()
	if err != nil {
		x.failures++
		if x.failures >= x.o.FailureThreshold {
			x.openTill = x.now().Add(x.o.Cooldown)
			x.failures = 0
			x.log.Warn("external classifier circuit opened", "detector", x.o.Name, "url_host", hostOf(x.o.URL), "cooldown", x.o.Cooldown)
		}
	} else {
		x.failures = 0
	}
	x.mu.Unlock()
	return fs, err
}

func hostOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

type extRequest struct {
	Version    string   `json:"version"`
	Text       string   `json:"text"`
	Role       string   `json:"role"`
	Model      string   `json:"model"`
	Categories []string `json:"categories,omitempty"`
}

// transportError classifies an error of the HTTP exchange (request or body read).
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may carry credentials; do not echo it
	}
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ExternalError{Reason: ReasonCanceled, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ExternalError{Reason: ReasonTimeout, Err: context.DeadlineExceeded}
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return &ExternalError{Reason: ReasonTimeout, Err: err}
	}
	return &ExternalError{Reason: ReasonUnreachable, Err: err}
}

func (x *External) call(ctx context.Context, in *Doc) ([]Finding, error) {
	ctx, cancel := context.WithTimeout(ctx, x.o.Timeout)
	defer cancel()
	body, err := json.Marshal(extRequest{Version: GuardVersion, Text: in.Text, Role: string(in.Role), Model: in.Context.Model, Categories: x.o.Categories})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.o.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range x.o.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := x.o.Client.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, &ExternalError{Reason: ReasonStatus, Status: resp.StatusCode}
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return nil, &ExternalError{Reason: ReasonContentType, Err: errors.New("response is not application/json")}
	}
	// Read one byte past the limit to tell "exactly at the limit" from "longer".
	data, err := io.ReadAll(io.LimitReader(resp.Body, x.o.MaxResponseBytes+1))
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if int64(len(data)) > x.o.MaxResponseBytes {
		return nil, &ExternalError{Reason: ReasonTooLarge, Err: fmt.Errorf("response body over %d bytes", x.o.MaxResponseBytes)}
	}
	return ParseExternalResponse(data, in.Text, x.o.Name)
}

// isJSON accepts application/json and any application/*+json media type.
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

type extFinding struct {
	Category string   `json:"category"`
	Label    string   `json:"label"`
	Score    *float64 `json:"score"`
	Start    *int     `json:"start"`
	End      *int     `json:"end"`
}

type extResponse struct {
	extFinding
	Version  string       `json:"version"`
	Findings []extFinding `json:"findings"`
}

// ParseExternalResponse decodes a classifier response body (the wire contract above) into
// findings about text, with detector names prefixed by name ("name.label" when a label is
// given). Errors are [*ExternalError] with ReasonMalformed or ReasonVersion; it never panics.
func ParseExternalResponse(data []byte, text, name string) ([]Finding, error) {
	var r extResponse
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, &ExternalError{Reason: ReasonMalformed, Err: errors.New("body is not a JSON object of the contract")}
	}
	if dec.More() {
		return nil, &ExternalError{Reason: ReasonMalformed, Err: errors.New("data after the JSON object")}
	}
	if r.Version != "" && r.Version != GuardVersion && !strings.HasPrefix(r.Version, GuardVersion+".") {
		return nil, &ExternalError{Reason: ReasonVersion, Err: errors.New("unsupported contract version")}
	}
	list := r.Findings
	if list == nil {
		if r.Score == nil {
			return nil, &ExternalError{Reason: ReasonMalformed, Err: errors.New(`neither "findings" nor "score" in the response`)}
		}
		list = []extFinding{r.extFinding}
	}
	out := make([]Finding, 0, len(list))
	for _, f := range list {
		if f.Score == nil || !(*f.Score >= 0 && *f.Score <= 1) {
			return nil, &ExternalError{Reason: ReasonMalformed, Err: errors.New("finding score missing or outside [0,1]")}
		}
		cat := f.Category
		if cat == "" {
			cat = CatExternal
		}
		if len(cat) > 64 {
			return nil, &ExternalError{Reason: ReasonMalformed, Err: errors.New("category longer than 64 bytes")}
		}
		s, e := 0, len(text)
		if f.Start != nil && f.End != nil && *f.Start >= 0 && *f.Start <= *f.End && *f.End <= len(text) {
			s, e = *f.Start, *f.End
		}
		det := name
		if f.Label != "" {
			det += "." + clip(f.Label, 64)
		}
		out = append(out, Finding{Detector: det, Category: cat, Score: *f.Score, Start: s, End: e})
	}
	return out, nil
}
