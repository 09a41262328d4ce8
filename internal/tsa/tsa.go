// Package tsa obtains and checks RFC 3161 time-stamp tokens: a Time-Stamping Authority (TSA)
// signs "this SHA-256 digest existed at time T" with a certificate the verifier trusts, which
// anchors the audit log's checkpoints in time independently of Warden's own clock.
//
// Tokens are requested with the TSA's certificate included and a nonce, and checked against the
// digest; Verify checks a token offline against trusted roots (the TSA's certificate or its CA),
// requiring the timeStamping extended key usage at the token's time.
package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// MaxTokenBytes bounds a token (and a TSA's answer): real ones are a few KiB with the chain.
const MaxTokenBytes = 64 << 10

// Token is a parsed time-stamp token.
type Token struct {
	Time     time.Time     // the TSA's genTime
	Accuracy time.Duration // the TSA's stated accuracy (0: not given)
	Serial   *big.Int
	Digest   []byte // the SHA-256 digest the TSA signed
	// Signer is the subject of the TSA certificate that signed the token.
	Signer string
	Raw    []byte // the token (DER CMS SignedData)
}

// Parse parses a DER time-stamp token (a CMS ContentInfo with a TSTInfo): its signature must
// verify under the certificate it embeds (which says nothing about whether that certificate is
// trusted: that is Verify) and its imprint must be a SHA-256 digest.
func Parse(der []byte) (*Token, error) {
	if len(der) == 0 || len(der) > MaxTokenBytes {
		return nil, fmt.Errorf("tsa: token of %d bytes (1..%d)", len(der), MaxTokenBytes)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("tsa: token: %w", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, errors.New("tsa: token: want exactly one signer with its certificate included")
	}
	ts, err := timestamp.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("tsa: token: %w", err)
	}
	if ts.HashAlgorithm != crypto.SHA256 || len(ts.HashedMessage) != sha256.Size {
		return nil, fmt.Errorf("tsa: token: imprint is not a SHA-256 digest")
	}
	return &Token{Time: ts.Time.UTC(), Accuracy: ts.Accuracy, Serial: ts.SerialNumber, Digest: ts.HashedMessage,
		Signer: signer.Subject.String(), Raw: der}, nil
}

// Verify checks a token offline: it is over digest and VerifyToken accepts it.
func Verify(der []byte, digest [sha256.Size]byte, roots *x509.CertPool) (*Token, error) {
	t, err := VerifyToken(der, roots)
	if err != nil {
		return t, err
	}
	if !bytes.Equal(t.Digest, digest[:]) {
		return t, errors.New("tsa: the token is over another digest")
	}
	return t, nil
}

// VerifyToken checks a token offline: it parses, and its signing certificate carries the
// timeStamping extended key usage and chains to one of roots at the token's time. The caller
// compares Digest with what it expects the token to be over.
func VerifyToken(der []byte, roots *x509.CertPool) (*Token, error) {
	t, err := Parse(der)
	if err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return t, fmt.Errorf("tsa: token: %w", err)
	}
	// RFC 3161 §2.3: the TSA's certificate carries the timeStamping usage (Go's chain check
	// takes a certificate without extended key usages as good for any).
	if !slices.Contains(p7.GetOnlySigner().ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return t, fmt.Errorf("tsa: token signed by %s, whose certificate lacks the timeStamping extended key usage", t.Signer)
	}
	err = p7.VerifyWithOpts(x509.VerifyOptions{Roots: roots, Intermediates: pool(p7.Certificates),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, CurrentTime: t.Time})
	if err != nil {
		return t, fmt.Errorf("tsa: token signed by %s: not trusted: %w", t.Signer, err)
	}
	return t, nil
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// LoadRoots reads PEM certificates (the TSA's certificate or its CA) from a file.
func LoadRoots(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		p.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return p, nil
}

// Client requests tokens from one TSA (RFC 3161 over HTTP, application/timestamp-query).
type Client struct {
	URL  string
	HTTP *http.Client // nil: http.DefaultClient
}

// Stamp asks the TSA for a token over digest (a SHA-256 digest) and checks the answer: granted,
// the same digest and nonce, a signature that verifies under the certificate it embeds.
func (c *Client) Stamp(ctx context.Context, digest [sha256.Size]byte) (*Token, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	req := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Certificates: true, Nonce: nonce}
	body, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("tsa %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxTokenBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tsa %s: %w", c.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tsa %s: HTTP %d", c.URL, resp.StatusCode)
	}
	if len(b) > MaxTokenBytes {
		return nil, fmt.Errorf("tsa %s: answer over %d bytes", c.URL, MaxTokenBytes)
	}
	ts, err := timestamp.ParseResponse(b)
	if err != nil {
		return nil, fmt.Errorf("tsa %s: %w", c.URL, err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("tsa %s: the answer does not carry the request's nonce", c.URL)
	}
	t, err := Parse(ts.RawToken)
	if err != nil {
		return nil, fmt.Errorf("tsa %s: %w", c.URL, err)
	}
	if !bytes.Equal(t.Digest, digest[:]) {
		return nil, fmt.Errorf("tsa %s: the token is over another digest", c.URL)
	}
	return t, nil
}
