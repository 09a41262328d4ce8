// Package syslog delivers notifications to a SIEM as RFC 5424 syslog messages over UDP
// (RFC 5426, one message per datagram), TCP (RFC 6587 octet counting) or TLS (RFC 5425),
// one message per alert, whose body is either an OCSF 1.x Detection Finding (class_uid 2004)
// as JSON or a CEF:0 record.
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// Format is the message body format.
type Format string

// Formats.
const (
	FormatOCSF Format = "ocsf"
	FormatCEF  Format = "cef"
)

// Facilities by name (RFC 5424 table 1).
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Config is a syslog receiver.
type Config struct {
	// Address is udp://host:port, tcp://host:port or tls://host:port.
	Address string
	// Format is ocsf (default) or cef.
	Format Format
	// Facility is a facility name (default "authpriv").
	Facility string
	// Hostname is the HOSTNAME field; empty uses os.Hostname.
	Hostname string
	// AppName is the APP-NAME field; empty is "warden".
	AppName string
	// ProductVersion goes into the OCSF metadata and the CEF header.
	ProductVersion string
	// TLS configures tls:// (roots, client certificate); nil verifies against the system roots.
	TLS *tls.Config
}

// Options carry runtime dependencies.
type Options struct {
	// Dialer dials the receiver; nil uses a net.Dialer with a 10 s timeout.
	Dialer *net.Dialer
	// Now stamps messages; nil uses time.Now.
	Now func() time.Time
}

// Notifier writes syslog messages, dialling a connection per notification (alerts are rare;
// no stale connection can swallow one).
type Notifier struct {
	scheme        string // udp, tcp or tls, for messages
	network, addr string
	tls           *tls.Config
	format        Format
	facility      int
	hostname      string
	appName       string
	version       string
	dialer        *net.Dialer
	now           func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New validates cfg and returns a notifier.
func New(cfg Config, opts Options) (*Notifier, error) {
	u, err := url.Parse(cfg.Address)
	if cfg.Address == "" || err != nil || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("syslog: address %q: want udp://host:port, tcp://host:port or tls://host:port", cfg.Address)
	}
	n := &Notifier{scheme: u.Scheme, addr: u.Host, format: cfg.Format, hostname: cfg.Hostname, appName: cfg.AppName,
		version: cfg.ProductVersion, dialer: opts.Dialer, now: opts.Now}
	switch u.Scheme {
	case "udp", "tcp":
		n.network = u.Scheme
	case "tls":
		n.network = "tcp"
		n.tls = cfg.TLS
		if n.tls == nil {
			n.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			n.tls = n.tls.Clone()
		}
		if n.tls.ServerName == "" {
			n.tls.ServerName = u.Hostname()
		}
	default:
		return nil, fmt.Errorf("syslog: address scheme %q: want udp, tcp or tls", u.Scheme)
	}
	switch n.format {
	case "":
		n.format = FormatOCSF
	case FormatOCSF, FormatCEF:
	default:
		return nil, fmt.Errorf("syslog: format %q: want ocsf or cef", cfg.Format)
	}
	fac := cfg.Facility
	if fac == "" {
		fac = "authpriv"
	}
	f, ok := facilities[fac]
	if !ok {
		return nil, fmt.Errorf("syslog: facility %q: unknown", cfg.Facility)
	}
	n.facility = f
	if n.hostname == "" {
		n.hostname, _ = os.Hostname()
	}
	n.hostname = headerField(n.hostname, 255)
	if n.appName == "" {
		n.appName = "warden"
	}
	n.appName = headerField(n.appName, 48)
	if n.dialer == nil {
		n.dialer = &net.Dialer{Timeout: 10 * time.Second}
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII, at most max bytes,
// "-" when empty.
func headerField(s string, max int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// Severity maps a notification of an alert to a syslog severity: P1 crit, P2 err, P3 warning,
// P4 notice; resolved is info.
func Severity(k notify.Kind, s alert.Severity) int {
	if k == notify.KindResolved {
		return 6
	}
	switch s {
	case alert.P1:
		return 2
	case alert.P2:
		return 3
	case alert.P3:
		return 4
	}
	return 5
}

// Message returns the RFC 5424 message (without transport framing) for one alert of n.
func (s *Notifier) Message(n *notify.Notification, a *alert.Alert, now time.Time) ([]byte, error) {
	var body []byte
	msgID := "WARDEN_OCSF"
	switch s.format {
	case FormatCEF:
		body = RenderCEF(n, a, s.version)
		msgID = "WARDEN_CEF"
	default:
		var err error
		if body, err = RenderOCSF(n, a, s.version); err != nil {
			return nil, err
		}
	}
	pri := s.facility*8 + Severity(n.Kind, a.Severity)
	hdr := "<" + strconv.Itoa(pri) + ">1 " + now.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + " " +
		s.hostname + " " + s.appName + " " + strconv.Itoa(os.Getpid()) + " " + msgID + " - "
	return append([]byte(hdr), body...), nil
}

// Notify sends one message per alert over one connection.
func (s *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	var conn net.Conn
	var err error
	if s.tls != nil {
		d := tls.Dialer{NetDialer: s.dialer, Config: s.tls}
		conn, err = d.DialContext(ctx, s.network, s.addr)
	} else {
		conn, err = s.dialer.DialContext(ctx, s.network, s.addr)
	}
	if err != nil {
		return fmt.Errorf("syslog: dial %s://%s: %w", s.scheme, s.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	now := s.now()
	for i := range n.Alerts {
		msg, err := s.Message(n, &n.Alerts[i], now)
		if err != nil {
			return notify.Permanent(fmt.Errorf("syslog: %w", err))
		}
		if s.network == "tcp" {
			// RFC 6587 §3.4.1 / RFC 5425 §4.3: MSG-LEN SP SYSLOG-MSG.
			msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
		}
		if _, err := conn.Write(msg); err != nil {
			if ctx.Err() != nil {
				err = errors.Join(err, ctx.Err())
			}
			return fmt.Errorf("syslog: write message %d of %d: %w", i+1, len(n.Alerts), err)
		}
	}
	if s.tls != nil {
		// Close the TLS session cleanly so the receiver sees every record.
		if tc, ok := conn.(*tls.Conn); ok {
			if err := tc.CloseWrite(); err != nil {
				return fmt.Errorf("syslog: close tls: %w", err)
			}
		}
	}
	return nil
}
