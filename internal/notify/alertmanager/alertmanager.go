// Package alertmanager delivers notifications to Prometheus Alertmanager through its v2 API
// (POST /api/v2/alerts), so Warden's alerts join Alertmanager's routing, silences and
// receivers.
//
// Each Warden alert becomes one Alertmanager alert whose identity is its label set:
// alertname, severity, model, environment, rule_id, warden_dedup_key, plus the alert's own
// labels (names sanitised, never overriding these). Firing alerts carry no endsAt unless
// Config.EndsAfter is set, so Alertmanager resolves them after its resolve_timeout unless
// Warden re-sends them (the repeat interval must be shorter). Resolved alerts carry endsAt.
// Alertmanager has no acknowledgement: an acknowledged alert is re-sent firing with the
// annotation warden_state=acknowledged.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// Alert is Alertmanager's postableAlert.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Reserved labels set by Warden; alert labels with these names are dropped.
var reserved = map[string]bool{
	"alertname": true, "severity": true, "model": true, "environment": true,
	"rule_id": true, "warden_dedup_key": true,
}

// Render builds the alerts for n. now stamps endsAt for resolved alerts without ResolvedAt and
// for firing alerts when endsAfter > 0.
func Render(n *notify.Notification, now time.Time, endsAfter time.Duration) []Alert {
	out := make([]Alert, 0, len(n.Alerts))
	for i := range n.Alerts {
		a := &n.Alerts[i]
		labels := map[string]string{}
		for k, v := range a.Labels {
			name := LabelName(k)
			if v != "" && name != "" && !reserved[name] {
				labels[name] = v
			}
		}
		set := func(k, v string) {
			if v != "" {
				labels[k] = v
			}
		}
		set("alertname", firstNonEmpty(a.RuleName, a.RuleID, "WardenAlert"))
		set("severity", string(a.Severity))
		set("model", a.Model)
		set("environment", a.Environment)
		set("rule_id", a.RuleID)
		set("warden_dedup_key", firstNonEmpty(a.DedupKey, a.ID))

		ann := map[string]string{}
		put := func(k, v string) {
			if v != "" {
				ann[k] = v
			}
		}
		put("summary", a.Summary)
		put("description", a.Description)
		put("runbook_url", a.Runbook)
		put("warden_alert_id", a.ID)
		put("warden_console_url", a.ConsoleURL)
		put("warden_event_ids", strings.Join(a.EventIDs, ","))
		put("warden_tags", strings.Join(a.Tags, ","))
		put("actor", a.Actor)
		if n.Kind == notify.KindAcknowledged {
			put("warden_state", string(alert.Acknowledged))
			put("warden_acked_by", a.AckedBy)
		}
		if n.Level > 0 {
			put("warden_escalation_level", fmt.Sprint(n.Level))
		}
		am := Alert{Labels: labels, Annotations: ann}
		if !a.StartsAt.IsZero() {
			am.StartsAt = a.StartsAt.UTC().Format(time.RFC3339Nano)
		}
		switch {
		case n.Kind == notify.KindResolved:
			end := now
			if a.ResolvedAt != nil && !a.ResolvedAt.IsZero() {
				end = *a.ResolvedAt
			}
			am.EndsAt = end.UTC().Format(time.RFC3339Nano)
		case endsAfter > 0:
			am.EndsAt = now.Add(endsAfter).UTC().Format(time.RFC3339Nano)
		}
		if u, err := url.Parse(a.ConsoleURL); err == nil && u.IsAbs() {
			am.GeneratorURL = a.ConsoleURL
		}
		out = append(out, am)
	}
	return out
}

// LabelName turns s into a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*), replacing
// other characters with '_'; "" stays "".
func LabelName(s string) string {
	if s == "" {
		return ""
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	name := string(b)
	if strings.HasPrefix(name, "__") { // reserved for Prometheus internals
		name = "label" + name
	}
	return name
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// Config is an Alertmanager receiver.
type Config struct {
	// URL is Alertmanager's base URL, e.g. http://127.0.0.1:9093 (user info allowed for basic auth).
	URL string
	// EndsAfter, when positive, sets endsAt = now + EndsAfter on firing alerts.
	EndsAfter time.Duration
}

// Options carry runtime dependencies.
type Options struct {
	// Client sends requests; nil uses notify.NewHTTPClient(nil, 0).
	Client *http.Client
	// Now stamps endsAt; nil uses time.Now.
	Now func() time.Time
}

// Notifier posts alerts to Alertmanager.
type Notifier struct {
	endpoint  string
	endsAfter time.Duration
	secrets   []string
	client    *http.Client
	now       func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	if cfg.URL == "" {
		return nil, errors.New("alertmanager: url is empty")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager: url %s: want an absolute http(s) URL", notify.RedactURL(cfg.URL))
	}
	if cfg.EndsAfter < 0 {
		return nil, errors.New("alertmanager: ends_after must not be negative")
	}
	n := &Notifier{endsAfter: cfg.EndsAfter, client: opts.Client, now: opts.Now}
	if p, ok := u.User.Password(); ok && p != "" {
		n.secrets = append(n.secrets, p, u.User.String())
	}
	u = u.JoinPath("api", "v2", "alerts")
	n.endpoint = u.String()
	if n.client == nil {
		n.client = notify.NewHTTPClient(nil, 0)
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// Notify posts all of n's alerts in one request.
func (m *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Render(n, m.now(), m.endsAfter)); err != nil {
		return notify.Permanent(fmt.Errorf("alertmanager: encode alerts: %w", err))
	}
	if err := notify.PostJSON(ctx, m.client, m.endpoint, nil, b.Bytes(), m.secrets...); err != nil {
		return fmt.Errorf("alertmanager: %w", err)
	}
	return nil
}
