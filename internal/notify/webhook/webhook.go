// Package webhook delivers notifications as signed JSON to any HTTP endpoint, and provides
// [Verify] for receivers to check the X-Warden-Signature header.
//
// Body: {"version":"1","kind":..,"level":..,"group_key":..,"time":..,"alerts":[alert.Alert…]}.
// Header: X-Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with
// the receiver's secret. Receivers reject stale timestamps to stop replays.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// SignatureHeader is the header carrying the signature.
const SignatureHeader = "X-Warden-Signature"

// Payload is the JSON body of a webhook delivery.
type Payload struct {
	Version  string         `json:"version"`
	Kind     notify.Kind    `json:"kind"`
	Level    int            `json:"level"`
	Reminder bool           `json:"reminder,omitempty"`
	GroupKey string         `json:"group_key,omitempty"`
	Severity alert.Severity `json:"severity,omitempty"`
	Time     time.Time      `json:"time"`
	// Actor and Comment: who acknowledged or resolved, and why.
	Actor   string        `json:"actor,omitempty"`
	Comment string        `json:"comment,omitempty"`
	Alerts  []alert.Alert `json:"alerts"`
}

// Render returns the JSON body for n.
func Render(n *notify.Notification) ([]byte, error) {
	b, err := json.Marshal(Payload{
		Version: notify.PayloadVersion, Kind: n.Kind, Level: n.Level, Reminder: n.Reminder,
		GroupKey: n.GroupKey, Severity: n.Severity, Time: n.Time.UTC(),
		Actor: n.Actor, Comment: n.Comment, Alerts: n.Alerts,
	})
	if err != nil {
		return nil, fmt.Errorf("encode webhook payload: %w", err)
	}
	return b, nil
}

// Sign returns the X-Warden-Signature value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verification errors; test with errors.Is.
var (
	ErrMalformedSignature = errors.New("malformed signature header")
	ErrSignatureMismatch  = errors.New("signature does not match")
	ErrStaleTimestamp     = errors.New("signature timestamp outside tolerance")
)

// Signature is a parsed X-Warden-Signature header.
type Signature struct {
	Timestamp int64
	// V1 holds every v1 signature in the header (several during a secret rotation).
	V1 [][]byte
}

// ParseSignature parses "t=<unix seconds>,v1=<hex>[,v1=<hex>…]". Unknown keys are ignored for
// forward compatibility; exactly one t and at least one well-formed v1 are required.
func ParseSignature(header string) (Signature, error) {
	var sig Signature
	if len(header) > 4096 {
		return sig, fmt.Errorf("%w: longer than 4096 bytes", ErrMalformedSignature)
	}
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Signature{}, fmt.Errorf("%w: element without '='", ErrMalformedSignature)
		}
		switch k {
		case "t":
			if seenT {
				return Signature{}, fmt.Errorf("%w: more than one t", ErrMalformedSignature)
			}
			seenT = true
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ts <= 0 || v[0] == '+' {
				return Signature{}, fmt.Errorf("%w: t is not a positive unix time", ErrMalformedSignature)
			}
			sig.Timestamp = ts
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return Signature{}, fmt.Errorf("%w: v1 is not 64 hex digits", ErrMalformedSignature)
			}
			sig.V1 = append(sig.V1, b)
		}
	}
	if !seenT {
		return Signature{}, fmt.Errorf("%w: no t", ErrMalformedSignature)
	}
	if len(sig.V1) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1", ErrMalformedSignature)
	}
	return sig, nil
}

// Verify checks a delivery: header is the X-Warden-Signature value, body the raw request body.
// It fails unless one v1 signature matches (compared in constant time) and the timestamp is
// within tolerance of now in either direction; receivers should use a tolerance of a few
// minutes and may also remember recent signatures to reject exact replays inside it.
func Verify(header string, body []byte, secret []byte, tolerance time.Duration, now time.Time) error {
	if len(secret) == 0 {
		return errors.New("verify webhook signature: empty secret")
	}
	sig, err := ParseSignature(header)
	if err != nil {
		return err
	}
	ts := time.Unix(sig.Timestamp, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %v away from now, tolerance %v", ErrStaleTimestamp, d.Round(time.Second), tolerance)
	}
	want := mac(secret, strconv.FormatInt(sig.Timestamp, 10), body)
	for _, got := range sig.V1 {
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

// Config is a webhook receiver.
type Config struct {
	// URL receives the POST; http or https.
	URL string
	// Secret keys the HMAC; required.
	Secret notify.Secret
	// Header adds fixed headers to every request (e.g. an API gateway key).
	Header http.Header
}

// Options carry the runtime dependencies.
type Options struct {
	// Client sends the requests; nil uses notify.NewHTTPClient(nil, 0).
	Client *http.Client
	// Now stamps signatures; nil uses time.Now.
	Now func() time.Time
}

// Notifier posts signed JSON to a URL.
type Notifier struct {
	cfg     Config
	secrets []string
	client  *http.Client
	now     func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	if err := validateURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if cfg.Secret == "" {
		return nil, errors.New("webhook: secret is empty")
	}
	n := &Notifier{cfg: cfg, client: opts.Client, now: opts.Now, secrets: []string{cfg.Secret.Reveal()}}
	for _, vs := range cfg.Header {
		n.secrets = append(n.secrets, vs...)
	}
	if n.client == nil {
		n.client = notify.NewHTTPClient(nil, 0)
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// Notify posts the payload with a fresh signature.
func (w *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	body, err := Render(n)
	if err != nil {
		return notify.Permanent(err)
	}
	h := w.cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(SignatureHeader, Sign([]byte(w.cfg.Secret), w.now(), body))
	h.Set("X-Warden-Payload-Version", notify.PayloadVersion)
	if err := notify.PostJSON(ctx, w.client, w.cfg.URL, h, body, w.secrets...); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

func validateURL(raw string) error {
	if raw == "" {
		return errors.New("url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %s: want an absolute http(s) URL", notify.RedactURL(raw))
	}
	return nil
}
