// Package pagerduty delivers notifications through the PagerDuty Events API v2: one event per
// alert, trigger/acknowledge/resolve by the alert's dedup key, P1–P4 mapped to
// critical/error/warning/info. The routing key never appears in errors.
package pagerduty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Event is an Events API v2 request body.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Links       []Link   `json:"links,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
}

// Payload is the trigger payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the incident.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Severity maps a Warden severity to a PagerDuty one.
func Severity(s alert.Severity) string {
	switch s {
	case alert.P1:
		return "critical"
	case alert.P2:
		return "error"
	case alert.P3:
		return "warning"
	}
	return "info"
}

// DedupKey returns the PagerDuty dedup_key of a: its dedup key (its id when empty), replaced
// by "sha256:<hex>" when longer than PagerDuty's 255 characters.
func DedupKey(a *alert.Alert) string {
	k := a.DedupKey
	if k == "" {
		k = a.ID
	}
	if len(k) > 255 {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// Render builds the events for n, one per alert. routingKey is placed in each event.
func Render(n *notify.Notification, routingKey string) []Event {
	action := map[notify.Kind]string{
		notify.KindFiring: "trigger", notify.KindAcknowledged: "acknowledge", notify.KindResolved: "resolve",
	}[n.Kind]
	events := make([]Event, 0, len(n.Alerts))
	for i := range n.Alerts {
		a := &n.Alerts[i]
		ev := Event{RoutingKey: routingKey, EventAction: action, DedupKey: DedupKey(a)}
		if action == "trigger" {
			ev.Payload = &Payload{
				Summary:       truncate(fmt.Sprintf("[%s] %s: %s", a.Severity, a.RuleName, a.Summary), 1024),
				Source:        source(a),
				Severity:      Severity(a.Severity),
				Timestamp:     a.StartsAt.UTC().Format(time.RFC3339),
				Component:     a.Model,
				Group:         a.Environment,
				Class:         a.RuleID,
				CustomDetails: details(n, a),
			}
			if a.StartsAt.IsZero() {
				ev.Payload.Timestamp = ""
			}
			ev.Client = "Warden"
			if isWebURL(a.ConsoleURL) {
				ev.ClientURL = a.ConsoleURL
				ev.Links = append(ev.Links, Link{Href: a.ConsoleURL, Text: "Open in Warden"})
			}
			if isWebURL(a.Runbook) {
				ev.Links = append(ev.Links, Link{Href: a.Runbook, Text: "Runbook"})
			}
		}
		events = append(events, ev)
	}
	return events
}

func source(a *alert.Alert) string {
	parts := []string{"warden"}
	if a.Environment != "" {
		parts = append(parts, a.Environment)
	}
	if a.Model != "" {
		parts = append(parts, a.Model)
	}
	return strings.Join(parts, "/")
}

func details(n *notify.Notification, a *alert.Alert) map[string]any {
	d := map[string]any{
		"alert_id":  a.ID,
		"rule_id":   a.RuleID,
		"rule_name": a.RuleName,
		"severity":  string(a.Severity),
		"count":     a.Count,
	}
	if n.Level > 0 {
		d["escalation_level"] = n.Level
	}
	put := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	put("description", a.Description)
	put("rule_version", a.RuleVersion)
	put("model", a.Model)
	put("environment", a.Environment)
	put("actor", a.Actor)
	put("group_key", a.GroupKey)
	if len(a.EventIDs) > 0 {
		d["event_ids"] = a.EventIDs
	}
	if len(a.Tags) > 0 {
		d["tags"] = a.Tags
	}
	if len(a.Labels) > 0 {
		d["labels"] = a.Labels
	}
	if len(a.Values) > 0 {
		d["values"] = a.Values
	}
	if len(a.Actions) > 0 {
		d["containment_actions"] = a.Actions
	}
	if !a.FirstEvent.IsZero() {
		d["first_event_time"] = a.FirstEvent.UTC().Format(time.RFC3339Nano)
	}
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Encode renders one event as the JSON request body.
func Encode(ev Event) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode pagerduty event: %w", err)
	}
	return b.Bytes(), nil
}

// Config is a PagerDuty receiver.
type Config struct {
	// RoutingKey is the integration key of an Events API v2 service; required.
	RoutingKey notify.Secret
	// URL is the endpoint; empty means DefaultURL.
	URL string
}

// Options carry runtime dependencies.
type Options struct {
	// Client sends requests; nil uses notify.NewHTTPClient(nil, 0).
	Client *http.Client
}

// Notifier sends Events API v2 events.
type Notifier struct {
	cfg    Config
	client *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	if cfg.RoutingKey == "" {
		return nil, errors.New("pagerduty: routing key is empty")
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pagerduty: url %s: want an absolute http(s) URL", notify.RedactURL(cfg.URL))
	}
	c := opts.Client
	if c == nil {
		c = notify.NewHTTPClient(nil, 0)
	}
	return &Notifier{cfg: cfg, client: c}, nil
}

// Notify sends one event per alert, in order; it stops at the first failure (a retry resends
// all of them, which PagerDuty deduplicates by dedup_key).
func (p *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	for _, ev := range Render(n, p.cfg.RoutingKey.Reveal()) {
		body, err := Encode(ev)
		if err != nil {
			return notify.Permanent(err)
		}
		if err := notify.PostJSON(ctx, p.client, p.cfg.URL, nil, body, p.cfg.RoutingKey.Reveal()); err != nil {
			return fmt.Errorf("pagerduty: %s %s: %w", ev.EventAction, ev.DedupKey, err)
		}
	}
	return nil
}
