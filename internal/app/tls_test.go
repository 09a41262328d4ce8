package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/listener/listenertest"
)

// TestTLSListeners starts the App with TLS on both listeners from config and mTLS for ingest,
// and talks to it with crypto/tls clients: ingest needs the client certificate besides the
// token, the admin API over the same listener does not, the gateway serves its own certificate,
// plain HTTP is refused, and a rotated API certificate is served without a restart.
func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	ca, clients, rogue := listenertest.NewAuthority(t, "server CA"), listenertest.NewAuthority(t, "ingest clients CA"), listenertest.NewAuthority(t, "rogue CA")
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		listenertest.WriteFile(t, p, b)
		return p
	}
	ac, ak := ca.Issue(t, 11, "warden-api", false)
	gc, gk := ca.Issue(t, 21, "warden-gateway", false)
	yaml := fmt.Sprintf("models:\n  - name: bot\ntls:\n  api: {cert_file: %s, key_file: %s, client_ca_file: %s}\n  gateway: {cert_file: %s, key_file: %s}\n",
		file("api.crt", ac), file("api.key", ak), file("clients.pem", clients.PEM), file("gw.crt", gc), file("gw.key", gk))
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": "admin-token-0123456789", "WARDEN_INGEST_TOKEN": "ingest-token-0123456789"}
	a, err := New(context.Background(), Options{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0", Config: cfg,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })

	clientCert := func(auth *listenertest.Authority) *tls.Certificate {
		c, k := auth.Issue(t, 31, "collector-1", true)
		p, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	type result struct {
		status int
		code   string
		serial int64
		err    error
	}
	do := func(method, url, token, body string, cert *tls.Certificate) result {
		conf := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}}
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return result{err: err}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var eb struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(b, &eb)
		return result{status: resp.StatusCode, code: eb.Error.Code, serial: resp.TLS.PeerCertificates[0].SerialNumber.Int64()}
	}
	ev := fmt.Sprintf(`{"id":"tls-1","type":"access","time":"%s","action":"invoke","decision":"allow"}`, time.Now().UTC().Format(time.RFC3339))
	api, gw := "https://"+a.Addr(), "https://"+a.GatewayAddr()
	for _, tc := range []struct {
		name, method, url, token string
		cert                     *tls.Certificate
		status                   int
		code                     string
		serial                   int64
		handshakeFails           bool
	}{
		{"ingest with client cert", "POST", api + "/v1/events", env["WARDEN_INGEST_TOKEN"], clientCert(clients), 202, "", 11, false},
		{"ingest without client cert", "POST", api + "/v1/events", env["WARDEN_INGEST_TOKEN"], nil, 401, "client_certificate_required", 11, false},
		{"ingest with a rogue client cert", "POST", api + "/v1/events", env["WARDEN_INGEST_TOKEN"], clientCert(rogue), 0, "", 0, true},
		{"client cert does not replace the token", "POST", api + "/v1/events", "wrong-token", clientCert(clients), 401, "unauthorized", 11, false},
		{"admin API without client cert", "GET", api + "/v1/audit/checkpoint", env["WARDEN_ADMIN_TOKEN"], nil, 200, "", 11, false},
		{"health", "GET", api + "/healthz", "", nil, 200, "", 11, false},
		{"gateway on its own certificate", "GET", gw + "/v1/models", "wk-unknown", nil, 401, "", 21, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(tc.method, tc.url, tc.token, ev, tc.cert)
			if tc.handshakeFails {
				if r.err == nil {
					t.Fatalf("status %d; want the TLS handshake to fail", r.status)
				}
				return
			}
			if r.err != nil || r.status != tc.status || (tc.code != "" && r.code != tc.code) || r.serial != tc.serial {
				t.Fatalf("got %d %q serial %d (%v); want %d %q serial %d", r.status, r.code, r.serial, r.err, tc.status, tc.code, tc.serial)
			}
		})
	}
	// Plain HTTP to either TLS listener gets no answer from the application.
	for _, addr := range []string{a.Addr(), a.GatewayAddr()} {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("plain HTTP to %s: %s", addr, resp.Status)
			}
		}
	}
	// Rotation without restart: new files are served once the change is seen (checked at most
	// once a second).
	nc, nk := ca.Issue(t, 12, "warden-api", false)
	listenertest.WriteFile(t, filepath.Join(dir, "api.key"), nk)
	listenertest.WriteFile(t, filepath.Join(dir, "api.crt"), nc)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := do("GET", api+"/healthz", "", "", nil)
		if r.err == nil && r.serial == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated certificate not served: serial %d, %v", r.serial, r.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
