package audit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Evidence package member names (see docs/AUDIT.md).
const (
	evManifest     = "manifest.sha256"
	evManifestSig  = "manifest.sig"
	evPublicKey    = "log.pub"
	evEntries      = "entries.jsonl"
	evConsistency  = "consistency.txt"
	evSigHeader    = "warden-evidence/v1"
	evConsHeader   = "warden/consistency-proof@v1"
	evMaxFileSize  = MaxBlobSize + 1<<20
	evMaxFiles     = 1 << 20
	evMaxTotalSize = 1 << 36
)

var (
	evLeafRe  = regexp.MustCompile(`^entries/([0-9]{20})\.leaf$`)
	evProofRe = regexp.MustCompile(`^entries/([0-9]{20})\.tlog-proof$`)
	evBlobRe  = regexp.MustCompile(`^blobs/([0-9]{20})\.blob$`)
	evCPRe    = regexp.MustCompile(`^checkpoints/([0-9]{20})\.checkpoint$`)
	evTSTRe   = regexp.MustCompile(`^timestamps/([0-9]{20})\.tst$`)
)

// ErrNothingSelected is returned by ExportEvidence when the filter selects
// no entry covered by the latest checkpoint.
var ErrNothingSelected = errors.New("audit: no entry selected")

// ExportOptions select the entries of an evidence package. An entry is
// included if Select returns true for it or its ID is in IDs.
type ExportOptions struct {
	Select func(index uint64, leaf []byte) bool
	IDs    []string
	// Blobs includes the selected entries' blobs (when not pruned).
	Blobs bool
	// Blob, when set, decides what of an entry's stored blob goes into the package (e.g.
	// nothing once its retention has passed): it returns the bytes to include, nil for none.
	Blob func(index uint64, leaf, blob []byte) []byte
	// Signer signs the manifest; nil uses the key in the log directory (log.key). It must be
	// the log's current key.
	Signer Signer
}

// ExportSummary describes a written evidence package.
type ExportSummary struct {
	Entries         int
	Blobs           int
	TreeSize        uint64 // size of the checkpoint the proofs are against
	FirstCheckpoint uint64 // size of the earliest included checkpoint
	Bytes           int64
	// Timestamps lists the sizes of the included checkpoints that carry an RFC 3161 token.
	Timestamps []uint64
}

// EvidenceSummary describes a verified evidence package.
type EvidenceSummary struct {
	Origin    string
	PublicKey string // the key that signed the manifest
	// Pinned is true when the keys came from the verifier, false when they were taken from
	// the package itself (self-asserted).
	Pinned   bool
	TreeSize uint64
	RootHash []byte
	Entries  []EvidenceEntry
	// TimestampTokens is the number of RFC 3161 tokens in the package; Timestamps the ones
	// checked (with EvidenceOptions.Timestamps).
	TimestampTokens int
	Timestamps      []Timestamp
}

// EvidenceEntry is one verified entry of an evidence package.
type EvidenceEntry struct {
	Index      uint64 `json:"index"`
	ID         string `json:"id"`
	Leaf       []byte `json:"-"`
	Blob       []byte `json:"-"`
	LeafSHA256 string `json:"leaf_sha256"`
	BlobSHA256 string `json:"blob_sha256,omitempty"`
}

type evEntryLine struct {
	Index uint64 `json:"index"`
	ID    string `json:"id"`
	Leaf  string `json:"leaf"`
	Proof string `json:"proof"`
	Blob  string `json:"blob,omitempty"`
}

func evName(kind string, i uint64) string {
	switch kind {
	case "leaf":
		return fmt.Sprintf("entries/%020d.leaf", i)
	case "proof":
		return fmt.Sprintf("entries/%020d.tlog-proof", i)
	case "blob":
		return fmt.Sprintf("blobs/%020d.blob", i)
	default:
		return fmt.Sprintf("checkpoints/%020d.checkpoint", i)
	case "tst":
		return "timestamps/" + timestampName(i)
	}
}

// evWriter writes the canonical tar form: USTAR regular files, mode 0644,
// mtime 0, owner 0:0, no directories.
type evWriter struct {
	tw       *tar.Writer
	manifest bytes.Buffer
}

func evHeader(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
}

func (w *evWriter) add(name string, data []byte, listed bool) error {
	if err := w.tw.WriteHeader(evHeader(name, int64(len(data)))); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if listed {
		sum := sha256.Sum256(data)
		fmt.Fprintf(&w.manifest, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ExportEvidence writes an evidence package (a tar file, see docs/AUDIT.md)
// for the entries of the log in dir selected by opts, with inclusion proofs
// against the latest checkpoint. It only reads dir, so it works on a closed
// or a live log; it needs the log's private key to sign the manifest.
func ExportEvidence(dir string, w io.Writer, opts ExportOptions) (ExportSummary, error) {
	var sum ExportSummary
	signer := opts.Signer
	if signer == nil {
		s, err := readSigner(dir)
		if err != nil {
			return sum, fmt.Errorf("audit: export: %w (pass the signing key if it is kept outside the data directory)", err)
		}
		signer = s
	}
	ks, err := readKeySet(dir)
	if err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	if v := ks.verifiers[len(ks.verifiers)-1]; v.KeyHash() != signer.KeyHash() || v.Name() != signer.Name() {
		return sum, fmt.Errorf("audit: export: the signing key is not the log's current key (%s)", ks.current())
	}
	data, err := os.ReadFile(filepath.Join(dir, checkpointsName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	recs, _, perr := parseCheckpointRecords(data)
	if perr != nil && !errors.Is(perr, errTorn) {
		return sum, fmt.Errorf("audit: export: checkpoint history: %w", errors.Join(perr, ErrCorrupt))
	}
	var cps []checkpoint
	for _, r := range recs {
		cp, err := ks.open(r.signed)
		if err != nil {
			return sum, fmt.Errorf("audit: export: %w", errors.Join(err, ErrCorrupt))
		}
		cps = append(cps, cp)
	}
	if len(cps) == 0 || cps[len(cps)-1].size == 0 {
		return sum, ErrNoCheckpoint
	}
	latest := cps[len(cps)-1]
	hf, err := os.Open(filepath.Join(dir, hashFileName))
	if err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	defer hf.Close()
	hr := hashFile{f: hf, limit: storedHashes(latest.size)}

	ids := make(map[string]bool, len(opts.IDs))
	for _, id := range opts.IDs {
		ids[id] = true
	}
	cw := &countWriter{w: w}
	ew := &evWriter{tw: tar.NewWriter(cw)}
	var lines bytes.Buffer
	var first checkpoint
	var lastSel uint64
	selected := false
	firsts, err := listSegments(dir)
	if err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	for _, segFirst := range firsts {
		if segFirst >= latest.size {
			break
		}
		err := exportSegment(dir, segFirst, latest.size, func(e *entry, blobs io.ReaderAt) error {
			if !ids[string(e.id)] && (opts.Select == nil || !opts.Select(e.index, e.leaf)) {
				return nil
			}
			if !selected {
				selected = true
				for _, cp := range cps {
					if cp.size > e.index {
						first = cp
						break
					}
				}
			}
			lastSel = e.index
			stored, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(e.index))})
			if err != nil {
				return err
			}
			if leafHash(e.leaf) != stored[0] {
				return fmt.Errorf("entry %d does not match its stored hash: %w", e.index, ErrCorrupt)
			}
			rp, err := tlog.ProveRecord(int64(latest.size), int64(e.index), hr)
			if err != nil {
				return fmt.Errorf("prove entry %d: %w", e.index, err)
			}
			tp := tproof.TLogProof{Index: e.index, Checkpoint: latest.signed}
			for _, h := range rp {
				tp.Hashes = append(tp.Hashes, [sha256.Size]byte(h))
			}
			line := evEntryLine{Index: e.index, ID: string(e.id), Leaf: evName("leaf", e.index), Proof: evName("proof", e.index)}
			if err := ew.add(line.Leaf, e.leaf, true); err != nil {
				return err
			}
			if err := ew.add(line.Proof, tp.Marshal(), true); err != nil {
				return err
			}
			if opts.Blobs && e.blobLen > 0 && blobs != nil {
				b, err := readBlobAt(blobs, e)
				if err != nil {
					return err
				}
				if opts.Blob != nil && len(b) > 0 {
					b = opts.Blob(e.index, e.leaf, b)
				}
				if len(b) > 0 {
					line.Blob = evName("blob", e.index)
					if err := ew.add(line.Blob, b, true); err != nil {
						return err
					}
					sum.Blobs++
				}
			}
			j, err := json.Marshal(line)
			if err != nil {
				return fmt.Errorf("encode entry line: %w", err)
			}
			lines.Write(j)
			lines.WriteByte('\n')
			sum.Entries++
			return nil
		})
		if err != nil {
			return sum, fmt.Errorf("audit: export: %w", err)
		}
	}
	if !selected {
		return sum, ErrNothingSelected
	}
	// RFC 3161 tokens: the earliest time-stamped checkpoint that covers every selected entry
	// (else the first one) becomes the package's first checkpoint, so its token dates them all.
	tsSizes, tokens, err := readTimestamps(dir)
	if err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	if cp, ok := stampedCheckpoint(cps, tsSizes, lastSel); ok {
		first = cp
	}
	cons, err := proveConsistency(hr, first.size, latest.size)
	if err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	var ct bytes.Buffer
	fmt.Fprintf(&ct, "%s\nold %d\nnew %d\n", evConsHeader, first.size, latest.size)
	for _, h := range cons {
		fmt.Fprintf(&ct, "%s\n", base64.StdEncoding.EncodeToString(h))
	}
	files := []struct {
		name string
		data []byte
	}{
		{evEntries, lines.Bytes()},
		{evName("cp", first.size), first.signed},
		{evName("cp", latest.size), latest.signed},
		{evConsistency, ct.Bytes()},
		{evPublicKey, []byte(ks.text())},
	}
	if first.size == latest.size {
		files = append(files[:1], files[2:]...)
	}
	for _, size := range slices.Compact([]uint64{first.size, latest.size}) {
		if tok, ok := tokens[size]; ok {
			files = append(files, struct {
				name string
				data []byte
			}{evName("tst", size), tok})
			sum.Timestamps = append(sum.Timestamps, size)
		}
	}
	for _, f := range files {
		if err := ew.add(f.name, f.data, true); err != nil {
			return sum, fmt.Errorf("audit: export: %w", err)
		}
	}
	manifest := ew.manifest.Bytes()
	sig, err := note.Sign(&note.Note{Text: manifestNoteText(manifest)}, signer)
	if err != nil {
		return sum, fmt.Errorf("audit: export: sign manifest: %w", err)
	}
	if err := ew.add(evManifest, manifest, false); err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	if err := ew.add(evManifestSig, sig, false); err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	if err := ew.tw.Close(); err != nil {
		return sum, fmt.Errorf("audit: export: %w", err)
	}
	sum.TreeSize, sum.FirstCheckpoint, sum.Bytes = latest.size, first.size, cw.n
	return sum, nil
}

// stampedCheckpoint returns the earliest checkpoint of cps above index that has a time-stamp
// token (sizes: the sizes with one, ascending).
func stampedCheckpoint(cps []checkpoint, sizes []uint64, index uint64) (checkpoint, bool) {
	for _, size := range sizes {
		if size <= index {
			continue
		}
		for _, cp := range cps {
			if cp.size == size {
				return cp, true
			}
		}
	}
	return checkpoint{}, false
}

func manifestNoteText(manifest []byte) string {
	s := sha256.Sum256(manifest)
	return fmt.Sprintf("%s\n%s %s\n", evSigHeader, evManifest, hex.EncodeToString(s[:]))
}

func readSigner(dir string) (note.Signer, error) {
	skey, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		return nil, fmt.Errorf("read log key: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, errors.New("parse log key: invalid signer key")
	}
	return s, nil
}

// exportSegment calls fn for every entry of one segment below limit.
func exportSegment(dir string, first, limit uint64, fn func(e *entry, blobs io.ReaderAt) error) error {
	f, err := os.Open(filepath.Join(dir, logSegName(first)))
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	var hdr [segHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("segment %s header: %w", logSegName(first), err)
	}
	if got, err := parseSegHeader(hdr[:], logMagic); err != nil || got != first {
		return fmt.Errorf("segment %s header: %w", logSegName(first), ErrCorrupt)
	}
	var blobs io.ReaderAt
	if bf, err := openBlobSeg(dir, first); err == nil {
		defer bf.Close()
		blobs = bf
	} else if !errors.Is(err, ErrBlobPruned) {
		return err
	}
	fr := newFrameReader(f, segHeaderSize)
	for next := first; next < limit; next++ {
		e, _, err := fr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %s entry %d: %w", logSegName(first), next, errors.Join(err, ErrCorrupt))
		}
		if e.index != next {
			return fmt.Errorf("segment %s: entry index %d, expected %d: %w", logSegName(first), e.index, next, ErrCorrupt)
		}
		if err := fn(&e, blobs); err != nil {
			return err
		}
	}
	return nil
}

// EvidenceError reports why an evidence package failed verification.
type EvidenceError struct {
	File   string
	Reason string
}

func (e *EvidenceError) Error() string {
	if e.File == "" {
		return "audit: evidence verification failed: " + e.Reason
	}
	return fmt.Sprintf("audit: evidence verification failed: %s: %s", e.File, e.Reason)
}

func evFail(file, format string, args ...any) error {
	return &EvidenceError{File: file, Reason: fmt.Sprintf(format, args...)}
}

// VerifyEvidence verifies an evidence package using nothing but its
// contents and, if pinnedKey is not empty, that note verifier key: the
// canonical archive form, every file's SHA-256 against the manifest, the
// manifest signature, every checkpoint signature, the consistency proof
// between the first and latest checkpoint and every inclusion proof.
func VerifyEvidence(r io.ReaderAt, size int64, pinnedKey string) (EvidenceSummary, error) {
	return VerifyEvidenceWith(r, size, EvidenceOptions{Key: pinnedKey})
}

// EvidenceOptions are the trust anchors of [VerifyEvidenceWith].
type EvidenceOptions struct {
	// Key, if not empty, is the pinned note verifier key(s) of the log.
	Key string
	// Timestamps, when set, checks the package's RFC 3161 tokens against the TSAs the auditor
	// trusts: at least one is required, and each must be over the package's checkpoint of its
	// size (so every entry below that size existed at the token's time).
	Timestamps TimestampVerifier
}

// VerifyEvidenceWith is [VerifyEvidence] against the anchors of o.
func VerifyEvidenceWith(r io.ReaderAt, size int64, o EvidenceOptions) (EvidenceSummary, error) {
	pinnedKey := o.Key
	var sum EvidenceSummary
	if size < 0 || size > evMaxTotalSize {
		return sum, evFail("", "package size %d out of range", size)
	}
	files, order, err := readEvidenceTar(r, size)
	if err != nil {
		return sum, err
	}
	// Public key and manifest signature.
	pkgKeys, err := parseKeySet(string(files[evPublicKey]))
	if err != nil || string(files[evPublicKey]) != pkgKeys.text() {
		return sum, evFail(evPublicKey, "missing or malformed")
	}
	ks := pkgKeys
	if strings.TrimSpace(pinnedKey) != "" {
		if ks, err = parseKeySet(pinnedKey); err != nil {
			return sum, evFail(evPublicKey, "pinned key: %v", err)
		}
		sum.Pinned = true
	}
	// The manifest is signed with the log's current key: the newest one the package lists.
	v := pkgKeys.verifiers[len(pkgKeys.verifiers)-1]
	vkey := pkgKeys.current()
	if sum.Pinned && !slices.Contains(ks.keys, vkey) {
		return sum, evFail(evPublicKey, "the package is signed by %s, which is not a pinned key (wrong key)", vkey)
	}
	manifest, ok := files[evManifest]
	if !ok {
		return sum, evFail(evManifest, "missing")
	}
	if err := canonicalSignatures(files[evManifestSig]); err != nil {
		return sum, evFail(evManifestSig, "%v", err)
	}
	sigNote, err := note.Open(files[evManifestSig], note.VerifierList(v))
	if err != nil {
		return sum, evFail(evManifestSig, "signature: %v", err)
	}
	if sigNote.Text != manifestNoteText(manifest) {
		return sum, evFail(evManifestSig, "does not sign this manifest")
	}
	if err := checkManifest(manifest, files, order); err != nil {
		return sum, err
	}
	// Checkpoints.
	var cps []checkpoint
	for _, name := range order {
		m := evCPRe.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		cp, err := ks.open(files[name])
		if err != nil {
			return sum, evFail(name, "%v", err)
		}
		if evName("cp", cp.size) != name {
			return sum, evFail(name, "checkpoint size %d does not match the file name", cp.size)
		}
		cps = append(cps, cp)
	}
	if len(cps) == 0 || len(cps) > 2 {
		return sum, evFail("checkpoints/", "want 1 or 2 checkpoints, found %d", len(cps))
	}
	first, latest := cps[0], cps[len(cps)-1]
	if first.size > latest.size {
		first, latest = latest, first
	}
	if err := checkConsistency(files[evConsistency], first, latest); err != nil {
		return sum, err
	}
	sum.Origin, sum.PublicKey, sum.TreeSize = v.Name(), vkey, latest.size
	sum.RootHash = append([]byte(nil), latest.root[:]...)
	// Entries.
	used := map[string]bool{evManifest: true, evManifestSig: true, evPublicKey: true, evEntries: true, evConsistency: true}
	for _, cp := range cps {
		used[evName("cp", cp.size)] = true
	}
	if err := checkEvidenceTimestamps(files, order, cps, o.Timestamps, used, &sum); err != nil {
		return sum, err
	}
	lines := files[evEntries]
	if len(lines) == 0 || lines[len(lines)-1] != '\n' {
		return sum, evFail(evEntries, "missing or not newline-terminated")
	}
	var prev int64 = -1
	for n, raw := range bytes.Split(lines[:len(lines)-1], []byte("\n")) {
		var ln evEntryLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ln); err != nil {
			return sum, evFail(evEntries, "line %d: %v", n+1, err)
		}
		if int64(ln.Index) <= prev {
			return sum, evFail(evEntries, "line %d: index %d not ascending", n+1, ln.Index)
		}
		prev = int64(ln.Index)
		if ln.Leaf != evName("leaf", ln.Index) || ln.Proof != evName("proof", ln.Index) || (ln.Blob != "" && ln.Blob != evName("blob", ln.Index)) {
			return sum, evFail(evEntries, "line %d: unexpected file names", n+1)
		}
		leaf, ok1 := files[ln.Leaf]
		pr, ok2 := files[ln.Proof]
		if !ok1 || !ok2 || used[ln.Leaf] {
			return sum, evFail(evEntries, "line %d: leaf or proof missing or repeated", n+1)
		}
		used[ln.Leaf], used[ln.Proof] = true, true
		if err := checkInclusion(ln.Proof, pr, ln.Index, leaf, latest); err != nil {
			return sum, err
		}
		ls := sha256.Sum256(leaf)
		ee := EvidenceEntry{Index: ln.Index, ID: ln.ID, Leaf: leaf, LeafSHA256: hex.EncodeToString(ls[:])}
		if ln.Blob != "" {
			b, ok := files[ln.Blob]
			if !ok {
				return sum, evFail(evEntries, "line %d: blob missing", n+1)
			}
			used[ln.Blob] = true
			bs := sha256.Sum256(b)
			ee.Blob, ee.BlobSHA256 = b, hex.EncodeToString(bs[:])
		}
		sum.Entries = append(sum.Entries, ee)
	}
	for _, name := range order {
		if !used[name] {
			return sum, evFail(name, "not referenced by %s", evEntries)
		}
	}
	if len(sum.Entries) == 0 {
		return sum, evFail(evEntries, "no entries")
	}
	return sum, nil
}

// checkEvidenceTimestamps checks the package's time-stamp tokens: each names one of its
// checkpoints, and with v it verifies and is over that checkpoint.
func checkEvidenceTimestamps(files map[string][]byte, order []string, cps []checkpoint, v TimestampVerifier, used map[string]bool, sum *EvidenceSummary) error {
	for _, name := range order {
		m := evTSTRe.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		size, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil || !slices.ContainsFunc(cps, func(cp checkpoint) bool { return cp.size == size }) {
			return evFail(name, "a time-stamp token for a checkpoint the package does not hold")
		}
		used[name] = true
		sum.TimestampTokens++
		if v == nil {
			continue
		}
		info, err := checkTimestamp(v, files[name], size, cps)
		if err != nil {
			var mis *TimestampMismatchError
			if errors.As(err, &mis) {
				return evFail(name, "the token is not over the package's checkpoint of size %d", size)
			}
			return evFail(name, "%v", err)
		}
		sum.Timestamps = append(sum.Timestamps, Timestamp{Size: size, TimestampInfo: info})
	}
	if v != nil && sum.TimestampTokens == 0 {
		return evFail("timestamps/", "the package carries no RFC 3161 time-stamp token")
	}
	return nil
}

// readEvidenceTar reads every member and checks that the archive is in the
// canonical form ExportEvidence writes, byte for byte.
func readEvidenceTar(r io.ReaderAt, size int64) (map[string][]byte, []string, error) {
	files := make(map[string][]byte)
	var order []string
	tr := tar.NewReader(io.NewSectionReader(r, 0, size))
	canon := sha256.New()
	cw := &countWriter{w: canon}
	tw := tar.NewWriter(cw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, evFail("", "archive: %v", err)
		}
		if len(order) >= evMaxFiles {
			return nil, nil, evFail("", "too many files")
		}
		if h.Typeflag != tar.TypeReg || h.Size < 0 || h.Size > evMaxFileSize || h.Size > size {
			return nil, nil, evFail(h.Name, "not a regular file of acceptable size")
		}
		if _, dup := files[h.Name]; dup {
			return nil, nil, evFail(h.Name, "duplicate member")
		}
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return nil, nil, evFail(h.Name, "read: %v", err)
		}
		if err := tw.WriteHeader(evHeader(h.Name, h.Size)); err != nil {
			return nil, nil, evFail(h.Name, "archive member: %v", err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, nil, evFail(h.Name, "archive member: %v", err)
		}
		files[h.Name] = data
		order = append(order, h.Name)
	}
	if err := tw.Close(); err != nil {
		return nil, nil, evFail("", "archive: %v", err)
	}
	orig := sha256.New()
	if _, err := io.Copy(orig, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, nil, evFail("", "read package: %v", err)
	}
	if cw.n != size || !bytes.Equal(orig.Sum(nil), canon.Sum(nil)) {
		return nil, nil, evFail("", "archive is not in canonical form (altered headers, padding or trailer)")
	}
	return files, order, nil
}

// checkManifest checks that the manifest lists every member except itself
// and its signature exactly once, in archive order, with matching SHA-256.
func checkManifest(manifest []byte, files map[string][]byte, order []string) error {
	var want bytes.Buffer
	for _, name := range order {
		if name == evManifest || name == evManifestSig {
			continue
		}
		s := sha256.Sum256(files[name])
		fmt.Fprintf(&want, "%s  %s\n", hex.EncodeToString(s[:]), name)
	}
	if !bytes.Equal(want.Bytes(), manifest) {
		sc := bufio.NewScanner(bytes.NewReader(manifest))
		for sc.Scan() {
			h, name, ok := strings.Cut(sc.Text(), "  ")
			if !ok {
				return evFail(evManifest, "malformed line %q", sc.Text())
			}
			data, present := files[name]
			if s := sha256.Sum256(data); !present || hex.EncodeToString(s[:]) != h {
				return evFail(name, "SHA-256 does not match the manifest")
			}
		}
		return evFail(evManifest, "does not list exactly the package members")
	}
	return nil
}

func checkConsistency(data []byte, first, latest checkpoint) error {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" || lines[0] != evConsHeader ||
		lines[1] != "old "+strconv.FormatUint(first.size, 10) || lines[2] != "new "+strconv.FormatUint(latest.size, 10) {
		return evFail(evConsistency, "malformed or not between the included checkpoints")
	}
	var hashes [][]byte
	for _, l := range lines[3 : len(lines)-1] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != sha256.Size || base64.StdEncoding.EncodeToString(h) != l {
			return evFail(evConsistency, "malformed hash line")
		}
		hashes = append(hashes, h)
	}
	if first.size == latest.size {
		if len(hashes) != 0 || first.root != latest.root {
			return evFail(evConsistency, "checkpoints of equal size differ")
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first.size, latest.size, hashes, first.root[:], latest.root[:]); err != nil {
		return evFail(evConsistency, "%v", err)
	}
	return nil
}

func checkInclusion(name string, data []byte, index uint64, leaf []byte, latest checkpoint) error {
	var tp tproof.TLogProof
	if err := tp.Unmarshal(data); err != nil {
		return evFail(name, "%v", err)
	}
	if !bytes.Equal(tp.Marshal(), data) {
		return evFail(name, "not in canonical tlog-proof form")
	}
	if tp.Index != index || tp.ExtraData != nil {
		return evFail(name, "proof index %d does not match entry %d", tp.Index, index)
	}
	if !bytes.Equal(tp.Checkpoint, latest.signed) {
		return evFail(name, "proof is not against the latest included checkpoint")
	}
	hashes := make([][]byte, len(tp.Hashes))
	for k := range tp.Hashes {
		hashes[k] = tp.Hashes[k][:]
	}
	lh := leafHash(leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, latest.size, lh[:], hashes, latest.root[:]); err != nil {
		return evFail(name, "inclusion: %v", err)
	}
	return nil
}
