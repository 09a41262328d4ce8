package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

func testOptions(dir string) Options {
	o := DefaultOptions(dir)
	o.SegmentSize = 8 << 10
	o.CheckpointInterval = time.Hour
	return o
}

func openT(t testing.TB, o Options) *Log {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testLeaf(i int) []byte {
	return fmt.Appendf(nil, `{"id":"ev-%d","type":"inference","input_sha256":"%x"}`, i, sha256.Sum256([]byte{byte(i)}))
}

func testRecord(i int) Record {
	r := Record{ID: fmt.Sprintf("ev-%d", i), Leaf: testLeaf(i)}
	if i%3 != 0 {
		r.Blob = bytes.Repeat([]byte{byte('a' + i%26)}, 50+i%200)
	}
	return r
}

func appendN(t testing.TB, l *Log, from, n int) []uint64 {
	t.Helper()
	recs := make([]Record, n)
	for k := range recs {
		recs[k] = testRecord(from + k)
	}
	idx, err := l.Append(context.Background(), recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return idx
}

// rootOf is an independent RFC 6962 root computation (recursive definition).
func rootOf(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	if len(leaves) == 0 {
		return h.EmptyRoot()
	}
	if len(leaves) == 1 {
		return h.HashLeaf(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return h.HashChildren(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

func parseCP(t testing.TB, signed []byte, vkey string) checkpoint {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := openCheckpoint(signed, v)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() == lockFileName {
			continue
		}
		in, err := os.Open(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(filepath.Join(dst, de.Name()), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

// frameOffsets lists the frame offsets of a segment file and the frame end.
func frameOffsets(t testing.TB, path string) ([]int64, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr := newFrameReader(io.NewSectionReader(f, segHeaderSize, 1<<40), segHeaderSize)
	var offs []int64
	for {
		_, off, err := fr.next()
		if errors.Is(err, io.EOF) {
			return offs, fr.off
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		offs = append(offs, off)
	}
}
