// Package email delivers notifications by SMTP (net/smtp): one multipart/alternative message
// (plain text and HTML) per notification, STARTTLS when configured (required then, never
// silently skipped), AUTH PLAIN when a username is set. The password never appears in errors.
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// Config is an email receiver.
type Config struct {
	// SMTP is the server's host:port.
	SMTP string
	// From is the sender address; To the recipients (at least one).
	From string
	To   []string
	// Username and Password authenticate with AUTH PLAIN; no auth when Username is empty.
	Username string
	Password notify.Secret
	// StartTLS upgrades the connection before authenticating and fails if the server cannot.
	StartTLS bool
	// TLS configures STARTTLS (roots); nil verifies against the system roots.
	TLS *tls.Config
	// Hello is the EHLO name; empty uses os.Hostname.
	Hello string
}

// Options carry runtime dependencies.
type Options struct {
	// Dialer dials the server; nil uses a net.Dialer with a 10 s timeout.
	Dialer *net.Dialer
	// Now stamps the Date header; nil uses time.Now.
	Now func() time.Time
}

// Notifier sends mail.
type Notifier struct {
	cfg     Config
	host    string
	from    string
	to      []string
	secrets []string
	dialer  *net.Dialer
	now     func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	host, port, err := net.SplitHostPort(cfg.SMTP)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("email: smtp %q: want host:port", cfg.SMTP)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: from %q: %w", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("email: to is empty")
	}
	n := &Notifier{cfg: cfg, host: host, from: from.Address, dialer: opts.Dialer, now: opts.Now}
	for i, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("email: to[%d] %q: %w", i, t, err)
		}
		n.to = append(n.to, a.Address)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("email: password set without username")
	}
	if cfg.Username != "" && cfg.Password == "" {
		return nil, errors.New("email: username set without password")
	}
	if p := cfg.Password.Reveal(); p != "" {
		n.secrets = []string{p,
			base64.StdEncoding.EncodeToString([]byte("\x00" + cfg.Username + "\x00" + p)),
			base64.StdEncoding.EncodeToString([]byte(p)),
		}
	}
	if n.cfg.TLS == nil {
		n.cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		n.cfg.TLS = n.cfg.TLS.Clone()
	}
	if n.cfg.TLS.ServerName == "" {
		n.cfg.TLS.ServerName = host
	}
	if n.cfg.Hello == "" {
		n.cfg.Hello, _ = os.Hostname()
	}
	if n.dialer == nil {
		n.dialer = &net.Dialer{Timeout: 10 * time.Second}
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// Notify sends one message for n.
func (e *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	msg, err := Render(n, e.cfg.From, e.cfg.To, e.now())
	if err != nil {
		return notify.Permanent(fmt.Errorf("email: %w", err))
	}
	if err := e.send(ctx, msg); err != nil {
		return notify.RedactError(fmt.Errorf("email: %w", err), e.secrets...)
	}
	return nil
}

func (e *Notifier) send(ctx context.Context, msg []byte) (err error) {
	conn, err := e.dialer.DialContext(ctx, "tcp", e.cfg.SMTP)
	if err != nil {
		return fmt.Errorf("dial %s: %w", e.cfg.SMTP, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		conn.Close()
		return classify("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(e.cfg.Hello); err != nil {
		return classify("EHLO", err)
	}
	if e.cfg.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return notify.Permanent(errors.New("server does not offer STARTTLS, which the receiver requires"))
		}
		if err := c.StartTLS(e.cfg.TLS); err != nil {
			return classify("STARTTLS", err)
		}
	}
	if e.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.cfg.Password.Reveal(), e.host)); err != nil {
			return classify("AUTH", err)
		}
	}
	if err := c.Mail(e.from); err != nil {
		return classify("MAIL FROM", err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to); err != nil {
			return classify("RCPT TO "+to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classify("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return classify("end of DATA", err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT loses nothing.
		return nil
	}
	return nil
}

// classify marks 5xx SMTP replies (and net/smtp's refusals, such as PLAIN auth over an
// unencrypted connection to a remote host) as permanent; 4xx and I/O errors stay retryable.
func classify(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		wrapped := fmt.Errorf("%s: server answered %w", step, err)
		if te.Code >= 500 {
			return notify.Permanent(wrapped)
		}
		return wrapped
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", step, err)
	}
	var tlsErr *tls.CertificateVerificationError
	if errors.As(err, &tlsErr) || strings.Contains(err.Error(), "unencrypted connection") {
		return notify.Permanent(fmt.Errorf("%s: %w", step, err))
	}
	return fmt.Errorf("%s: %w", step, err)
}

var htmlTmpl = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Title}}</h2>
{{range .Alerts}}<table style="border-collapse:collapse;margin-bottom:1.5em" cellpadding="4">
<tr><th align="left" colspan="2" style="font-size:1.1em">[{{.Severity}}] {{.Summary}}</th></tr>
{{if .Description}}<tr><td colspan="2">{{.Description}}</td></tr>{{end}}
<tr><td><b>Rule</b></td><td>{{.RuleName}} ({{.RuleID}})</td></tr>
<tr><td><b>Model</b></td><td>{{.Model}}</td></tr>
<tr><td><b>Environment</b></td><td>{{.Environment}}</td></tr>
<tr><td><b>Actor</b></td><td>{{.Actor}}</td></tr>
<tr><td><b>State</b></td><td>{{.State}}</td></tr>
<tr><td><b>Started</b></td><td>{{.StartsAt.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><td><b>Alert id</b></td><td>{{.ID}}</td></tr>
{{if .EventIDs}}<tr><td><b>Events</b></td><td>{{range $i, $e := .EventIDs}}{{if $i}}, {{end}}{{$e}}{{end}}</td></tr>{{end}}
{{if .Runbook}}<tr><td><b>Runbook</b></td><td><a href="{{.Runbook}}">{{.Runbook}}</a></td></tr>{{end}}
{{if .ConsoleURL}}<tr><td><b>Console</b></td><td><a href="{{.ConsoleURL}}">Open in Warden</a></td></tr>{{end}}
</table>
{{end}}<p style="color:#666">Sent by Warden.</p>
</body></html>
`))

// Subject returns the subject line for n.
func Subject(n *notify.Notification) string {
	a := &n.Alerts[0]
	verb := strings.ToUpper(string(n.Kind))
	if n.Kind == notify.KindFiring && n.Level > 0 {
		verb = fmt.Sprintf("ESCALATED L%d", n.Level+1)
	}
	s := fmt.Sprintf("[Warden %s] %s: %s", a.Severity, verb, a.RuleName)
	if a.Model != "" {
		s += " on " + a.Model
	}
	if len(n.Alerts) > 1 {
		s += fmt.Sprintf(" (+%d more)", len(n.Alerts)-1)
	}
	return s
}

// Text returns the plain-text body for n.
func Text(n *notify.Notification) string {
	var b strings.Builder
	b.WriteString(Subject(n))
	b.WriteString("\n\n")
	for i := range n.Alerts {
		a := &n.Alerts[i]
		fmt.Fprintf(&b, "[%s] %s\n", a.Severity, a.Summary)
		if a.Description != "" {
			fmt.Fprintf(&b, "%s\n", a.Description)
		}
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(tw, "  %s:\t%s\n", k, v)
			}
		}
		row("Rule", a.RuleName+" ("+a.RuleID+")")
		row("Model", a.Model)
		row("Environment", a.Environment)
		row("Actor", a.Actor)
		row("State", string(a.State))
		if !a.StartsAt.IsZero() {
			row("Started", a.StartsAt.UTC().Format("2006-01-02 15:04:05 MST"))
		}
		row("Alert id", a.ID)
		row("Events", strings.Join(a.EventIDs, ", "))
		row("Runbook", a.Runbook)
		row("Console", a.ConsoleURL)
		_ = tw.Flush()
		b.WriteString("\n")
	}
	b.WriteString("Sent by Warden.\n")
	return b.String()
}

// Render returns the full RFC 5322 message for n.
func Render(n *notify.Notification, from string, to []string, now time.Time) ([]byte, error) {
	var html bytes.Buffer
	if err := htmlTmpl.Execute(&html, struct {
		Title  string
		Alerts []alert.Alert
	}{Subject(n), n.Alerts}); err != nil {
		return nil, fmt.Errorf("render html: %w", err)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", Subject(n)))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+messageID()+"@warden>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	hdr("X-Warden-Kind", string(n.Kind))
	hdr("X-Warden-Alert-Ids", strings.Join(n.AlertIDs(), ","))
	b.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", Text(n)},
		{"text/html; charset=utf-8", html.String()},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("create mime part: %w", err)
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n"))); err != nil {
			return nil, fmt.Errorf("encode mime part: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("encode mime part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("close mime message: %w", err)
	}
	return b.Bytes(), nil
}

func messageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
