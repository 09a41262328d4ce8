package syslog_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/notifytest"
	"github.com/warden-ai/warden/internal/notify/syslog"
)

// rfc5424 matches HEADER SP STRUCTURED-DATA SP MSG with Warden's NILVALUE structured data.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) - (.*)$`)

type parsed struct {
	pri       int
	timestamp string
	host, app string
	msgID     string
	body      string
}

func parse(t *testing.T, msg string) parsed {
	t.Helper()
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", msg)
	}
	pri, _ := strconv.Atoi(m[1])
	return parsed{pri: pri, timestamp: m[2], host: m[3], app: m[4], msgID: m[6], body: m[7]}
}

// readOctetCounted reads RFC 6587 octet-counted frames until EOF.
func readOctetCounted(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	var out []string
	for {
		lenStr, err := br.ReadString(' ')
		if errors.Is(err, io.EOF) && lenStr == "" {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
		if err != nil || n <= 0 {
			return out, fmt.Errorf("bad frame length %q", lenStr)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return out, err
		}
		out = append(out, string(buf))
	}
}

type listener struct {
	addr string
	msgs chan string
}

func udpListener(t *testing.T) listener {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	l := listener{addr: "udp://" + pc.LocalAddr().String(), msgs: make(chan string, 16)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			l.msgs <- string(buf[:n])
		}
	}()
	return l
}

func streamListener(t *testing.T, scheme string, cfg *tls.Config) listener {
	var ln net.Listener
	var err error
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	l := listener{addr: scheme + "://" + ln.Addr().String(), msgs: make(chan string, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				msgs, err := readOctetCounted(c)
				for _, m := range msgs {
					l.msgs <- m
				}
				if err != nil {
					l.msgs <- "FRAMING ERROR: " + err.Error()
				}
			}()
		}
	}()
	return l
}

// selfSigned returns a server TLS config for 127.0.0.1 and a client config trusting it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "warden-test-siem"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func receive(t *testing.T, l listener) string {
	t.Helper()
	select {
	case m := <-l.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no syslog message received")
		return ""
	}
}

func TestTransports(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	tests := []struct {
		name   string
		l      listener
		tls    *tls.Config
		format syslog.Format
	}{
		{"udp-ocsf", udpListener(t), nil, syslog.FormatOCSF},
		{"tcp-cef", streamListener(t, "tcp", nil), nil, syslog.FormatCEF},
		{"tls-ocsf", streamListener(t, "tls", serverTLS), clientTLS, syslog.FormatOCSF},
		{"tls-cef", streamListener(t, "tls", serverTLS), clientTLS, syslog.FormatCEF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := syslog.New(syslog.Config{Address: tc.l.addr, Format: tc.format, Hostname: "warden-1", ProductVersion: "0.1.0", TLS: tc.tls},
				syslog.Options{Now: func() time.Time { return notifytest.Time }})
			if err != nil {
				t.Fatal(err)
			}
			two := notifytest.Notification()
			b := notifytest.Alert()
			b.ID, b.Severity = "alt_2", alert.P3
			two.Alerts = append(two.Alerts, b)
			if err := n.Notify(context.Background(), two); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			m1, m2 := parse(t, receive(t, tc.l)), parse(t, receive(t, tc.l))
			// authpriv (10) × 8 + crit (2) = 82; + warning (4) = 84.
			if m1.pri != 82 || m2.pri != 84 || m1.host != "warden-1" || m1.app != "warden" || m1.timestamp != "2026-03-14T09:26:53.000000Z" {
				t.Fatalf("headers = %+v / %+v", m1, m2)
			}
			if tc.format == syslog.FormatCEF {
				if m1.msgID != "WARDEN_CEF" || !strings.HasPrefix(m1.body, "CEF:0|Warden|Warden|0.1.0|security.prompt_injection.burst|Prompt injection burst|10|") ||
					!strings.Contains(m1.body, "externalId=alt_01HZX3K9Q2") || !strings.Contains(m2.body, "|5|") {
					t.Fatalf("CEF body = %q", m1.body)
				}
				return
			}
			var f map[string]any
			if err := json.Unmarshal([]byte(m1.body), &f); err != nil {
				t.Fatalf("OCSF body is not JSON: %v: %q", err, m1.body)
			}
			fi, _ := f["finding_info"].(map[string]any)
			md, _ := f["metadata"].(map[string]any)
			prod, _ := md["product"].(map[string]any)
			if f["class_uid"] != 2004.0 || f["category_uid"] != 2.0 || f["activity_id"] != 1.0 || f["type_uid"] != 200401.0 ||
				f["severity_id"] != 5.0 || f["status"] != "New" || f["time"] != float64(notifytest.Time.UnixMilli()) ||
				fi["uid"] != "alt_01HZX3K9Q2" || fi["title"] != "Prompt injection burst" || len(fi["types"].([]any)) != 2 ||
				prod["name"] != "Warden" || prod["vendor_name"] != "Warden" || md["version"] != syslog.OCSFVersion {
				t.Fatalf("OCSF finding = %s", m1.body)
			}
		})
	}
}

func TestTLSRejectsUntrustedServer(t *testing.T) {
	serverTLS, _ := selfSigned(t)
	l := streamListener(t, "tls", serverTLS)
	n, err := syslog.New(syslog.Config{Address: l.addr}, syslog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), notifytest.Notification()); err == nil {
		t.Fatal("delivered over TLS to a server with an untrusted certificate")
	}
}

func TestOCSFActivities(t *testing.T) {
	a := notifytest.Alert()
	esc := notifytest.Notification()
	esc.Level = 2
	ack := notifytest.Notification()
	ack.Kind = notify.KindAcknowledged
	for _, tc := range []struct {
		n                  *notify.Notification
		activity, statusID int
	}{
		{notifytest.Notification(), 1, 1},
		{esc, 2, 1},
		{ack, 2, 2},
		{notifytest.Resolved(notifytest.Notification()), 3, 4},
	} {
		f := syslog.NewFinding(tc.n, &a, "v")
		if f.ActivityID != tc.activity || f.StatusID != tc.statusID || f.TypeUID != 200400+tc.activity {
			t.Errorf("%s level %d: activity %d status %d; want %d %d", tc.n.Kind, tc.n.Level, f.ActivityID, f.StatusID, tc.activity, tc.statusID)
		}
	}
	for sev, want := range map[alert.Severity]int{alert.P1: 5, alert.P2: 4, alert.P3: 3, alert.P4: 2} {
		if got, _ := syslog.OCSFSeverity(sev); got != want {
			t.Errorf("OCSFSeverity(%s) = %d; want %d", sev, got, want)
		}
	}
}

func TestCEFGolden(t *testing.T) {
	n := notifytest.Notification()
	n.Alerts[0].RuleName = `Pipe | back\slash`
	n.Alerts[0].Summary = "a=b\nnext line \\ end"
	got := syslog.RenderCEF(n, &n.Alerts[0], "0.1.0")
	notifytest.Golden(t, "cef", append(got, '\n'))
}

func TestOCSFGolden(t *testing.T) {
	n := notifytest.Notification()
	got, err := syslog.RenderOCSF(n, &n.Alerts[0], "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Golden(t, "ocsf", append(got, '\n'))
}

// unescapeCEFValue reverses CEFExtensionEscape, failing on a lone backslash or raw '='.
func unescapeCEFValue(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			switch s[i] {
			case '\\', '=':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				return "", false
			}
		case c == '=' || c == '\n' || c == '\r':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func FuzzCEFExtensionEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "a=b", `back\slash`, "line\nbreak\r", `\=\n`, "ünï|cødé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := syslog.CEFExtensionEscape(s)
		got, ok := unescapeCEFValue(esc)
		if !ok || got != s {
			t.Fatalf("escape(%q) = %q does not round-trip (got %q, ok %v)", s, esc, got, ok)
		}
		h := syslog.CEFHeaderEscape(s)
		if strings.ContainsAny(h, "\r\n") {
			t.Fatalf("header escape left a line break: %q", h)
		}
		// Every pipe in the header field is escaped: an unescaped one would split the header.
		for i := 0; i < len(h); i++ {
			if h[i] == '\\' {
				i++
				continue
			}
			if h[i] == '|' {
				t.Fatalf("unescaped pipe in %q", h)
			}
		}
	})
}

func TestNoSecretLeak(t *testing.T) {
	// Syslog carries no credential, but a failed dial must still produce a clean error; the
	// contract check looks for a configured value that no error has reason to contain.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	n, err := syslog.New(syslog.Config{Address: "tcp://" + closed, Hostname: "host-7c1d9e"}, syslog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	notifytest.AssertNoSecretLeak(t, n, "host-7c1d9e")
}

func BenchmarkMessage(b *testing.B) {
	for _, f := range []syslog.Format{syslog.FormatOCSF, syslog.FormatCEF} {
		n, _ := syslog.New(syslog.Config{Address: "udp://127.0.0.1:514", Format: f, Hostname: "h"}, syslog.Options{})
		notification := notifytest.Notification()
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				if _, err := n.Message(notification, &notification.Alerts[0], notifytest.Time); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
