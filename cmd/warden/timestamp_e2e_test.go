package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/tsa/tsatest"
)

// TestTimestampsThroughBinary: the server has its checkpoints time-stamped by an RFC 3161 TSA
// (a test TSA with a throw-away CA, in the test process). The TSA fails at first (visible in
// /readyz, retried), the checkpoint written at shutdown is stamped too, `audit verify
// --tsa-cert` and `evidence verify --tsa-cert` check the tokens offline, and another TSA's
// certificate or a log without tokens fails.
func TestTimestampsThroughBinary(t *testing.T) {
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
	dir := t.TempDir()
	caFile, otherCA := filepath.Join(dir, "tsa-ca.pem"), filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(caFile, ts.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherCA, other.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	writeCfg := func(interval string) string {
		p := filepath.Join(t.TempDir(), "warden.yaml")
		if err := os.WriteFile(p, []byte("audit:\n  timestamp_interval: "+interval+"\n  timestamp_authorities: [\""+ts.URL+"\"]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := t.TempDir()
	tokens := func() []string {
		m, _ := filepath.Glob(filepath.Join(data, "log", "timestamps", "*.tst"))
		return m
	}

	ts.Fail.Store(true)
	s := startServer(t, data, "--config", writeCfg("200ms"))
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("ts", 0, 30))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	waitFor(t, 20*time.Second, "/readyz to show the failing TSA", func() bool {
		_, b := s.do(t, "GET", "/readyz", s.admin, nil)
		return strings.Contains(string(b), `"timestamps":{"timestamped_size":0,"consecutive_failures":`) && strings.Contains(string(b), "HTTP 503")
	})
	ts.Fail.Store(false)
	waitFor(t, 20*time.Second, "a token after the TSA recovered", func() bool { return len(tokens()) > 0 })
	if _, b := s.do(t, "GET", "/metrics", s.admin, nil); strings.Contains(string(b), `warden_timestamp_size 0`) {
		t.Fatalf("metrics:\n%s", grepLines(string(b), "warden_timestamp_"))
	}
	s.stop(t)

	// With an interval of an hour, only the shutdown stamp can cover the second batch.
	s = startServer(t, data, "--config", writeCfg("1h"))
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("ts", 30, 10))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	s.waitAnalysed(t)
	s.stop(t)
	if _, err := os.Stat(filepath.Join(data, "log", "timestamps", "00000000000000000040.tst")); err != nil {
		t.Fatalf("the final checkpoint (size 40) was not time-stamped at shutdown: %v (have %v)\n%s", err, tokens(), s.stderr)
	}

	code, out, errOut := runCLI(t, "audit", "verify", "--data", data, "--tsa-cert", caFile)
	if code != 0 || !strings.Contains(out, "timestamped:") || !strings.Contains(out, "the first 40 entries existed by") || !strings.Contains(out, "Warden test TSA") {
		t.Fatalf("audit verify --tsa-cert: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "audit", "verify", "--data", data); code != 0 || !strings.Contains(out, "not checked (pass --tsa-cert") {
		t.Fatalf("audit verify without --tsa-cert: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "audit", "verify", "--data", data, "--tsa-cert", otherCA); code != 1 || !strings.Contains(out+errOut, "not time-stamped by a trusted TSA") {
		t.Fatalf("audit verify with another TSA's certificate: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "audit", "verify", "--data", data, "--tsa-cert", filepath.Join(dir, "missing.pem")); code != 2 || !strings.Contains(errOut, "-tsa-cert") {
		t.Fatalf("missing --tsa-cert file: exit %d, want 2\n%s", code, errOut)
	}

	pkg := filepath.Join(t.TempDir(), "ev.tar")
	if code, out, errOut := runCLI(t, "evidence", "export", "--data", data, "--out", pkg, "--model", "bot-1"); code != 0 {
		t.Fatalf("evidence export: %d %s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "evidence", "verify", pkg, "--tsa-cert", caFile); code != 0 || !strings.Contains(out, "timestamped: 1 RFC 3161 tokens verified") {
		t.Fatalf("evidence verify --tsa-cert: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "evidence", "verify", pkg, "--tsa-cert", otherCA); code != 1 {
		t.Fatalf("evidence verify with another TSA's certificate: exit %d, want 1\n%s%s", code, out, errOut)
	}

	// A log whose tokens are gone fails a verifier that requires them.
	if err := os.RemoveAll(filepath.Join(data, "log", "timestamps")); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "audit", "verify", "--data", data, "--tsa-cert", caFile); code != 1 || !strings.Contains(out+errOut, "no RFC 3161 time-stamp token") {
		t.Fatalf("audit verify of a log without tokens: exit %d, want 1\n%s%s", code, out, errOut)
	}
}
