// Package slack delivers notifications to a Slack incoming webhook as Block Kit messages:
// a header, severity/model/environment/rule fields, the summary, event ids, and buttons for
// the runbook and the Warden console. The webhook URL is itself the credential and never
// appears in errors.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// maxAlerts is how many alerts one message details; Slack allows 50 blocks per message.
const maxAlerts = 8

// Message is the webhook body.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit layout block (the subset Warden uses).
type Block struct {
	Type     string    `json:"type"`
	Text     *Text     `json:"text,omitempty"`
	Fields   []Text    `json:"fields,omitempty"`
	Elements []Element `json:"elements,omitempty"`
	BlockID  string    `json:"block_id,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Element is a context text or an actions button.
type Element struct {
	Type     string `json:"type"`
	Text     any    `json:"text,omitempty"`
	URL      string `json:"url,omitempty"`
	ActionID string `json:"action_id,omitempty"`
	Style    string `json:"style,omitempty"`
}

// Render builds the message for n.
func Render(n *notify.Notification) Message {
	title := headline(n)
	msg := Message{Text: title}
	msg.Blocks = append(msg.Blocks, Block{Type: "header", Text: &Text{Type: "plain_text", Text: truncate(title, 150), Emoji: true}})
	for i := range n.Alerts {
		if i == maxAlerts {
			msg.Blocks = append(msg.Blocks, Block{Type: "context", Elements: []Element{{
				Type: "mrkdwn", Text: fmt.Sprintf("…and %d more alert(s) in this group.", len(n.Alerts)-maxAlerts),
			}}})
			break
		}
		if i > 0 {
			msg.Blocks = append(msg.Blocks, Block{Type: "divider"})
		}
		msg.Blocks = append(msg.Blocks, alertBlocks(n, &n.Alerts[i])...)
	}
	return msg
}

func headline(n *notify.Notification) string {
	a := &n.Alerts[0]
	icon := map[alert.Severity]string{alert.P1: "🔴", alert.P2: "🟠", alert.P3: "🟡", alert.P4: "🔵"}[a.Severity]
	verb := strings.ToUpper(string(n.Kind))
	switch {
	case n.Kind == notify.KindResolved:
		icon = "✅"
	case n.Kind == notify.KindAcknowledged:
		icon = "👀"
	case n.Level > 0:
		verb = "ESCALATED (level " + strconv.Itoa(n.Level+1) + ")"
	}
	s := fmt.Sprintf("%s [%s] %s: %s", icon, a.Severity, verb, a.RuleName)
	if len(n.Alerts) > 1 {
		s += fmt.Sprintf(" (+%d)", len(n.Alerts)-1)
	}
	return strings.TrimSpace(s)
}

func alertBlocks(n *notify.Notification, a *alert.Alert) []Block {
	field := func(k, v string) Text { return Text{Type: "mrkdwn", Text: "*" + k + "*\n" + escape(orDash(v))} }
	blocks := []Block{
		{Type: "section", Text: &Text{Type: "mrkdwn", Text: truncate("*"+escape(orDash(a.Summary))+"*"+descr(a), 3000)}},
		{Type: "section", Fields: []Text{
			field("Severity", string(a.Severity)),
			field("State", string(a.State)),
			field("Model", a.Model),
			field("Environment", a.Environment),
			field("Rule", a.RuleID),
			field("Actor", a.Actor),
		}},
	}
	ctx := []string{"Alert `" + escape(a.ID) + "`", "count " + strconv.Itoa(a.Count)}
	if len(a.EventIDs) > 0 {
		ids := a.EventIDs
		more := ""
		if len(ids) > 10 {
			more = fmt.Sprintf(" +%d", len(ids)-10)
			ids = ids[:10]
		}
		ctx = append(ctx, "events "+escape(strings.Join(ids, ", "))+more)
	}
	if len(a.Tags) > 0 {
		ctx = append(ctx, "tags "+escape(strings.Join(a.Tags, " ")))
	}
	blocks = append(blocks, Block{Type: "context", Elements: []Element{{Type: "mrkdwn", Text: truncate(strings.Join(ctx, " · "), 3000)}}})
	var buttons []Element
	if isWebURL(a.Runbook) {
		buttons = append(buttons, Element{Type: "button", Text: Text{Type: "plain_text", Text: "Runbook"}, URL: a.Runbook, ActionID: "runbook"})
	}
	if isWebURL(a.ConsoleURL) {
		buttons = append(buttons, Element{Type: "button", Text: Text{Type: "plain_text", Text: "Open in Warden"}, URL: a.ConsoleURL, ActionID: "console", Style: "primary"})
	}
	if len(buttons) > 0 && n.Kind != notify.KindResolved {
		blocks = append(blocks, Block{Type: "actions", Elements: buttons})
	}
	return blocks
}

func descr(a *alert.Alert) string {
	if a.Description == "" {
		return ""
	}
	return "\n" + escape(a.Description)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// escape applies Slack's mrkdwn escaping of &, < and >.
func escape(s string) string { return mrkdwn.Replace(s) }

// mrkdwn is immutable and safe for concurrent use.
var mrkdwn = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Config is a Slack receiver.
type Config struct {
	// URL is the incoming-webhook URL (a credential: https://hooks.slack.com/services/…).
	URL notify.Secret
}

// Options carry runtime dependencies.
type Options struct {
	// Client sends requests; nil uses notify.NewHTTPClient(nil, 0).
	Client *http.Client
}

// Notifier posts to a Slack incoming webhook.
type Notifier struct {
	url     string
	secrets []string
	client  *http.Client
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	if cfg.URL == "" {
		return nil, errors.New("slack: webhook url is empty")
	}
	u, err := url.Parse(cfg.URL.Reveal())
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("slack: webhook url is not an absolute http(s) URL")
	}
	c := opts.Client
	if c == nil {
		c = notify.NewHTTPClient(nil, 0)
	}
	secrets := []string{cfg.URL.Reveal()}
	for _, part := range []string{u.EscapedPath(), u.Path, u.RawQuery} {
		if len(part) >= 8 { // long enough to be the token, never "/" alone
			secrets = append(secrets, part)
		}
	}
	return &Notifier{url: cfg.URL.Reveal(), secrets: secrets, client: c}, nil
}

// Encode renders n as the JSON request body.
func Encode(n *notify.Notification) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Render(n)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Notify posts the rendered message.
func (s *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	body, err := Encode(n)
	if err != nil {
		return notify.Permanent(fmt.Errorf("slack: encode message: %w", err))
	}
	if err := notify.PostJSON(ctx, s.client, s.url, nil, body, s.secrets...); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}
