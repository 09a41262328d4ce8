package email_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/email"
	"github.com/warden-ai/warden/internal/notify/notifytest"
)

const password = "smtp-pass-5e4d3c2b1a"

// smtpServer is a small RFC 5321 server: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET,
// NOOP, QUIT. It stores accepted messages and can reject AUTH with an echo of the credentials.
type smtpServer struct {
	addr     string
	tls      *tls.Config // nil: no STARTTLS offered
	user     string
	pass     string
	echoAuth bool // reject AUTH and echo the credentials back (leak test)

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from   string
	rcpt   []string
	data   string
	tls    bool
	authed bool
}

func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	var cur received
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 test.local ESMTP ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"250-test.local", "250-8BITMIME"}
			if s.tls != nil && !cur.tls {
				lines = append(lines, "250-STARTTLS")
			}
			lines = append(lines, "250 AUTH PLAIN")
			for _, l := range lines {
				reply("%s", l)
			}
		case "STARTTLS":
			if s.tls == nil {
				reply("502 5.5.1 not supported")
				continue
			}
			reply("220 2.0.0 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			tp = textproto.NewConn(tc)
			cur = received{tls: true}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if s.echoAuth {
				reply("535 5.7.8 authentication failed for %s", resp)
				continue
			}
			dec, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(dec), "\x00")
			if mech != "PLAIN" || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 authentication failed")
				continue
			}
			cur.authed = true
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if s.user != "" && !cur.authed {
				reply("530 5.7.0 authentication required")
				continue
			}
			cur.from = angle(arg)
			reply("250 2.1.0 ok")
		case "RCPT":
			cur.rcpt = append(cur.rcpt, angle(arg))
			reply("250 2.1.5 ok")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			cur.data = string(data)
			s.mu.Lock()
			s.msgs = append(s.msgs, cur)
			s.mu.Unlock()
			reply("250 2.0.0 queued")
		case "RSET", "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 unknown command")
		}
	}
}

// angle returns the address between < and > in a MAIL or RCPT argument.
func angle(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func selfSigned(t *testing.T) (server, client *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// parts decodes a multipart/alternative message into content type → decoded body.
func parts(t *testing.T, raw string) (*mail.Message, map[string]string) {
	t.Helper()
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(quotedprintable.NewReader(p))
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(body)
	}
	return msg, out
}

func TestSendWithStartTLSAndAuth(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, &smtpServer{tls: serverTLS, user: "warden", pass: password})
	n, err := email.New(email.Config{
		SMTP: srv.addr, From: "Warden <warden@example.org>", To: []string{"secops@example.org", "oncall@example.org"},
		Username: "warden", Password: password, StartTLS: true, TLS: clientTLS,
	}, email.Options{})
	if err != nil {
		t.Fatal(err)
	}
	notification := notifytest.Notification()
	notification.Alerts[0].Summary = "Ünïcode <b>not bold</b> summary"
	if err := n.Notify(context.Background(), notification); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d; want 1", len(msgs))
	}
	m := msgs[0]
	if !m.tls || !m.authed || m.from != "warden@example.org" || strings.Join(m.rcpt, ",") != "secops@example.org,oncall@example.org" {
		t.Fatalf("envelope = %+v", m)
	}
	hdr, bodies := parts(t, m.data)
	subject, err := new(mime.WordDecoder).DecodeHeader(hdr.Header.Get("Subject"))
	if err != nil || subject != "[Warden P1] FIRING: Prompt injection burst on support-bot" {
		t.Errorf("subject = %q (%v)", subject, err)
	}
	if txt := bodies["text/plain"]; !strings.Contains(txt, "Ünïcode <b>not bold</b> summary") || !strings.Contains(txt, "evt_7f3a, evt_7f3b") {
		t.Errorf("text part = %q", txt)
	}
	html := bodies["text/html"]
	if !strings.Contains(html, "Ünïcode &lt;b&gt;not bold&lt;/b&gt; summary") || !strings.Contains(html, `href="https://runbooks.example/warden/prompt-injection"`) {
		t.Errorf("html part = %q", html)
	}
}

func TestStartTLSRequired(t *testing.T) {
	srv := startSMTP(t, &smtpServer{})
	n, err := email.New(email.Config{SMTP: srv.addr, From: "w@example.org", To: []string{"a@example.org"}, StartTLS: true}, email.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), notifytest.Notification())
	if err == nil || !notify.IsPermanent(err) || len(srv.messages()) != 0 {
		t.Fatalf("server without STARTTLS: err = %v, messages = %d; want a permanent error and nothing sent", err, len(srv.messages()))
	}
}

func TestWrongPassword(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, &smtpServer{tls: serverTLS, user: "warden", pass: "right"})
	n, _ := email.New(email.Config{SMTP: srv.addr, From: "w@example.org", To: []string{"a@example.org"},
		Username: "warden", Password: password, StartTLS: true, TLS: clientTLS}, email.Options{})
	err := n.Notify(context.Background(), notifytest.Notification())
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("err = %v; want a permanent 535", err)
	}
}

func TestNoSecretLeak(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, &smtpServer{tls: serverTLS, user: "warden", pass: password, echoAuth: true})
	n, err := email.New(email.Config{SMTP: srv.addr, From: "w@example.org", To: []string{"a@example.org"},
		Username: "warden", Password: password, StartTLS: true, TLS: clientTLS}, email.Options{})
	if err != nil {
		t.Fatal(err)
	}
	notifytest.AssertNoSecretLeak(t, n, password, base64.StdEncoding.EncodeToString([]byte("\x00warden\x00"+password)))
}

func TestNewValidates(t *testing.T) {
	ok := email.Config{SMTP: "127.0.0.1:25", From: "w@example.org", To: []string{"a@example.org"}}
	for name, mut := range map[string]func(*email.Config){
		"no port":       func(c *email.Config) { c.SMTP = "127.0.0.1" },
		"bad from":      func(c *email.Config) { c.From = "not an address" },
		"no to":         func(c *email.Config) { c.To = nil },
		"bad to":        func(c *email.Config) { c.To = []string{"x"} },
		"header inject": func(c *email.Config) { c.To = []string{"a@example.org\r\nBcc: evil@example.org"} },
		"pass no user":  func(c *email.Config) { c.Password = "p" },
		"user no pass":  func(c *email.Config) { c.Username = "u" },
	} {
		c := ok
		mut(&c)
		if _, err := email.New(c, email.Options{}); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
	if _, err := email.New(ok, email.Options{}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func BenchmarkRender(b *testing.B) {
	n := notifytest.Notification()
	for b.Loop() {
		if _, err := email.Render(n, "w@example.org", []string{"a@example.org"}, notifytest.Time); err != nil {
			b.Fatal(err)
		}
	}
}
