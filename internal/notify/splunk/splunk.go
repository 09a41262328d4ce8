// Package splunk delivers notifications to a Splunk HTTP Event Collector
// (POST /services/collector/event, Authorization: Splunk <token>): one HEC event per alert,
// batched in one request. The token never appears in errors.
package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// DefaultSourcetype is the sourcetype of Warden's events.
const DefaultSourcetype = "warden:alert"

// Event is one HEC event envelope.
type Event struct {
	Time       float64 `json:"time"`
	Host       string  `json:"host,omitempty"`
	Source     string  `json:"source"`
	Sourcetype string  `json:"sourcetype"`
	Index      string  `json:"index,omitempty"`
	Event      Body    `json:"event"`
}

// Body is the event data.
type Body struct {
	Version  string      `json:"version"`
	Kind     notify.Kind `json:"kind"`
	Level    int         `json:"level"`
	GroupKey string      `json:"group_key,omitempty"`
	Alert    alert.Alert `json:"alert"`
}

// Config is a Splunk HEC receiver.
type Config struct {
	// URL is the HEC base URL (https://splunk.example:8088) or the full event endpoint.
	URL string
	// Token is the HEC token; required.
	Token notify.Secret
	// Index, Source, Sourcetype and Host set the event metadata; Source defaults to "warden",
	// Sourcetype to DefaultSourcetype.
	Index, Source, Sourcetype, Host string
}

// Options carry runtime dependencies.
type Options struct {
	// Client sends requests; nil uses notify.NewHTTPClient(nil, 0).
	Client *http.Client
}

// Notifier posts to HEC.
type Notifier struct {
	cfg      Config
	endpoint string
	client   *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	if cfg.Token == "" {
		return nil, errors.New("splunk: token is empty")
	}
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("splunk: url %s: want an absolute http(s) URL", notify.RedactURL(cfg.URL))
	}
	if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/services/collector/event") {
		u = u.JoinPath("services", "collector", "event")
	}
	if cfg.Source == "" {
		cfg.Source = "warden"
	}
	if cfg.Sourcetype == "" {
		cfg.Sourcetype = DefaultSourcetype
	}
	c := opts.Client
	if c == nil {
		c = notify.NewHTTPClient(nil, 0)
	}
	return &Notifier{cfg: cfg, endpoint: u.String(), client: c}, nil
}

// Render returns the HEC request body for n: one JSON event per alert, concatenated.
func (s *Notifier) Render(n *notify.Notification) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for i := range n.Alerts {
		a := n.Alerts[i]
		t := a.UpdatedAt
		if t.IsZero() {
			t = n.Time
		}
		ev := Event{
			Time: float64(t.UnixMilli()) / 1000,
			Host: s.cfg.Host, Source: s.cfg.Source, Sourcetype: s.cfg.Sourcetype, Index: s.cfg.Index,
			Event: Body{Version: notify.PayloadVersion, Kind: n.Kind, Level: n.Level, GroupKey: n.GroupKey, Alert: a},
		}
		if err := enc.Encode(ev); err != nil {
			return nil, fmt.Errorf("splunk: encode event: %w", err)
		}
	}
	return b.Bytes(), nil
}

// Notify posts the events.
func (s *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	body, err := s.Render(n)
	if err != nil {
		return notify.Permanent(err)
	}
	h := http.Header{"Authorization": {"Splunk " + s.cfg.Token.Reveal()}}
	if err := notify.PostJSON(ctx, s.client, s.endpoint, h, body, s.cfg.Token.Reveal()); err != nil {
		return fmt.Errorf("splunk: %w", err)
	}
	return nil
}
