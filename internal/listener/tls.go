package listener

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// TLS configures a listener's certificate and, optionally, the CA its clients' certificates must
// chain to.
type TLS struct {
	CertFile string // PEM certificate chain, leaf first
	KeyFile  string // PEM private key of the leaf
	// ClientCAFile, when set, is a PEM bundle of the CAs that sign client certificates.
	ClientCAFile string
	// ClientAuth applies with ClientCAFile: tls.RequireAndVerifyClientCert refuses the handshake
	// without a valid certificate; tls.VerifyClientCertIfGiven verifies one when it is given and
	// leaves requiring it to the handler (see [HasClientCert]). Default: RequireAndVerifyClientCert.
	ClientAuth tls.ClientAuthType
	// CheckInterval is how often, at most, a handshake looks at the files for changes; default 1 s.
	CheckInterval time.Duration
}

// Certs serves a listener's TLS configuration from files and reloads it when they change, so
// certificates can be rotated without a restart. A change that does not load (a half-written or
// mismatched pair) is logged and the previous certificate stays in use.
type Certs struct {
	cfg TLS
	log *slog.Logger

	mu        sync.Mutex
	checked   time.Time
	stamps    [3]fileStamp
	current   *tls.Config
	reloads   int
	lastError error
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewCerts loads cfg's files; an error names the file that is missing or invalid.
func NewCerts(cfg TLS, log *slog.Logger) (*Certs, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("tls: both a certificate and a key file are required")
	}
	if cfg.ClientCAFile != "" && cfg.ClientAuth == tls.NoClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certs{cfg: cfg, log: log.With("component", "tls", "cert_file", cfg.CertFile)}
	stamps, err := c.stat()
	if err != nil {
		return nil, err
	}
	conf, err := c.load()
	if err != nil {
		return nil, err
	}
	c.current, c.stamps, c.checked = conf, stamps, time.Now()
	return c, nil
}

// Config returns the tls.Config of an http.Server: every handshake gets the current files'
// configuration.
func (c *Certs) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.get(), nil
		},
	}
}

// Status reports how many times the files were reloaded and the last reload error (nil when the
// last attempt succeeded).
func (c *Certs) Status() (reloads int, lastErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reloads, c.lastError
}

func (c *Certs) get() *tls.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) < c.cfg.CheckInterval {
		return c.current
	}
	c.checked = now
	stamps, err := c.stat()
	if err != nil || stamps == c.stamps {
		if err != nil && c.lastError == nil {
			c.lastError = err
			c.log.Error("TLS files unreadable; keeping the loaded certificate", "err", err)
		}
		return c.current
	}
	conf, err := c.load()
	if err != nil {
		if c.lastError == nil || c.lastError.Error() != err.Error() {
			c.log.Error("TLS files changed but do not load; keeping the loaded certificate", "err", err)
		}
		c.lastError = err
		return c.current // stamps unchanged: retried at the next check
	}
	c.current, c.stamps, c.lastError = conf, stamps, nil
	c.reloads++
	c.log.Info("TLS certificate reloaded", "not_after", conf.Certificates[0].Leaf.NotAfter)
	return c.current
}

func (c *Certs) stat() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, name := range []string{c.cfg.CertFile, c.cfg.KeyFile, c.cfg.ClientCAFile} {
		if name == "" {
			continue
		}
		fi, err := os.Stat(name)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// load reads the files into a new per-handshake configuration.
func (c *Certs) load() (*tls.Config, error) {
	certPEM, err := os.ReadFile(c.cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := os.ReadFile(c.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: %s and %s: %w", c.cfg.CertFile, c.cfg.KeyFile, err)
	}
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		Certificates: []tls.Certificate{pair},
	}
	if c.cfg.ClientCAFile != "" {
		caPEM, err := os.ReadFile(c.cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bytes.TrimSpace(caPEM)) {
			return nil, fmt.Errorf("tls: %s holds no PEM certificate", c.cfg.ClientCAFile)
		}
		conf.ClientCAs, conf.ClientAuth = pool, c.cfg.ClientAuth
	}
	return conf, nil
}

// HasClientCert reports whether the request came over TLS with a client certificate that was
// verified against the listener's client CAs.
func HasClientCert(s *tls.ConnectionState) bool {
	return s != nil && len(s.VerifiedChains) > 0
}
