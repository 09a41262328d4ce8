package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir)
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	l := openT(t, o)

	const workers, calls, per = 16, 8, 10
	var mu sync.Mutex
	got := map[string]uint64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				base := (w*calls + c) * per
				recs := make([]Record, per)
				for k := range recs {
					recs[k] = testRecord(base + k)
				}
				idx, err := l.Append(context.Background(), recs)
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				for k, i := range idx {
					got[recs[k].ID] = i
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const n = workers * calls * per
	if l.Size() != n || len(got) != n {
		t.Fatalf("size %d, ids %d, want %d", l.Size(), len(got), n)
	}
	leaves := make([][]byte, n)
	seen := map[uint64]bool{}
	for id, i := range got {
		if seen[i] {
			t.Fatalf("index %d returned twice", i)
		}
		seen[i] = true
		var src int
		fmt.Sscanf(id, "ev-%d", &src)
		want := testRecord(src)
		leaf, err := l.Leaf(i)
		if err != nil || !bytes.Equal(leaf, want.Leaf) {
			t.Fatalf("Leaf(%d) = %q, %v; want %q", i, leaf, err, want.Leaf)
		}
		blob, err := l.Blob(i)
		if err != nil || !bytes.Equal(blob, want.Blob) {
			t.Fatalf("Blob(%d) = %d bytes, %v; want %d", i, len(blob), err, len(want.Blob))
		}
		if j, ok := l.Lookup(id); !ok || j != i {
			t.Fatalf("Lookup(%s) = %d, %v; want %d", id, j, ok, i)
		}
		leaves[i] = leaf
	}
	signed, err := l.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	cp := parseCP(t, signed, l.PublicKey())
	if cp.size != n || !bytes.Equal(cp.root[:], rootOf(leaves)) {
		t.Fatalf("checkpoint size %d root %x; want %d %x", cp.size, cp.root, n, rootOf(leaves))
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 5 {
		t.Fatalf("gathered %d metric families, %v", len(mfs), err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "warden_audit_appended_entries_total" && mf.GetMetric()[0].GetCounter().GetValue() != n {
			t.Errorf("appended metric %v, want %d", mf.GetMetric()[0].GetCounter().GetValue(), n)
		}
	}

	// Idempotent re-append: existing ids, duplicates within a call, and a new one.
	recs := []Record{testRecord(5), testRecord(n + 1), testRecord(5), testRecord(n + 1), testRecord(77)}
	idx, err := l.Append(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{got["ev-5"], n, got["ev-5"], n, got["ev-77"]}
	if fmt.Sprint(idx) != fmt.Sprint(want) {
		t.Fatalf("re-append indexes %v, want %v", idx, want)
	}
	if l.Size() != n+1 {
		t.Fatalf("size after re-append %d, want %d", l.Size(), n+1)
	}
	// Concurrent calls with the same new id get the same index.
	var idxs [8]uint64
	for k := range idxs {
		wg.Go(func() {
			i, err := l.Append(context.Background(), []Record{testRecord(5000)})
			if err != nil {
				t.Error(err)
				return
			}
			idxs[k] = i[0]
		})
	}
	wg.Wait()
	for _, i := range idxs {
		if i != n+1 {
			t.Fatalf("concurrent duplicate appends got %v", idxs)
		}
	}
}

func TestAppendInvalid(t *testing.T) {
	l := openT(t, testOptions(t.TempDir()))
	for _, recs := range [][]Record{
		{{ID: "", Leaf: []byte("x")}},
		{{ID: "ok", Leaf: []byte("x")}, {ID: string(make([]byte, MaxIDLen+1))}},
		{{ID: "big", Leaf: make([]byte, MaxLeafSize+1)}},
	} {
		if _, err := l.Append(context.Background(), recs); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Append(%d records) error %v, want ErrInvalidRecord", len(recs), err)
		}
	}
	if l.Size() != 0 {
		t.Fatalf("invalid calls appended %d entries", l.Size())
	}
}

func TestReopenAndRead(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	appendN(t, l, 0, 150)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(context.Background(), []Record{testRecord(1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := Open(testOptions(dir)); err != nil {
		t.Fatalf("reopen: %v", err)
	} else {
		// The first reopen holds the lock; a second must fail.
		if _, err := Open(testOptions(dir)); !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open: %v, want ErrLocked", err)
		}
	}
}

func TestReadOrder(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	for k := range 12 {
		appendN(t, l, k*10, 10)
	}
	l.Close()
	l = openT(t, testOptions(dir))
	if l.Size() != 120 || len(l.segs) < 3 {
		t.Fatalf("reopened size %d segments %d", l.Size(), len(l.segs))
	}
	if i, ok := l.Lookup("ev-64"); !ok || i != 64 {
		t.Fatalf("Lookup after reopen = %d, %v", i, ok)
	}
	appendN(t, l, 120, 30)
	for _, from := range []uint64{0, 1, 63, 149, 150} {
		next := from
		err := l.Read(from, func(i uint64, id string, leaf, blob []byte) error {
			want := testRecord(int(i))
			if i != next || id != want.ID || !bytes.Equal(leaf, want.Leaf) || !bytes.Equal(blob, want.Blob) {
				return fmt.Errorf("entry %d (want %d) id %q", i, next, id)
			}
			next++
			return nil
		})
		if err != nil || next != 150 {
			t.Fatalf("Read(%d): %v, ended at %d", from, err, next)
		}
	}
	// ReadLeaves: the same entries without their blobs.
	next := uint64(63)
	err := l.ReadLeaves(next, func(i uint64, id string, leaf []byte) error {
		want := testRecord(int(i))
		if i != next || id != want.ID || !bytes.Equal(leaf, want.Leaf) {
			return fmt.Errorf("entry %d (want %d) id %q", i, next, id)
		}
		next++
		return nil
	})
	if err != nil || next != 150 {
		t.Fatalf("ReadLeaves(63): %v, ended at %d", err, next)
	}
	stop := errors.New("stop")
	if err := l.Read(0, func(uint64, string, []byte, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Read callback error not returned: %v", err)
	}
}

func TestProofsVerifyIndependently(t *testing.T) {
	l := openT(t, testOptions(t.TempDir()))
	var sizes []uint64
	for k := range 7 {
		appendN(t, l, k*13, 13)
		if err := l.requestCheckpoint(); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, l.Size())
	}
	signed, _ := l.Checkpoint()
	cp := parseCP(t, signed, l.PublicKey())
	for i := range cp.size {
		p, err := l.InclusionProof(i)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := l.Leaf(i)
		lh := rfc6962.DefaultHasher.HashLeaf(leaf)
		if p.TreeSize != cp.size || !bytes.Equal(p.LeafHash, lh) {
			t.Fatalf("proof %d: size %d leaf hash %x", i, p.TreeSize, p.LeafHash)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.size, lh, p.Hashes, cp.root[:]); err != nil {
			t.Fatalf("inclusion %d: %v", i, err)
		}
	}
	leaves := make([][]byte, cp.size)
	for i := range leaves {
		leaves[i], _ = l.Leaf(uint64(i))
	}
	for _, a := range sizes {
		for _, b := range sizes {
			if a > b {
				continue
			}
			hs, err := l.ConsistencyProof(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a, b, hs, rootOf(leaves[:a]), rootOf(leaves[:b])); err != nil {
				t.Fatalf("consistency %d..%d: %v", a, b, err)
			}
		}
	}
	// A proof for an entry not yet checkpointed makes a new checkpoint.
	appendN(t, l, 1000, 3)
	p, err := l.InclusionProof(l.Size() - 1)
	if err != nil || p.TreeSize != l.Size() {
		t.Fatalf("proof of fresh entry: %v, tree size %d", err, p.TreeSize)
	}
	if _, err := l.InclusionProof(l.Size()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("proof beyond size: %v", err)
	}
}

// crashCopy appends entries after the last checkpoint and returns a copy of
// the directory as a crash would leave it (fsynced, no final checkpoint).
func crashCopy(t *testing.T) (dir string, signed uint64) {
	t.Helper()
	src := t.TempDir()
	l := openT(t, testOptions(src))
	appendN(t, l, 0, 40)
	l.Close()
	l = openT(t, testOptions(src))
	appendN(t, l, 40, 10)
	return copyDir(t, src), 40
}

func lastSegment(t *testing.T, dir string) string {
	firsts, err := listSegments(dir)
	if err != nil || len(firsts) == 0 {
		t.Fatal(err)
	}
	return filepath.Join(dir, logSegName(firsts[len(firsts)-1]))
}

func TestTornTailRecovery(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   uint64
	}{
		{"intact", func(*testing.T, string) {}, 50},
		{"garbage appended", func(t *testing.T, dir string) {
			appendBytes(t, lastSegment(t, dir), []byte("\x00\x00\x01\x00garbage after the last entry"))
		}, 50},
		{"half an entry", func(t *testing.T, dir string) {
			seg := lastSegment(t, dir)
			offs, end := frameOffsets(t, seg)
			last := offs[len(offs)-1]
			os.Truncate(seg, last+(end-last)/2)
		}, 49},
		{"frame header only", func(t *testing.T, dir string) {
			seg := lastSegment(t, dir)
			offs, _ := frameOffsets(t, seg)
			os.Truncate(seg, offs[len(offs)-1]+5)
		}, 49},
		{"last blob missing", func(t *testing.T, dir string) {
			seg := lastSegment(t, dir)
			blob := seg[:len(seg)-len(".log")] + ".blob"
			st, _ := os.Stat(blob)
			os.Truncate(blob, st.Size()-10)
		}, 49},
		{"hash file torn", func(t *testing.T, dir string) {
			p := filepath.Join(dir, hashFileName)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-40)
		}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, signed := crashCopy(t)
			tt.damage(t, dir)
			l := openT(t, testOptions(dir))
			if l.Size() != tt.want {
				t.Fatalf("recovered %d entries, want %d", l.Size(), tt.want)
			}
			for i := range l.Size() {
				leaf, err := l.Leaf(i)
				if err != nil || !bytes.Equal(leaf, testRecord(int(i)).Leaf) {
					t.Fatalf("entry %d after recovery: %v", i, err)
				}
			}
			// Appending continues, everything is provable, and Verify passes after Close.
			appendN(t, l, 100, 5)
			for _, i := range []uint64{0, signed - 1, tt.want - 1, l.Size() - 1} {
				p, err := l.InclusionProof(i)
				if err != nil {
					t.Fatal(err)
				}
				cp := parseCP(t, []byte(p.Checkpoint), l.PublicKey())
				if cp.size <= i || cp.size != p.TreeSize {
					t.Fatalf("proof of %d against checkpoint size %d (proof says %d)", i, cp.size, p.TreeSize)
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.size, p.LeafHash, p.Hashes, cp.root[:]); err != nil {
					t.Fatalf("inclusion %d after recovery: %v", i, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err := Verify(dir); err != nil || s.Entries != tt.want+5 {
				t.Fatalf("Verify after recovery: %+v, %v", s, err)
			}
		})
	}
}

func TestOpenRefusesLosingSignedEntries(t *testing.T) {
	dir, _ := crashCopy(t)
	seg := lastSegment(t, dir)
	offs, _ := frameOffsets(t, seg)
	// Cut into entries that the checkpoint at 40 signs.
	first, _ := listSegments(dir)
	lastFirst := first[len(first)-1]
	cut := 39 - int64(lastFirst)
	if cut < 0 {
		t.Fatalf("fixture layout changed: the last segment starts at %d, after entry 39; update the test", lastFirst)
	}
	os.Truncate(seg, offs[cut]+3)
	if _, err := Open(testOptions(dir)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a log missing signed entries: %v, want ErrCorrupt", err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestPruneBlobs(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	for k := range 10 {
		appendN(t, l, k*20, 20)
	}
	if len(l.segs) < 4 {
		t.Fatalf("only %d segments", len(l.segs))
	}
	cut := l.segs[2].first
	if err := l.PruneBlobs(cut); err != nil {
		t.Fatal(err)
	}
	for i := range l.Size() {
		b, err := l.Blob(i)
		want := testRecord(int(i)).Blob
		switch {
		case len(want) == 0:
			if b != nil || err != nil {
				t.Fatalf("Blob(%d) of an entry without blob: %d bytes, %v", i, len(b), err)
			}
		case i < cut:
			if !errors.Is(err, ErrBlobPruned) {
				t.Fatalf("Blob(%d) below cut: %v", i, err)
			}
		default:
			if err != nil || !bytes.Equal(b, want) {
				t.Fatalf("Blob(%d) above cut: %v", i, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, blobSegName(0))); !os.IsNotExist(err) {
		t.Fatalf("blob segment 0 still present: %v", err)
	}
	l.Close()
	s, err := Verify(dir)
	if err != nil || s.PrunedBlobSegments != 2 {
		t.Fatalf("Verify after prune: %+v, %v", s, err)
	}
	l = openT(t, testOptions(dir))
	if _, err := l.Blob(0); err != nil && !errors.Is(err, ErrBlobPruned) {
		t.Fatalf("Blob after reopen: %v", err)
	}
	if b, err := l.Blob(cut + 1); err != nil || !bytes.Equal(b, testRecord(int(cut)+1).Blob) {
		t.Fatalf("Blob after reopen: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{},
		{Dir: t.TempDir(), Origin: "has space"},
		{Dir: t.TempDir(), SegmentSize: 10},
		{Dir: t.TempDir(), CheckpointInterval: -1},
	} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	l.Close()
	o := testOptions(dir)
	o.Origin = "other/origin"
	if _, err := Open(o); err == nil {
		t.Error("Open with a different origin than the key succeeded")
	}
	st, err := os.Stat(filepath.Join(dir, keyFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", st.Mode(), err)
	}
}

func TestFailedBatchIsInvisible(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	appendN(t, l, 0, 10)
	// Break the hash file under the writer: the next batch fails after its
	// entries were written, and the rollback cannot complete either.
	l.hashes.Close()
	recs := []Record{testRecord(10), testRecord(11), testRecord(12)}
	if _, err := l.Append(context.Background(), recs); err == nil {
		t.Fatal("Append succeeded with a broken hash file")
	}
	if l.Size() != 10 {
		t.Fatalf("size %d after failed batch, want 10", l.Size())
	}
	if _, ok := l.Lookup("ev-11"); ok {
		t.Fatal("id of a failed batch is visible")
	}
	if _, err := l.Append(context.Background(), []Record{testRecord(20)}); err == nil {
		t.Fatal("Append succeeded after a failed rollback")
	}
	l.Close()
	l = openT(t, testOptions(dir))
	if l.Size() != 10 {
		t.Fatalf("reopened size %d, want 10", l.Size())
	}
	appendN(t, l, 10, 5)
	l.Close()
	if s, err := Verify(dir); err != nil || s.Entries != 15 {
		t.Fatalf("Verify: %+v, %v", s, err)
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	l := openT(t, testOptions(t.TempDir()))
	appendN(t, l, 0, 10)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for k := range 25 {
				appendN(t, l, 1000*(w+1)+k*4, 4)
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				n := l.Size()
				i := n / 2
				if _, err := l.Leaf(i); err != nil {
					t.Error(err)
				}
				if _, err := l.InclusionProof(i); err != nil {
					t.Error(err)
				}
				var seen uint64
				if err := l.Read(i, func(uint64, string, []byte, []byte) error { seen++; return nil }); err != nil || seen < n-i {
					t.Errorf("Read from %d: %v, %d entries, size was %d", i, err, seen, n)
				}
				l.Lookup("ev-3")
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	for l.Size() < 410 {
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()
}

func TestFailedFsyncIsFatalAndInvisible(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		t.Run(fmt.Sprintf("rotate=%v", rotate), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir)
			l := openT(t, o)
			appendN(t, l, 0, 20)
			segs := len(l.segs)
			if rotate {
				// Fill the active segment so that the failing batch starts a new one.
				for l.segs[len(l.segs)-1].pendLog < o.SegmentSize {
					appendN(t, l, 1000+int(l.Size()), 5)
				}
				segs = len(l.segs)
			}
			size := l.Size()
			eio := errors.New("injected EIO")
			l.fsync = func(*os.File) error { return eio }
			if _, err := l.Append(context.Background(), []Record{testRecord(500), testRecord(501)}); !errors.Is(err, eio) || !errors.Is(err, ErrUnusable) {
				t.Fatalf("Append with failing fsync: %v", err)
			}
			if _, err := l.Append(context.Background(), []Record{testRecord(502)}); !errors.Is(err, ErrUnusable) {
				t.Fatal("Append after a failed fsync succeeded")
			}
			// The failing batch may have started a segment: it stays, empty.
			if l.Size() != size || len(l.segs) > segs+1 || l.segs[len(l.segs)-1].end() != size {
				t.Fatalf("size %d segments %d after failure, want %d %d", l.Size(), len(l.segs), size, segs)
			}
			if err := l.Close(); !errors.Is(err, eio) {
				t.Fatalf("Close after a failed fsync: %v, want the fsync error", err)
			}
			l = openT(t, o)
			if l.Size() != size {
				t.Fatalf("reopened size %d, want %d", l.Size(), size)
			}
			if _, ok := l.Lookup("ev-500"); ok {
				t.Fatal("entry of the failed batch recovered")
			}
			appendN(t, l, 600, 3)
			l.Close()
			if _, err := Verify(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}
