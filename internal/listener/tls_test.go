package listener

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/listener/listenertest"
)

// serveTLS serves ok over TLS from certs on a loopback port.
func serveTLS(t *testing.T, certs *Certs) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if HasClientCert(r.TLS) {
			io.WriteString(w, "client:"+r.TLS.VerifiedChains[0][0].Subject.CommonName)
			return
		}
		io.WriteString(w, "anonymous")
	}), Limits{}, nil)
	go Serve(srv, ln, Limits{}, certs)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// get makes one request on a new connection and returns the body and the server's serial.
func get(t *testing.T, addr string, roots *x509.CertPool, client *tls.Certificate) (string, int64, error) {
	t.Helper()
	conf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if client != nil {
		// Sent whatever CAs the server names, as an attacker would (tls.Config.Certificates
		// would send nothing when the issuer is not among them).
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return client, nil }
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	return string(b), resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

func TestTLSReloadsWithoutRestart(t *testing.T) {
	ca := listenertest.NewAuthority(t, "test CA")
	roots := ca.Pool()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := ca.Issue(t, 101, "warden-test", false)
	listenertest.WriteFile(t, certFile, c1)
	listenertest.WriteFile(t, keyFile, k1)
	certs, err := NewCerts(TLS{CertFile: certFile, KeyFile: keyFile, CheckInterval: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, certs)

	if _, serial, err := get(t, addr, roots, nil); err != nil || serial != 101 {
		t.Fatalf("first certificate: serial %d, %v", serial, err)
	}
	// Plain HTTP to the TLS listener is refused.
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the TLS listener: %s", resp.Status)
		}
	}
	// Rotation: new files are served on the next connection.
	c2, k2 := ca.Issue(t, 102, "warden-test", false)
	listenertest.WriteFile(t, keyFile, k2)
	listenertest.WriteFile(t, certFile, c2)
	if _, serial, err := get(t, addr, roots, nil); err != nil || serial != 102 {
		t.Fatalf("after rotation: serial %d, %v; want 102", serial, err)
	}
	// A broken replacement is refused and the loaded certificate stays in use.
	listenertest.WriteFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"))
	if _, serial, err := get(t, addr, roots, nil); err != nil || serial != 102 {
		t.Fatalf("after a broken rotation: serial %d, %v; want the previous 102", serial, err)
	}
	if reloads, lastErr := certs.Status(); reloads != 1 || lastErr == nil {
		t.Fatalf("Status = %d reloads, %v; want 1 and the load error", reloads, lastErr)
	}
	// A certificate whose key does not match is refused too.
	c3, _ := ca.Issue(t, 103, "warden-test", false)
	listenertest.WriteFile(t, certFile, c3)
	if _, serial, err := get(t, addr, roots, nil); err != nil || serial != 102 {
		t.Fatalf("after a mismatched pair: serial %d, %v; want the previous 102", serial, err)
	}
	// Completing the pair recovers.
	c4, k4 := ca.Issue(t, 104, "warden-test", false)
	listenertest.WriteFile(t, keyFile, k4)
	listenertest.WriteFile(t, certFile, c4)
	if _, serial, err := get(t, addr, roots, nil); err != nil || serial != 104 {
		t.Fatalf("after a good rotation: serial %d, %v; want 104", serial, err)
	}
	if _, lastErr := certs.Status(); lastErr != nil {
		t.Fatalf("Status still reports %v after a good rotation", lastErr)
	}
}

func TestNewCertsNamesTheBadFile(t *testing.T) {
	dir := t.TempDir()
	ca := listenertest.NewAuthority(t, "test CA")
	c, k := ca.Issue(t, 1, "warden-test", false)
	certFile, keyFile, caFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "ca.PEM")
	listenertest.WriteFile(t, certFile, c)
	listenertest.WriteFile(t, keyFile, k)
	listenertest.WriteFile(t, caFile, []byte("no pem here"))
	for _, tc := range []struct {
		name string
		cfg  TLS
		want string
	}{
		{"missing key", TLS{CertFile: certFile, KeyFile: filepath.Join(dir, "nope.pem")}, "nope.pem"},
		{"key as cert", TLS{CertFile: keyFile, KeyFile: keyFile}, "k.pem"},
		{"empty CA bundle", TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, "ca.PEM"},
		{"no key file", TLS{CertFile: certFile}, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCerts(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewCerts = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	ca, other := listenertest.NewAuthority(t, "client CA"), listenertest.NewAuthority(t, "other CA")
	roots := ca.Pool()
	dir := t.TempDir()
	sc, sk := ca.Issue(t, 1, "warden-test", false)
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "clients.pem")
	listenertest.WriteFile(t, certFile, sc)
	listenertest.WriteFile(t, keyFile, sk)
	listenertest.WriteFile(t, caFile, ca.PEM)
	pair := func(a *listenertest.Authority, serial int64) *tls.Certificate {
		c, k := a.Issue(t, serial, "warden-test", true)
		p, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	good, forged := pair(ca, 7), pair(other, 8)

	for _, tc := range []struct {
		auth     tls.ClientAuthType
		client   *tls.Certificate
		wantErr  bool
		wantBody string
	}{
		{tls.RequireAndVerifyClientCert, good, false, "client:warden-test"},
		{tls.RequireAndVerifyClientCert, nil, true, ""},
		{tls.RequireAndVerifyClientCert, forged, true, ""},
		{tls.VerifyClientCertIfGiven, good, false, "client:warden-test"},
		{tls.VerifyClientCertIfGiven, nil, false, "anonymous"},
		{tls.VerifyClientCertIfGiven, forged, true, ""},
	} {
		certs, err := NewCerts(TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, ClientAuth: tc.auth}, nil)
		if err != nil {
			t.Fatal(err)
		}
		addr := serveTLS(t, certs)
		body, _, err := get(t, addr, roots, tc.client)
		if (err != nil) != tc.wantErr || body != tc.wantBody {
			t.Errorf("auth %v, client cert %v: body %q, err %v; want body %q, error %v", tc.auth, tc.client != nil, body, err, tc.wantBody, tc.wantErr)
		}
	}

	// The client CA bundle is reloaded as well: once it names the other CA, its clients get in.
	certs, err := NewCerts(TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, CheckInterval: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, certs)
	if _, _, err := get(t, addr, roots, forged); err == nil {
		t.Fatal("client of the other CA accepted before the bundle named it")
	}
	listenertest.WriteFile(t, caFile, append(append([]byte{}, ca.PEM...), other.PEM...))
	if body, _, err := get(t, addr, roots, forged); err != nil || body != "client:warden-test" {
		t.Fatalf("after adding the other CA: %q, %v", body, err)
	}
}
