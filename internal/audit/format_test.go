package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestFormatGolden pins the on-disk encodings documented in docs/AUDIT.md.
func TestFormatGolden(t *testing.T) {
	sum := sha256.Sum256([]byte("blob"))
	var b strings.Builder
	dump := func(name string, p []byte) { b.WriteString(name + " " + hex.EncodeToString(p) + "\n") }
	dump("log-segment-header", appendSegHeader(nil, logMagic, 0x1234))
	dump("blob-segment-header", appendSegHeader(nil, blobMagic, 0x1234))
	dump("entry", appendEntry(nil, 7, "ev-7", []byte(`{"a":1}`), 4, 24, &sum))
	bf := appendBlobFrame(nil, []byte("blob"))
	sealBlob(bf, 7)
	dump("blob-frame", bf)
	dump("checkpoint-record", appendCheckpointRecord(nil, []byte("warden/audit-log\n1\nAAAA\n")))
	path := filepath.Join("testdata", "format.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("encodings changed (run with -update if intended):\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l := openT(t, testOptions(dir))
	appendN(t, l, 0, 30)
	l.Close()
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v", st.Mode(), err)
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		info, _ := de.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", de.Name(), info.Mode().Perm())
		}
	}
}

func TestCheckpointInterval(t *testing.T) {
	o := testOptions(t.TempDir())
	o.CheckpointInterval = 20 * time.Millisecond
	l := openT(t, o)
	appendN(t, l, 0, 10)
	// Idle: the syncer's ticker signs the unsigned entries. Wait (bounded)
	// for it rather than asserting a duration.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.RLock()
		n := l.cp.size
		l.mu.RUnlock()
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of 10 entries, latest %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	latest, err := os.ReadFile(filepath.Join(o.Dir, latestCheckpoint))
	signed, _ := l.Checkpoint()
	if err != nil || !bytes.Equal(latest, signed) {
		t.Fatalf("checkpoint file differs from Checkpoint(): %v", err)
	}
}

func TestExportLiveLog(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	appendN(t, l, 0, 50)
	if err := l.requestCheckpoint(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := range 20 {
			if _, err := l.Append(context.Background(), []Record{testRecord(100 + k)}); err != nil {
				t.Error(err)
			}
		}
	}()
	var buf bytes.Buffer
	s, err := ExportEvidence(dir, &buf, ExportOptions{Select: func(i uint64, _ []byte) bool { return i%10 == 3 }})
	<-done
	if err != nil || s.Entries < 5 {
		t.Fatalf("export from a live log: %+v, %v", s, err)
	}
	if _, err := VerifyEvidence(bytes.NewReader(buf.Bytes()), int64(buf.Len()), l.PublicKey()); err != nil {
		t.Fatal(err)
	}
}
