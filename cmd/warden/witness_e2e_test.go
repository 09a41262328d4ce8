package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWitnessThroughBinary runs `warden witness serve` and `warden serve` as two processes:
// the server submits its checkpoints, the witness cosigns consistent ones, and
// `audit verify --witness-key` passes. A second server signing a different history with the
// same key (what someone holding the key could do) is refused by the witness, and its
// directory — with or without the genuine witnessed file copied in — fails verification.
func TestWitnessThroughBinary(t *testing.T) {
	keys := t.TempDir()
	key := filepath.Join(keys, "log.key")
	if code, out, errOut := runCLI(t, "audit", "keygen", "--out", key); code != 0 {
		t.Fatalf("keygen: %d %s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "witness", "serve", "--state", t.TempDir()); code != 2 || !strings.Contains(errOut, "-log-key is required") {
		t.Fatalf("witness serve without --log-key: exit %d, want 2\n%s", code, errOut)
	}

	wstate, waddr := t.TempDir(), freeAddr(t)
	wcmd := exec.Command(wardenBin, "witness", "serve", "--state", wstate, "--listen", waddr, "--log-key", key+".pub", "--name", "witness.e2e")
	var wout, werr bytes.Buffer
	wcmd.Stdout, wcmd.Stderr = &wout, &werr
	if err := wcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if wcmd.ProcessState == nil {
			_ = wcmd.Process.Signal(syscall.SIGTERM)
			_ = wcmd.Wait()
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + waddr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("witness did not start")
		}
	}
	wpub := filepath.Join(wstate, "witness.pub")
	wkey, err := os.ReadFile(wpub)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(cfg, []byte("audit:\n  witness_interval: 200ms\n  witnesses:\n    - {url: \"http://"+waddr+"\", key: \""+strings.TrimSpace(string(wkey))+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	witnessedSize := func(data string) string {
		b, err := os.ReadFile(filepath.Join(data, "log", "witnessed"))
		if err != nil {
			return ""
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 3 {
			return ""
		}
		return lines[1]
	}
	waitWitnessed := func(s *server, data, size string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); witnessedSize(data) != size; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint of size %s not witnessed (have %q)", size, witnessedSize(data))
			}
		}
	}

	// 1. The genuine log: two batches, each checkpoint cosigned in turn (the second needs a
	// consistency proof from the first).
	data := t.TempDir()
	s := startServer(t, data, "--config", cfg, "--signing-key", key)
	for i, size := range []string{"20", "45"} {
		if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("w", i*20, 20+5*i))); code != 202 {
			t.Fatalf("ingest: %d %s", code, b)
		}
		waitWitnessed(s, data, size)
	}
	s.stop(t)
	verify := func(dir string) (int, string) {
		code, out, errOut := runCLI(t, "audit", "verify", "--data", dir, "--key", key+".pub", "--witness-key", wpub)
		return code, out + errOut
	}
	if code, out := verify(data); code != 0 || !strings.Contains(out, "witnessed:   the first 45 entries, by a checkpoint cosigned by witness.e2e") {
		t.Fatalf("verify with the witness key: exit %d\n%s", code, out)
	}

	// 2. Whoever holds the signing key builds another history: the witness refuses it.
	forged := t.TempDir()
	f := startServer(t, forged, "--config", cfg, "--signing-key", key)
	if code, b := f.do(t, "POST", "/v1/events", f.ingt, bytes.NewReader(ndjson("forged", 0, 60))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	time.Sleep(2 * time.Second) // several witnessing rounds
	f.stop(t)
	if !strings.Contains(f.stderr.String(), "witness refused or unreachable") || !strings.Contains(f.stderr.String(), "HTTP 422") {
		t.Fatalf("the forged log's checkpoints were not refused by the witness:\n%s", f.stderr)
	}
	if code, out := verify(forged); code != 1 || !strings.Contains(out, "not witnessed") {
		t.Fatalf("forged log without a cosignature: exit %d, want 1\n%s", code, out)
	}
	// Copying the genuine cosigned checkpoint does not help: it does not match the forged tree.
	genuine, err := os.ReadFile(filepath.Join(data, "log", "witnessed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(forged, "log", "witnessed"), genuine, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := verify(forged); code != 1 || !strings.Contains(out, "do not have the root the witnesses cosigned") {
		t.Fatalf("forged log with the genuine witnessed file: exit %d, want 1\n%s", code, out)
	}
	// Without --witness-key the forged log verifies (same key, internally consistent): the
	// witness is what tells them apart.
	if code, out, errOut := runCLI(t, "audit", "verify", "--data", forged, "--key", key+".pub"); code != 0 {
		t.Fatalf("forged log without --witness-key: exit %d\n%s%s", code, out, errOut)
	}
	_ = wcmd.Process.Signal(syscall.SIGTERM)
	if err := wcmd.Wait(); err != nil {
		t.Fatalf("witness exit: %v\n%s", err, werr.String())
	}
	if !strings.Contains(wout.String(), "witness key: witness.e2e+") {
		t.Fatalf("witness did not print its key:\n%s", wout.String())
	}
}
