package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// fixtureDir builds a closed log of 120 entries in several segments with a
// checkpoint after every batch of 12.
func fixtureDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	l := openT(t, testOptions(dir))
	for k := range 10 {
		appendN(t, l, k*12, 12)
		if err := l.requestCheckpoint(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

type segLayout struct {
	first   uint64
	offs    []int64 // frame offsets
	end     int64
	blobOff []int64 // -1 when the entry has no blob
	blobEnd []int64
}

func layout(t testing.TB, dir string) []segLayout {
	t.Helper()
	firsts, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []segLayout
	for _, first := range firsts {
		path := filepath.Join(dir, logSegName(first))
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s := segLayout{first: first}
		fr := newFrameReader(io.NewSectionReader(f, segHeaderSize, 1<<40), segHeaderSize)
		for {
			e, off, err := fr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			s.offs = append(s.offs, off)
			if e.blobLen > 0 {
				s.blobOff = append(s.blobOff, int64(e.blobOff))
				s.blobEnd = append(s.blobEnd, int64(e.blobOff)+blobFrameHeader+int64(e.blobLen))
			} else {
				s.blobOff = append(s.blobOff, -1)
				s.blobEnd = append(s.blobEnd, -1)
			}
		}
		s.end = fr.off
		f.Close()
		out = append(out, s)
	}
	return out
}

// entryAtLogPos returns the entry whose bytes include pos in the segment.
func (s segLayout) entryAtLogPos(pos int64) uint64 {
	if pos < segHeaderSize {
		return s.first
	}
	k := sort.Search(len(s.offs), func(k int) bool { return s.offs[k] > pos }) - 1
	return s.first + uint64(k)
}

func (s segLayout) entryAtBlobPos(pos int64) uint64 {
	if pos < segHeaderSize {
		return s.first
	}
	for k := range s.blobOff {
		if s.blobOff[k] <= pos && pos < s.blobEnd[k] {
			return s.first + uint64(k)
		}
	}
	panic(fmt.Sprintf("blob position %d not in any frame", pos))
}

// entryOfStoredHash returns the entry whose append wrote stored hash k.
func entryOfStoredHash(k int64) uint64 {
	n := uint64(0)
	for storedHashes(n+1) <= k {
		n++
	}
	return n
}

func flip(t testing.TB, path string, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= 0x5a
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantVerifyError(t *testing.T, dir string, want uint64) {
	t.Helper()
	_, err := Verify(dir)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("Verify = %v, want a *VerifyError at entry %d", err, want)
	}
	if ve.Index != want {
		t.Fatalf("Verify named entry %d, want %d: %v", ve.Index, want, ve)
	}
}

func TestVerifyIntact(t *testing.T) {
	dir := fixtureDir(t)
	s, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Entries != 120 || s.TreeSize != 120 || s.Checkpoints != 10 || len(s.RootHash) != 32 || s.Blobs != 80 {
		t.Fatalf("summary %+v", s)
	}
	if _, err := VerifyPinned(dir, s.PublicKey); err != nil {
		t.Fatalf("VerifyPinned with the right key: %v", err)
	}
	other := t.TempDir()
	openT(t, testOptions(other)).Close()
	_, otherKey, _ := readVerifier(other)
	var ve *VerifyError
	if _, err := VerifyPinned(dir, otherKey); !errors.As(err, &ve) {
		t.Fatalf("VerifyPinned with another key: %v", err)
	}
}

func TestVerifyFlippedBytes(t *testing.T) {
	base := fixtureDir(t)
	segs := layout(t, base)
	if len(segs) < 3 {
		t.Fatalf("fixture has %d segments", len(segs))
	}
	type tc struct {
		name string
		file string
		pos  int64
		want uint64
	}
	var cases []tc
	// Every 7th byte of the middle segment and of the last one, and
	// specific fields of a few entries of every segment.
	for _, s := range []segLayout{segs[1], segs[len(segs)-1]} {
		for pos := int64(0); pos < s.end; pos += 11 {
			cases = append(cases, tc{"log", logSegName(s.first), pos, s.entryAtLogPos(pos)})
		}
	}
	for _, s := range segs {
		for _, k := range []int{0, len(s.offs) / 2, len(s.offs) - 1} {
			off := s.offs[k]
			for _, d := range []int64{0, 3, 5, 8 + 7, 8 + 9, 8 + 10, 8 + 30} {
				cases = append(cases, tc{"field", logSegName(s.first), off + d, s.first + uint64(k)})
			}
		}
		for _, pos := range []int64{0, 9, 17, 22} {
			cases = append(cases, tc{"header", logSegName(s.first), pos, s.first})
			cases = append(cases, tc{"blob header", blobSegName(s.first), pos, s.first})
		}
		for k, bo := range s.blobOff {
			if bo < 0 || k%4 != 0 {
				continue
			}
			for _, d := range []int64{1, 6, 12, blobFrameHeader + 3} {
				cases = append(cases, tc{"blob", blobSegName(s.first), bo + d, s.first + uint64(k)})
			}
		}
	}
	hashes := storedHashes(120)
	for k := int64(0); k < hashes; k += 5 {
		cases = append(cases, tc{"hash", hashFileName, k*32 + k%32, entryOfStoredHash(k)})
	}
	cpData, err := os.ReadFile(filepath.Join(base, checkpointsName))
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _ := parseCheckpointRecords(cpData)
	for r, rec := range recs {
		prev := uint64(0)
		if r > 0 {
			prev = uint64(r) * 12
		}
		for _, d := range []int64{0, 3, 6, 8, 20, int64(len(rec.signed)) + 4} {
			cases = append(cases, tc{"checkpoint", checkpointsName, rec.off + d, prev})
		}
	}
	cases = append(cases, tc{"latest checkpoint", latestCheckpoint, 3, 108}, tc{"latest checkpoint", latestCheckpoint, 90, 108})

	// One working copy: flip, verify, flip back.
	dir := copyDir(t, base)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s@%d", c.name, c.file, c.pos), func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			flip(t, path, c.pos)
			defer flip(t, path, c.pos)
			wantVerifyError(t, dir, c.want)
		})
	}
	t.Logf("%d flipped positions", len(cases))
	if _, err := Verify(dir); err != nil {
		t.Fatalf("working copy not restored: %v", err)
	}
}

func TestVerifyStructuralDamage(t *testing.T) {
	base := fixtureDir(t)
	segs := layout(t, base)
	mid, last := segs[1], segs[len(segs)-1]
	cut := func(path string, from, to int64) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b[:from:from], b[to:]...)
		os.WriteFile(path, b, 0o600)
	}
	tests := []struct {
		name   string
		damage func(dir string)
		want   uint64
	}{
		{"deleted entry", func(dir string) {
			k := 3
			cut(filepath.Join(dir, logSegName(mid.first)), mid.offs[k], mid.offs[k+1])
		}, mid.first + 3},
		{"deleted first entry of segment", func(dir string) {
			cut(filepath.Join(dir, logSegName(mid.first)), mid.offs[0], mid.offs[1])
		}, mid.first},
		{"swapped entries", func(dir string) {
			p := filepath.Join(dir, logSegName(mid.first))
			b, _ := os.ReadFile(p)
			a, m, e := mid.offs[2], mid.offs[3], mid.offs[4]
			var out []byte
			out = append(out, b[:a]...)
			out = append(out, b[m:e]...)
			out = append(out, b[a:m]...)
			out = append(out, b[e:]...)
			os.WriteFile(p, out, 0o600)
		}, mid.first + 2},
		{"truncated last segment at entry boundary", func(dir string) {
			os.Truncate(filepath.Join(dir, logSegName(last.first)), last.offs[len(last.offs)-2])
		}, last.first + uint64(len(last.offs)) - 2},
		{"truncated last segment mid entry", func(dir string) {
			os.Truncate(filepath.Join(dir, logSegName(last.first)), last.offs[1]+10)
		}, last.first + 1},
		{"truncated middle segment", func(dir string) {
			os.Truncate(filepath.Join(dir, logSegName(mid.first)), mid.offs[4])
		}, mid.first + 4},
		{"removed middle segment", func(dir string) {
			os.Remove(filepath.Join(dir, logSegName(mid.first)))
		}, mid.first},
		{"removed last segment", func(dir string) {
			os.Remove(filepath.Join(dir, logSegName(last.first)))
		}, last.first},
		{"truncated hash file", func(dir string) {
			os.Truncate(filepath.Join(dir, hashFileName), 32*storedHashes(100))
		}, 100},
		{"truncated checkpoint history", func(dir string) {
			p := filepath.Join(dir, checkpointsName)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-5)
		}, 108},
		{"trailing blob data", func(dir string) {
			appendBytes(t, filepath.Join(dir, blobSegName(mid.first)), []byte("x"))
		}, mid.first + uint64(len(mid.offs))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tt.damage(dir)
			wantVerifyError(t, dir, tt.want)
		})
	}
}
