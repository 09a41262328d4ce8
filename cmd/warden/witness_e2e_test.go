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
// directory — with or without the genuine witnessed file copied in — fails verification, and
// raises the P1 alert warden.audit.tamper_suspected. Edge cases: the witness is down when the
// server starts (failures visible in /readyz and /metrics, retried with backoff until it
// cosigns), and the checkpoint written at shutdown is submitted before the server exits.
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
	var wout, werr bytes.Buffer
	wcmd := exec.Command(wardenBin, "witness", "serve", "--state", wstate, "--listen", waddr, "--log-key", key+".pub", "--name", "witness.e2e")
	wcmd.Stdout, wcmd.Stderr = &wout, &werr
	startWitness := func() string {
		t.Helper()
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
		wkey, err := os.ReadFile(filepath.Join(wstate, "witness.pub"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(wkey))
	}
	wpub := filepath.Join(wstate, "witness.pub")
	// The witness's key is known before it first runs: generate its state with a first run.
	if code, _, errOut := runCLI(t, "witness", "keygen", "--state", wstate, "--name", "witness.e2e"); code != 0 {
		t.Fatalf("witness keygen: %d %s", code, errOut)
	}
	wkeyBytes, err := os.ReadFile(wpub)
	if err != nil {
		t.Fatal(err)
	}
	wkey := strings.TrimSpace(string(wkeyBytes))
	writeCfg := func(interval string) string {
		cfg := filepath.Join(t.TempDir(), "warden.yaml")
		if err := os.WriteFile(cfg, []byte("audit:\n  witness_interval: "+interval+"\n  witnesses:\n    - {url: \"http://"+waddr+"\", key: \""+wkey+"\"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := writeCfg("200ms")

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

	// 1. The genuine log. The witness is down when the server starts: the submission fails,
	// /readyz and /metrics show it, and it is retried with backoff until the witness is up.
	data := t.TempDir()
	s := startServer(t, data, "--config", cfg, "--signing-key", key)
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("w", 0, 20))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, b := s.do(t, "GET", "/readyz", s.admin, nil)
		if strings.Contains(string(b), `"name":"witness.e2e","ok":false`) && strings.Contains(string(b), `"consecutive_failures":`) && strings.Contains(string(b), `"next_retry":`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz does not report the unreachable witness: %s", b)
		}
	}
	if code, b := s.do(t, "GET", "/metrics", s.admin, nil); code != 200 || !strings.Contains(string(b), `warden_witness_up{witness="witness.e2e"} 0`) ||
		strings.Contains(string(b), `warden_witness_failures_total{kind="unreachable",witness="witness.e2e"} 0`) {
		t.Fatalf("metrics do not show the unreachable witness: %d\n%s", code, grepLines(string(b), "warden_witness_"))
	}
	startWitness()
	waitWitnessed(s, data, "20")
	if !strings.Contains(s.stderr.String(), "witness unreachable; retrying") || !strings.Contains(s.stderr.String(), "witness cosigning again") {
		t.Fatalf("the retries are not logged:\n%s", s.stderr)
	}
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("w", 20, 25))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	waitWitnessed(s, data, "45") // needs a consistency proof from 20
	if _, b := s.do(t, "GET", "/metrics", s.admin, nil); !strings.Contains(string(b), `warden_witness_up{witness="witness.e2e"} 1`) || !strings.Contains(string(b), `warden_witness_cosigned_size{witness="witness.e2e"} 45`) {
		t.Fatalf("metrics after cosigning:\n%s", grepLines(string(b), "warden_witness_"))
	}
	s.stop(t)
	// The checkpoint written at shutdown is submitted too: with an interval of an hour no round
	// runs while the server is up, so only the shutdown submission can witness size 50.
	s = startServer(t, data, "--config", writeCfg("1h"), "--signing-key", key)
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("w", 45, 5))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	s.waitAnalysed(t)
	s.stop(t)
	if got := witnessedSize(data); got != "50" {
		t.Fatalf("the final checkpoint was not witnessed at shutdown: witnessed size %q\n%s", got, s.stderr)
	}
	verify := func(dir string) (int, string) {
		code, out, errOut := runCLI(t, "audit", "verify", "--data", dir, "--key", key+".pub", "--witness-key", wpub)
		return code, out + errOut
	}
	if code, out := verify(data); code != 0 || !strings.Contains(out, "witnessed:   the first 50 entries, by a checkpoint cosigned by witness.e2e") {
		t.Fatalf("verify with the witness key: exit %d\n%s", code, out)
	}

	// 2. Whoever holds the signing key builds another history: the witness refuses it.
	forged := t.TempDir()
	f := startServer(t, forged, "--config", cfg, "--signing-key", key)
	if code, b := f.do(t, "POST", "/v1/events", f.ingt, bytes.NewReader(ndjson("forged", 0, 60))); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	// The witness refuses it, and the server raises the P1 alert through the rules.
	for deadline := time.Now().Add(30 * time.Second); !f.alertRules(t)["warden.audit.tamper_suspected"]; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warden.audit.tamper_suspected alert for the refused checkpoint:\n%s", f.stderr)
		}
	}
	if _, b := f.do(t, "GET", "/metrics", f.admin, nil); strings.Contains(string(b), `warden_witness_failures_total{kind="refused",witness="witness.e2e"} 0`) {
		t.Fatalf("refusals not counted:\n%s", grepLines(string(b), "warden_witness_"))
	}
	f.stop(t)
	if !strings.Contains(f.stderr.String(), "AUDIT TAMPER SUSPECTED") || !strings.Contains(f.stderr.String(), "status=422") {
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

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
