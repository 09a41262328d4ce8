package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// secretBlob is a blob whose bytes are unique to entry i, so a scan of the directory can
// tell which entries' text is still on disk.
func secretBlob(i int) []byte { return fmt.Appendf(nil, `{"input":"card 4111-1111-%08d"}`, i) }

// dirHits returns the entries whose secret blob occurs anywhere in the files under dir.
func dirHits(t *testing.T, dir string, n int) map[int]bool {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	hits := map[int]bool{}
	for i := range n {
		if bytes.Contains(all, secretBlob(i)) {
			hits[i] = true
		}
	}
	return hits
}

func TestEraseBlobs(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	l := openT(t, o)
	const n = 300
	for k := 0; k < n; k += 30 {
		recs := make([]Record, 30)
		for j := range recs {
			recs[j] = Record{ID: fmt.Sprintf("ev-%d", k+j), Leaf: testLeaf(k + j), Blob: secretBlob(k + j)}
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.segs) < 3 {
		t.Fatalf("only %d segments", len(l.segs))
	}
	if got := len(dirHits(t, dir, n)); got != n {
		t.Fatalf("before erasure %d of %d blobs on disk", got, n)
	}
	active := l.segs[len(l.segs)-1].first
	// Erase one entry in an old segment and two in the active one (plus a duplicate, an
	// index past the end, and an already-erased one on the second call).
	targets := []uint64{5, active, n - 1, active, n + 10}
	erased, err := l.EraseBlobs(targets)
	if err != nil || erased != 3 {
		t.Fatalf("EraseBlobs = %d, %v; want 3", erased, err)
	}
	if erased, err := l.EraseBlobs([]uint64{5}); err != nil || erased != 0 {
		t.Fatalf("second EraseBlobs = %d, %v; want 0", erased, err)
	}
	hits := dirHits(t, dir, n)
	for _, i := range []int{5, int(active), n - 1} {
		if hits[i] {
			t.Errorf("entry %d: erased text still on disk", i)
		}
		if b, err := l.Blob(uint64(i)); err != nil || b != nil {
			t.Errorf("Blob(%d) after erasure = %q, %v", i, b, err)
		}
	}
	if len(hits) != n-3 {
		t.Errorf("%d blobs on disk after erasing 3 of %d", len(hits), n)
	}
	// Read reports no blob for erased entries and the others unchanged.
	err = l.Read(0, func(i uint64, _ string, _, blob []byte) error {
		want := secretBlob(int(i))
		if i == 5 || i == active || i == n-1 {
			want = nil
		}
		if !bytes.Equal(blob, want) {
			return fmt.Errorf("Read(%d) blob %q, want %q", i, blob, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Retention: everything below cut, in deleted segments and in the active one, goes.
	cut := active + 3
	if err := l.PruneBlobs(cut); err != nil {
		t.Fatal(err)
	}
	hits = dirHits(t, dir, n)
	for i := range n {
		want := uint64(i) >= cut && i != n-1
		if hits[i] != want {
			t.Errorf("after PruneBlobs(%d): entry %d on disk = %v, want %v", cut, i, hits[i], want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Verify(dir)
	if err != nil {
		t.Fatalf("Verify after erasure: %v", err)
	}
	if s.Entries != n || s.ErasedBlobs != cut-active+1 {
		t.Fatalf("Verify summary %+v; want %d entries, %d erased blobs", s, n, cut-active+1)
	}
	// Reopening (recovery reads the active segment's blobs) accepts erased frames.
	l = openT(t, o)
	if b, err := l.Blob(cut); err != nil || !bytes.Equal(b, secretBlob(int(cut))) {
		t.Fatalf("Blob(%d) after reopen = %q, %v", cut, b, err)
	}
	if b, err := l.Blob(active); err != nil || b != nil {
		t.Fatalf("Blob(%d) after reopen = %q, %v", active, b, err)
	}
}

func TestVerifyRejectsMarkedButUnwipedBlob(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	if _, err := l.Append(context.Background(), []Record{{ID: "a", Leaf: testLeaf(1), Blob: secretBlob(1)}}); err != nil {
		t.Fatal(err)
	}
	e, err := l.readEntry(0)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Set the erased mark but leave the text: verification must not call that erased.
	p := filepath.Join(dir, blobSegName(0))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[e.blobOff+8:], erasedBlobFrame(&e)[8:16])
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); err == nil {
		t.Fatal("Verify accepted a blob marked erased whose text is still there")
	}
}

// FuzzCheckBlobFrame: whatever bytes stand where an entry's blob should be, checkBlobFrame
// returns data only when it is exactly the blob the entry names (length, checksum, index,
// SHA-256) and reports an erased frame only when it carries the mark for that entry.
func FuzzCheckBlobFrame(f *testing.F) {
	blob := []byte(`{"input":"hello"}`)
	e := entry{index: 7, blobLen: uint32(len(blob)), blobSum: sha256.Sum256(blob)}
	good := appendBlobFrame(nil, blob)
	sealBlob(good, 7)
	f.Add(good)
	f.Add(erasedBlobFrame(&e))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		data, err := checkBlobFrame(frame, &e)
		if err != nil {
			return
		}
		if data == nil {
			if len(frame) != len(good) || binary.BigEndian.Uint64(frame[8:]) != e.index|blobErased {
				t.Fatalf("frame %x accepted as erased", frame)
			}
			return
		}
		if !bytes.Equal(data, blob) {
			t.Fatalf("frame %x accepted with data %q", frame, data)
		}
	})
}
