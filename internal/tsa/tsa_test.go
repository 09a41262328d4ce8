package tsa

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/tsa/tsatest"
)

func TestStampAndVerify(t *testing.T) {
	ts, err := tsatest.Start(tsatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	digest := sha256.Sum256([]byte("checkpoint"))
	c := &Client{URL: ts.URL}
	tok, err := c.Stamp(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(tok.Time) > time.Minute || !strings.Contains(tok.Signer, "Warden test TSA") {
		t.Fatalf("token %+v", tok)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ts.CAPEM)
	if _, err := Verify(tok.Raw, digest, roots); err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("another"))
	if _, err := Verify(tok.Raw, other, roots); err == nil {
		t.Fatal("other digest accepted")
	}
	ts2, _ := tsatest.Start(tsatest.Options{})
	defer ts2.Close()
	roots2 := x509.NewCertPool()
	roots2.AppendCertsFromPEM(ts2.CAPEM)
	if _, err := Verify(tok.Raw, digest, roots2); err == nil {
		t.Fatal("untrusted CA accepted")
	}
	ts3, _ := tsatest.Start(tsatest.Options{NoTimeStampingEKU: true})
	defer ts3.Close()
	tok3, err := (&Client{URL: ts3.URL}).Stamp(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	roots3 := x509.NewCertPool()
	roots3.AppendCertsFromPEM(ts3.CAPEM)
	if _, err := Verify(tok3.Raw, digest, roots3); err == nil {
		t.Fatal("token of a certificate without timeStamping accepted")
	}
	bad := append([]byte{}, tok.Raw...)
	bad[len(bad)-5] ^= 1
	if _, err := Verify(bad, digest, roots); err == nil {
		t.Fatal("altered token accepted")
	}
}

func FuzzParse(f *testing.F) {
	ts, err := tsatest.Start(tsatest.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer ts.Close()
	tok, err := (&Client{URL: ts.URL}).Stamp(context.Background(), sha256.Sum256([]byte("x")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.Raw)
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		tk, err := Parse(der)
		if err != nil {
			return
		}
		if len(tk.Digest) != sha256.Size || tk.Time.IsZero() && tk.Signer == "" {
			t.Fatalf("accepted token without a SHA-256 digest: %+v", tk)
		}
	})
}
