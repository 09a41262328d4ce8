package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func exportT(t testing.TB, dir string, opts ExportOptions) ([]byte, ExportSummary) {
	t.Helper()
	var buf bytes.Buffer
	s, err := ExportEvidence(dir, &buf, opts)
	if err != nil {
		t.Fatalf("ExportEvidence: %v", err)
	}
	if s.Bytes != int64(buf.Len()) {
		t.Fatalf("summary says %d bytes, wrote %d", s.Bytes, buf.Len())
	}
	return buf.Bytes(), s
}

func TestEvidenceRoundTrip(t *testing.T) {
	dir := fixtureDir(t)
	_, vkey, err := readVerifier(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  ExportOptions
		want  []uint64
		first uint64
	}{
		{"select", ExportOptions{Select: func(i uint64, leaf []byte) bool {
			return i >= 30 && i < 100 && i%20 == 0 && bytes.Contains(leaf, []byte("inference"))
		}, Blobs: true}, []uint64{40, 60, 80}, 48},
		{"ids", ExportOptions{IDs: []string{"ev-119", "ev-0", "nope"}}, []uint64{0, 119}, 12},
		{"last only", ExportOptions{IDs: []string{"ev-119"}, Blobs: true}, []uint64{119}, 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, es := exportT(t, dir, tt.opts)
			if es.Entries != len(tt.want) || es.TreeSize != 120 || es.FirstCheckpoint != tt.first {
				t.Fatalf("export summary %+v", es)
			}
			for _, pinned := range []string{"", vkey} {
				s, err := VerifyEvidence(bytes.NewReader(pkg), int64(len(pkg)), pinned)
				if err != nil {
					t.Fatalf("VerifyEvidence(pinned=%q): %v", pinned, err)
				}
				if len(s.Entries) != len(tt.want) || s.TreeSize != 120 || s.PublicKey != vkey {
					t.Fatalf("summary %+v", s)
				}
				for k, e := range s.Entries {
					rec := testRecord(int(tt.want[k]))
					if e.Index != tt.want[k] || e.ID != rec.ID || !bytes.Equal(e.Leaf, rec.Leaf) {
						t.Fatalf("entry %d = %d %q", k, e.Index, e.ID)
					}
					if tt.opts.Blobs && !bytes.Equal(e.Blob, rec.Blob) {
						t.Fatalf("entry %d blob %d bytes, want %d", e.Index, len(e.Blob), len(rec.Blob))
					}
				}
			}
		})
	}
	if _, err := ExportEvidence(dir, &bytes.Buffer{}, ExportOptions{IDs: []string{"none"}}); !errors.Is(err, ErrNothingSelected) {
		t.Fatalf("empty selection: %v", err)
	}
}

func TestEvidenceWrongPinnedKey(t *testing.T) {
	dir := fixtureDir(t)
	pkg, _ := exportT(t, dir, ExportOptions{IDs: []string{"ev-3"}})
	other := t.TempDir()
	openT(t, testOptions(other)).Close()
	_, otherKey, _ := readVerifier(other)
	if _, err := VerifyEvidence(bytes.NewReader(pkg), int64(len(pkg)), otherKey); err == nil {
		t.Fatal("verified with a different pinned key")
	}
	// A package re-signed with another key fails against the pinned key
	// even though it is internally consistent.
	for _, name := range []string{keyFileName, pubFileName} {
		b, _ := os.ReadFile(filepath.Join(other, name))
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	// The checkpoints are signed by the original key, so export with the
	// swapped key refuses them.
	if _, err := ExportEvidence(dir, &bytes.Buffer{}, ExportOptions{IDs: []string{"ev-3"}}); err == nil {
		t.Fatal("export with a key that did not sign the checkpoints succeeded")
	}
}

func TestEvidenceTampering(t *testing.T) {
	dir := fixtureDir(t)
	pkg, _ := exportT(t, dir, ExportOptions{Select: func(i uint64, _ []byte) bool { return i%25 == 7 }, Blobs: true})
	if _, err := VerifyEvidence(bytes.NewReader(pkg), int64(len(pkg)), ""); err != nil {
		t.Fatal(err)
	}
	stride := max(1, len(pkg)/3000)
	n := 0
	for pos := 0; pos < len(pkg); pos += stride {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(pkg)
			bad[pos] ^= mask
			if _, err := VerifyEvidence(bytes.NewReader(bad), int64(len(bad)), ""); err == nil {
				t.Fatalf("package with byte %d ^ %#x verified", pos, mask)
			}
			n++
		}
	}
	for _, bad := range [][]byte{pkg[:len(pkg)-1], pkg[:len(pkg)-1024], append(bytes.Clone(pkg), 0), nil} {
		if _, err := VerifyEvidence(bytes.NewReader(bad), int64(len(bad)), ""); err == nil {
			t.Fatalf("package of %d bytes (from %d) verified", len(bad), len(pkg))
		}
	}
	t.Logf("%d altered packages rejected (%d bytes, stride %d)", n, len(pkg), stride)
}

func TestEvidenceErrorsAreDescriptive(t *testing.T) {
	dir := fixtureDir(t)
	pkg, _ := exportT(t, dir, ExportOptions{IDs: []string{"ev-5"}})
	k := bytes.Index(pkg, []byte(`"id":"ev-5","leaf"`))
	bad := bytes.Clone(pkg)
	bad[k+9] = '6'
	_, err := VerifyEvidence(bytes.NewReader(bad), int64(len(bad)), "")
	var ee *EvidenceError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), evEntries) {
		t.Fatalf("error %v does not name %s", err, evEntries)
	}
}

// TestEvidenceNonCanonicalSignature flips, in every signature of a package, the unused low bits
// of the last base64 character: lenient decoding would still verify, so it must be refused.
func TestEvidenceNonCanonicalSignature(t *testing.T) {
	dir := fixtureDir(t)
	pkg, _ := exportT(t, dir, ExportOptions{IDs: []string{"ev-3"}})
	tried := 0
	for i := 0; i+2 < len(pkg); i++ {
		// A signature line ends "…<c>=\n" or "…<c>==\n" in the tar member; find final data chars.
		if pkg[i+1] != '=' || (pkg[i+2] != '\n' && pkg[i+2] != '=') {
			continue
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		v := strings.IndexByte(alphabet, pkg[i])
		if v < 0 {
			continue
		}
		for _, low := range []int{1, 2, 3} {
			w := v ^ low
			bad := bytes.Clone(pkg)
			bad[i] = alphabet[w]
			if _, err := VerifyEvidence(bytes.NewReader(bad), int64(len(bad)), ""); err == nil {
				t.Fatalf("non-canonical base64 at byte %d (%q → %q) verified", i, pkg[i], alphabet[w])
			}
			tried++
		}
	}
	if tried == 0 {
		t.Fatal("no base64 signature ends found in the package")
	}
}
