package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/warden-ai/warden/internal/tsa"
	"github.com/warden-ai/warden/internal/tsa/tsatest"
)

// tsaVerifier adapts internal/tsa to the log's TimestampVerifier, trusting the CA of pem.
func tsaVerifier(t *testing.T, pem []byte) TimestampVerifier {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA PEM")
	}
	return func(token []byte) (TimestampInfo, error) {
		tk, err := tsa.VerifyToken(token, roots)
		if err != nil {
			return TimestampInfo{}, err
		}
		return TimestampInfo{Time: tk.Time, Signer: tk.Signer, Digest: tk.Digest}, nil
	}
}

// stamp has the log's current checkpoint time-stamped by the test TSA and stored.
func stamp(t *testing.T, l *Log, ts *tsatest.TSA) uint64 {
	t.Helper()
	cp, err := l.CheckpointNow()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := (&tsa.Client{URL: ts.URL}).Stamp(context.Background(), CheckpointDigest(cp))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddTimestamp(l.Size(), tok.Raw); err != nil {
		t.Fatal(err)
	}
	return l.Size()
}

// TestTimestampsVerify: RFC 3161 tokens from a test TSA over checkpoints are checked by
// VerifyWith and carried and checked by evidence packages; a rewritten history with the
// genuine tokens copied in, an untrusted TSA and a log without tokens each fail.
func TestTimestampsVerify(t *testing.T) {
	ts, err := tsatest.Start(tsatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	other, err := tsatest.Start(tsatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	trusted, untrusted := tsaVerifier(t, ts.CAPEM), tsaVerifier(t, other.CAPEM)

	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	appendN(t, l, 0, 20)
	if _, err := VerifyWith(dir, VerifyOptions{Timestamps: trusted}); kindOf(err) != KindUntimestamped {
		t.Fatalf("no token: %v, want %s", err, KindUntimestamped)
	}
	stamp(t, l, ts)
	appendN(t, l, 20, 15)
	stamp(t, l, ts)
	appendN(t, l, 35, 5) // after the last token
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyWith(dir, VerifyOptions{Timestamps: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if sum.TimestampTokens != 2 || len(sum.Timestamps) != 2 || sum.Timestamps[1].Size != 35 || sum.Timestamps[1].Signer == "" {
		t.Fatalf("summary: %+v", sum)
	}
	if sum, err := Verify(dir); err != nil || sum.TimestampTokens != 2 || len(sum.Timestamps) != 0 {
		t.Fatalf("without a verifier the tokens are counted, not checked: %+v %v", sum, err)
	}
	if _, err := VerifyWith(dir, VerifyOptions{Timestamps: untrusted}); kindOf(err) != KindUntimestamped {
		t.Fatalf("untrusted TSA: %v, want %s", err, KindUntimestamped)
	}

	// Evidence: the earliest stamped checkpoint covering the selection becomes the package's
	// first checkpoint and carries its token.
	pkg, es := exportT(t, dir, ExportOptions{IDs: []string{"ev-3", "ev-25"}})
	if es.FirstCheckpoint != 35 || len(es.Timestamps) != 1 || es.Timestamps[0] != 35 {
		t.Fatalf("export summary: %+v", es)
	}
	evs, err := VerifyEvidenceWith(bytes.NewReader(pkg), int64(len(pkg)), EvidenceOptions{Timestamps: trusted})
	if err != nil || len(evs.Timestamps) != 1 || evs.Timestamps[0].Size != 35 {
		t.Fatalf("evidence with its token: %+v %v", evs, err)
	}
	if _, err := VerifyEvidenceWith(bytes.NewReader(pkg), int64(len(pkg)), EvidenceOptions{Timestamps: untrusted}); err == nil {
		t.Fatal("evidence token of an untrusted TSA accepted")
	}
	pkg2, es2 := exportT(t, dir, ExportOptions{IDs: []string{"ev-37"}}) // after every token
	if len(es2.Timestamps) != 0 {
		t.Fatalf("export past the last token: %+v", es2)
	}
	if _, err := VerifyEvidenceWith(bytes.NewReader(pkg2), int64(len(pkg2)), EvidenceOptions{Timestamps: trusted}); err == nil {
		t.Fatal("a package without a token passed a verifier that requires one")
	}

	// Someone with the signing key rewrites the log and copies the genuine tokens in.
	forged := t.TempDir()
	for _, f := range []string{"log.key", "log.pub"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(forged, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fl := openT(t, testOptions(forged))
	appendN(t, fl, 1, 20) // other entries
	if _, err := fl.CheckpointNow(); err != nil {
		t.Fatal(err)
	}
	appendN(t, fl, 100, 20)
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(forged, timestampsDir), os.DirFS(filepath.Join(dir, timestampsDir))); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyWith(forged, VerifyOptions{Timestamps: trusted}); kindOf(err) != KindInconsistent {
		t.Fatalf("rewritten history with the genuine tokens: %v, want %s", err, KindInconsistent)
	}
}

func kindOf(err error) string {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Kind
	}
	return ""
}
