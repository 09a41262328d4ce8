package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/audit"
)

// ingestBatch posts n generated events through the running binary.
func (s *server) ingestBatch(t *testing.T, prefix string, n int) {
	t.Helper()
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson(prefix, 0, n))); code != 202 {
		t.Fatalf("ingest: %d %s", code, body)
	}
}

// forgeLog rewrites the log of data into a fresh directory with the entries keep accepts,
// signed with skey (the directory's own key when skey is empty), and swaps it in: what an
// attacker who can write the data directory can do.
func forgeLog(t *testing.T, data, skey string, keep func(i uint64) bool) {
	t.Helper()
	src, err := audit.Open(audit.DefaultOptions(logDir(data)))
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	err = src.Read(0, func(i uint64, id string, leaf, blob []byte) error {
		if keep(i) {
			recs = append(recs, audit.Record{ID: id, Leaf: bytes.Clone(leaf), Blob: bytes.Clone(blob)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	forged := filepath.Join(t.TempDir(), "log")
	if err := os.MkdirAll(forged, 0o700); err != nil {
		t.Fatal(err)
	}
	if skey == "" {
		b, err := os.ReadFile(filepath.Join(logDir(data), "log.key"))
		if err != nil {
			t.Fatal(err)
		}
		skey = string(b)
	}
	if err := os.WriteFile(filepath.Join(forged, "log.key"), []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	dst, err := audit.Open(audit.DefaultOptions(forged))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(logDir(data)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(forged, logDir(data)); err != nil {
		t.Fatal(err)
	}
}

func expectVerify(t *testing.T, wantCode int, want string, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, args...)
	if code != wantCode || !strings.Contains(out+errOut, want) {
		t.Fatalf("%s: exit %d, want %d with %q\n%s%s", strings.Join(args, " "), code, wantCode, want, out, errOut)
	}
	return out + errOut
}

// TestTrustAnchorsThroughBinary: rollback (truncation with the checkpoints rolled back),
// deletion + re-signing with the directory's key, and a swapped public key all pass a
// verifier that trusts the directory, and each is detected by one holding the anchors
// (the published key and a checkpoint saved earlier).
func TestTrustAnchorsThroughBinary(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	s.ingestBatch(t, "early", 40)
	s.stop(t)
	anchors := t.TempDir()
	early := filepath.Join(anchors, "early.checkpoint")
	copyFile(t, filepath.Join(logDir(data), "checkpoint"), early)
	snapshot := copyDir(t, data) // the state an attacker will roll back to

	s = startServer(t, data)
	s.ingestBatch(t, "late", 40)
	s.stop(t)
	late := filepath.Join(anchors, "late.checkpoint")
	copyFile(t, filepath.Join(logDir(data), "checkpoint"), late)
	pub := filepath.Join(anchors, "log.pub")
	copyFile(t, filepath.Join(logDir(data), "log.pub"), pub)

	// The genuine log: a consistent extension of both anchors, under the pinned key.
	out := expectVerify(t, 0, "consistent extension of the trusted checkpoint of size", "audit", "verify", "--data", data, "--key", pub, "--checkpoint", early)
	if !strings.Contains(out, "pinned by --key") {
		t.Fatalf("pinned key not reported:\n%s", out)
	}
	expectVerify(t, 0, "consistent extension", "audit", "verify", "--data", data, "--key", pub, "--checkpoint", late)
	out = expectVerify(t, 0, "intact", "audit", "verify", "--data", data)
	if !strings.Contains(out, "SELF-ASSERTED") {
		t.Fatalf("self-asserted key not stated:\n%s", out)
	}

	t.Run("rollback", func(t *testing.T) {
		rolled := copyDir(t, snapshot) // 40 entries and their checkpoints: internally consistent
		expectVerify(t, 0, "intact", "audit", "verify", "--data", rolled)
		expectVerify(t, 1, "rollback/truncation", "audit", "verify", "--data", rolled, "--key", pub, "--checkpoint", late)
	})
	t.Run("delete and re-sign with the directory key", func(t *testing.T) {
		forged := copyDir(t, data)
		forgeLog(t, forged, "", func(i uint64) bool { return i != 5 })
		expectVerify(t, 0, "intact", "audit", "verify", "--data", forged, "--key", pub) // same key: signatures hold
		expectVerify(t, 1, "inconsistent with the trusted checkpoint", "audit", "verify", "--data", forged, "--key", pub, "--checkpoint", early)
		expectVerify(t, 1, "rollback/truncation", "audit", "verify", "--data", forged, "--key", pub, "--checkpoint", late)
	})
	t.Run("swapped public key", func(t *testing.T) {
		forged := copyDir(t, data)
		skey, _, err := audit.GenerateKey(audit.DefaultOrigin)
		if err != nil {
			t.Fatal(err)
		}
		forgeLog(t, forged, skey, func(uint64) bool { return true })
		out := expectVerify(t, 0, "intact", "audit", "verify", "--data", forged)
		if !strings.Contains(out, "SELF-ASSERTED") {
			t.Fatalf("self-asserted key not stated:\n%s", out)
		}
		expectVerify(t, 1, "wrong key", "audit", "verify", "--data", forged, "--key", pub)
		expectVerify(t, 1, "wrong key", "audit", "verify", "--data", forged, "--checkpoint", late)
	})
}

// TestExternalSigningKeyAndRotation: the key lives outside the data directory; after a
// rotation the old checkpoints verify with the old public key kept beside the new one.
func TestExternalSigningKeyAndRotation(t *testing.T) {
	keys := t.TempDir()
	k1, k2 := filepath.Join(keys, "k1"), filepath.Join(keys, "k2")
	for _, k := range []string{k1, k2} {
		expectVerify(t, 0, "public key:", "audit", "keygen", "--out", k)
	}
	expectVerify(t, 2, "exists", "audit", "keygen", "--out", k1)
	data := t.TempDir()
	s := startServer(t, data, "--signing-key", k1)
	s.ingestBatch(t, "a", 30)
	s.stop(t)
	if _, err := os.Stat(filepath.Join(logDir(data), "log.key")); !os.IsNotExist(err) {
		t.Fatalf("a signing key was written into the data directory: %v", err)
	}
	expectVerify(t, 0, "pinned by --key", "audit", "verify", "--data", data, "--key", k1+".pub")

	s = startServer(t, data, "--signing-key", k2) // rotation
	s.ingestBatch(t, "b", 30)
	s.stop(t)
	both := filepath.Join(keys, "both.pub")
	b1, _ := os.ReadFile(k1 + ".pub")
	b2, _ := os.ReadFile(k2 + ".pub")
	if err := os.WriteFile(both, append(b1, b2...), 0o644); err != nil {
		t.Fatal(err)
	}
	expectVerify(t, 0, "intact", "audit", "verify", "--data", data, "--key", both)
	expectVerify(t, 1, "wrong key", "audit", "verify", "--data", data, "--key", k2+".pub")
	expectVerify(t, 1, "wrong key", "audit", "verify", "--data", data, "--key", k1+".pub")

	ev := filepath.Join(t.TempDir(), "ev.tar")
	expectVerify(t, 2, "signing-key", "evidence", "export", "--data", data, "--out", ev, "--model", "bot-1")
	expectVerify(t, 2, "signing-key", "evidence", "export", "--data", data, "--out", ev, "--model", "bot-1", "--signing-key", k2+".pub")
	expectVerify(t, 1, "not the log's current key", "evidence", "export", "--data", data, "--out", ev, "--model", "bot-1", "--signing-key", k1)
	expectVerify(t, 0, "wrote", "evidence", "export", "--data", data, "--out", ev, "--model", "bot-1", "--signing-key", k2)
	expectVerify(t, 0, "pinned by --key", "evidence", "verify", ev, "--key", both)
	expectVerify(t, 0, "SELF-ASSERTED", "evidence", "verify", ev)
	other := filepath.Join(keys, "other")
	expectVerify(t, 0, "public key:", "audit", "keygen", "--out", other)
	expectVerify(t, 1, "wrong key", "evidence", "verify", ev, "--key", other+".pub")
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(fmt.Errorf("copy %s: %w", src, err))
	}
}
