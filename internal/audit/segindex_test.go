package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestSegmentIndexes: Close leaves an index beside every sealed segment; a reopened log built
// from them finds every record, reads every entry and keeps appending; an index that does not
// match its segment (corrupt, stale, for a segment cut shorter) is ignored and rewritten.
func TestSegmentIndexes(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	l := openT(t, o)
	for i := 0; i < 300; i += 20 {
		appendN(t, l, i, 20)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	firsts, err := listSegments(dir)
	if err != nil || len(firsts) < 4 {
		t.Fatalf("want several segments, got %v %v", firsts, err)
	}
	for _, f := range firsts[:len(firsts)-1] {
		if _, err := os.Stat(filepath.Join(dir, segIndexName(f))); err != nil {
			t.Fatalf("sealed segment %d has no index: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, segIndexName(firsts[len(firsts)-1]))); err == nil {
		t.Fatal("the active segment has an index")
	}

	check := func(l *Log, n int) {
		t.Helper()
		if l.Size() != uint64(n) {
			t.Fatalf("size %d, want %d", l.Size(), n)
		}
		for i := range n {
			idx, ok := l.Lookup(fmt.Sprintf("ev-%d", i))
			if !ok || idx != uint64(i) {
				t.Fatalf("Lookup(ev-%d) = %d %v", i, idx, ok)
			}
			leaf, err := l.Leaf(uint64(i))
			if err != nil || !bytes.Equal(leaf, testLeaf(i)) {
				t.Fatalf("Leaf(%d): %v", i, err)
			}
		}
	}
	l = openT(t, o)
	for _, s := range l.segs[:len(l.segs)-1] {
		if !s.indexed {
			t.Fatalf("segment %d was read instead of loaded from its index", s.first)
		}
	}
	check(l, 300)
	for i := 300; i < 500; i += 20 {
		appendN(t, l, i, 20)
	}
	check(l, 500)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); err != nil {
		t.Fatal(err)
	}

	// Indexes that do not match: a flipped byte, and one taken from another segment.
	firsts, _ = listSegments(dir)
	bad1 := filepath.Join(dir, segIndexName(firsts[1]))
	b, _ := os.ReadFile(bad1)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(bad1, b, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := os.ReadFile(filepath.Join(dir, segIndexName(firsts[3])))
	if err := os.WriteFile(filepath.Join(dir, segIndexName(firsts[2])), other, 0o600); err != nil {
		t.Fatal(err)
	}
	l = openT(t, o)
	for _, s := range l.segs[:len(l.segs)-1] {
		if !s.indexed {
			t.Fatalf("segment %d not indexed after reopening", s.first)
		}
	}
	check(l, 500)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range firsts[1:3] {
		b, err := os.ReadFile(filepath.Join(dir, segIndexName(f)))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := parseSegIndex(b); err != nil || d.first != f {
			t.Fatalf("index of segment %d not rewritten: %v", f, err)
		}
	}
}

func FuzzParseSegIndex(f *testing.F) {
	d := &segIndexData{first: 7, logSize: 100, blobSize: 16, offsets: []uint32{16, 60}, ids: [][]byte{[]byte("a"), []byte("bc")}}
	f.Add(d.marshal())
	f.Add([]byte(segIndexMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseSegIndex(b)
		if err != nil {
			return
		}
		if len(d.ids) != len(d.offsets) || !bytes.Equal(d.marshal(), b) {
			t.Fatalf("accepted index does not re-encode to its input")
		}
	})
}
