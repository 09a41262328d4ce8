// Package tsatest is a test Time-Stamping Authority: an RFC 3161 responder over HTTP with its
// own throw-away CA, for tests and the demo. It is not a TSA anyone should trust: its keys are
// generated in memory at start and its clock is the machine's.
package tsatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/digitorus/timestamp"
)

// TSA is a running test TSA.
type TSA struct {
	URL string
	// CAPEM is the test CA's certificate (what a verifier passes as --tsa-cert).
	CAPEM []byte
	// Now, when set, is the TSA's clock.
	Now func() time.Time
	// Fail, while true, makes the TSA answer 503.
	Fail atomic.Bool
	// Stamped counts the tokens issued.
	Stamped atomic.Int64

	cert *x509.Certificate
	key  crypto.Signer
	srv  *http.Server
	ln   net.Listener
}

// Options of a test TSA.
type Options struct {
	Addr string // listen address; default 127.0.0.1:0
	// NoTimeStampingEKU issues the TSA certificate without the timeStamping extended key usage
	// (which verifiers must refuse).
	NoTimeStampingEKU bool
}

// Start generates a CA and a TSA certificate (ECDSA P-256, valid from an hour ago for a day)
// and serves RFC 3161 at URL (POST, application/timestamp-query).
func Start(o Options) (*TSA, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Warden test TSA root (not for production)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Warden test TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if !o.NoTimeStampingEKU {
		// RFC 3161 §2.3: the only extended key usage, marked critical.
		eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	t := &TSA{URL: "http://" + ln.Addr().String() + "/", CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Now: time.Now, cert: cert, key: key, ln: ln}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// Close stops the TSA.
func (t *TSA) Close() error { return t.srv.Close() }

func (t *TSA) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "POST application/timestamp-query", http.StatusBadRequest)
		return
	}
	if t.Fail.Load() {
		http.Error(w, "test TSA told to fail", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := t.respond(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t.Stamped.Add(1)
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

func (t *TSA) respond(body []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		return nil, err
	}
	if len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return nil, errors.New("imprint length does not match its hash")
	}
	ts := timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage,
		Time: t.Now().UTC(), Accuracy: time.Second, Nonce: req.Nonce,
		Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, // a private test policy
		AddTSACertificate: req.Certificates,
	}
	return ts.CreateResponseWithOpts(t.cert, t.key, crypto.SHA256)
}
