package audit

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzFrameReader(f *testing.F) {
	var sum [32]byte
	valid := appendEntry(nil, 7, "ev-7", []byte(`{"a":1}`), 0, 0, &sum)
	valid = appendEntry(valid, 8, "ev-8", nil, 3, 24, &sum)
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add([]byte{0, 0, 0, 60, 1, 2, 3, 4})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data), 0)
		for {
			e, off, err := fr.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errTorn) && !errors.Is(err, errCorrupt) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			// Whatever decodes must re-encode to the same bytes.
			re := appendEntry(nil, e.index, string(e.id), e.leaf, e.blobLen, e.blobOff, &e.blobSum)
			if !bytes.Equal(re, data[off:fr.off]) {
				t.Fatalf("frame at %d does not round-trip", off)
			}
		}
	})
}

func FuzzCheckpointRecords(f *testing.F) {
	f.Add(appendCheckpointRecord(nil, []byte("origin\n1\nAAAA\n\n— origin sig\n")))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, end, err := parseCheckpointRecords(data)
		if end > int64(len(data)) || (err == nil && end != int64(len(data))) {
			t.Fatalf("end %d of %d bytes, err %v", end, len(data), err)
		}
		var re []byte
		for _, r := range recs {
			re = appendCheckpointRecord(re, r.signed)
		}
		if !bytes.Equal(re, data[:end]) {
			t.Fatal("records do not round-trip")
		}
	})
}

// FuzzRecovery appends arbitrary bytes to the last segment of a log that
// crashed after its last checkpoint: Open must never panic, and when it
// succeeds the recovered log must verify after Close.
func FuzzRecovery(f *testing.F) {
	base := f.TempDir()
	l, err := Open(testOptions(base))
	if err != nil {
		f.Fatal(err)
	}
	appendN(f, l, 0, 20)
	l.Close()
	if l, err = Open(testOptions(base)); err != nil {
		f.Fatal(err)
	}
	appendN(f, l, 20, 5)
	crashed := copyDir(f, base)
	l.Close()
	segs, _ := listSegments(crashed)
	lastSeg := logSegName(segs[len(segs)-1])
	tail, _ := os.ReadFile(filepath.Join(crashed, lastSeg))
	var sum [32]byte
	f.Add(uint16(0), []byte{})
	f.Add(uint16(10), []byte("garbage"))
	f.Add(uint16(0), appendEntry(nil, 25, "ev-25", []byte("{}"), 0, 0, &sum))
	f.Add(uint16(len(tail)/3), tail[len(tail)/3:])
	f.Fuzz(func(t *testing.T, cut uint16, data []byte) {
		dir := copyDir(t, crashed)
		path := filepath.Join(dir, lastSeg)
		b := tail[:len(tail)-min(int(cut), len(tail)-segHeaderSize)]
		b = append(bytes.Clone(b), data...)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(testOptions(dir))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open failed without ErrCorrupt: %v", err)
			}
			return
		}
		if l.Size() < 20 {
			t.Fatalf("recovered %d entries, checkpoint signs 20", l.Size())
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(dir); err != nil {
			t.Fatalf("Verify after recovery: %v", err)
		}
	})
}

func FuzzVerifyEvidence(f *testing.F) {
	dir := fixtureDir(f)
	var buf bytes.Buffer
	if _, err := ExportEvidence(dir, &buf, ExportOptions{IDs: []string{"ev-1", "ev-50"}, Blobs: true}); err != nil {
		f.Fatal(err)
	}
	pkg := buf.Bytes()
	f.Add(pkg)
	f.Add(pkg[:len(pkg)/2])
	f.Add(pkg[:1024])
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := VerifyEvidence(bytes.NewReader(data), int64(len(data)), "")
		if err == nil && !bytes.Equal(data, pkg) {
			// Any other accepted package must still be internally proven.
			if len(s.Entries) == 0 || s.TreeSize == 0 {
				t.Fatalf("accepted an empty package: %+v", s)
			}
		}
	})
}

// FuzzParseKeys: trusted-key lists from files never panic, and what parses round-trips.
func FuzzParseKeys(f *testing.F) {
	_, vkey, _ := GenerateKey(DefaultOrigin)
	f.Add(vkey)
	f.Add(vkey + "\n# comment\n\n" + vkey + "\n")
	f.Add("warden/audit-log+00000000+AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := ParseKeys(text)
		if err != nil {
			return
		}
		again, err := ParseKeys(strings.Join(keys, "\n"))
		if err != nil || len(again) != len(keys) {
			t.Fatalf("round trip: %v %v", again, err)
		}
	})
}
