package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ExternalOptions configure the HTTP classifier hook.
//
// Request: POST URL with Content-Type application/json and body
//
//	{"text": "...", "role": "input"|"output", "model": "..."}
//
// Response: 200 with either
//
//	{"findings": [{"category": "prompt_injection", "score": 0.97, "label": "...", "start": 0, "end": 12}]}
//
// or the short form {"score": 0.97, "category": "jailbreak", "label": "..."}.
// A finding without category gets "external"; without start/end it spans
// the whole text. Any other status, a timeout or a malformed body is an
// error; after FailureThreshold consecutive errors the breaker opens for
// Cooldown and the hook answers ErrCircuitOpen without calling out.
type ExternalOptions struct {
	URL              string
	Name             string // detector name prefix, default "external"
	Timeout          time.Duration
	FailureThreshold int
	Cooldown         time.Duration
	Header           http.Header // e.g. Authorization; never logged
	Client           *http.Client
	// Observe, when set, receives the latency of every call and its error.
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
	if o.Timeout < 0 || o.Cooldown < 0 || o.FailureThreshold < 0 {
		return fmt.Errorf("scan options: External timeouts and threshold must not be negative")
	}
	return nil
}

// ErrCircuitOpen is returned while the external hook's breaker is open.
var ErrCircuitOpen = errors.New("external classifier circuit open")

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

// NewExternal builds the hook; defaults: timeout 500 ms, 5 failures, 30 s.
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

type extFinding struct {
	Category string   `json:"category"`
	Label    string   `json:"label"`
	Score    *float64 `json:"score"`
	Start    *int     `json:"start"`
	End      *int     `json:"end"`
}

type extResponse struct {
	extFinding
	Findings []extFinding `json:"findings"`
}

// Scan implements Scanner.
func (x *External) Scan(ctx context.Context, in *Doc) ([]Finding, error) {
	x.mu.Lock()
	if x.now().Before(x.openTill) {
		x.mu.Unlock()
		return nil, ErrCircuitOpen
	}
	x.mu.Unlock()
	start := x.now()
	fs, err := x.call(ctx, in)
	d := x.now().Sub(start)
	if x.o.Observe != nil {
		x.o.Observe(d, err)
	}
	x.mu.Lock()
	if err != nil {
		x.failures++
		if x.failures >= x.o.FailureThreshold {
			x.openTill = x.now().Add(x.o.Cooldown)
			x.failures = 0
			x.log.Warn("external classifier circuit opened", "url_host", hostOf(x.o.URL), "cooldown", x.o.Cooldown)
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

func (x *External) call(ctx context.Context, in *Doc) ([]Finding, error) {
	ctx, cancel := context.WithTimeout(ctx, x.o.Timeout)
	defer cancel()
	body, err := json.Marshal(map[string]string{"text": in.Text, "role": string(in.Role), "model": in.Context.Model})
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
	resp, err := x.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry credentials; do not echo it
		}
		return nil, fmt.Errorf("external classifier: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("external classifier: status %d", resp.StatusCode)
	}
	var r extResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("external classifier: decode response: %w", err)
	}
	list := r.Findings
	if list == nil && r.Score != nil {
		list = []extFinding{r.extFinding}
	}
	out := make([]Finding, 0, len(list))
	for _, f := range list {
		if f.Score == nil || *f.Score < 0 || *f.Score > 1 {
			return nil, fmt.Errorf("external classifier: finding score missing or outside [0,1]")
		}
		cat := f.Category
		if cat == "" {
			cat = CatExternal
		}
		s, e := 0, len(in.Text)
		if f.Start != nil && f.End != nil && *f.Start >= 0 && *f.Start <= *f.End && *f.End <= len(in.Text) {
			s, e = *f.Start, *f.End
		}
		det := x.o.Name
		if f.Label != "" {
			det += "." + f.Label
		}
		out = append(out, Finding{Detector: det, Category: cat, Score: *f.Score, Start: s, End: e})
	}
	return out, nil
}
