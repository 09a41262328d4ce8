package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Summary describes a verified log directory.
type Summary struct {
	Entries     uint64 // entries in the segments
	TreeSize    uint64 // size of the latest signed checkpoint
	RootHash    []byte // root of the latest signed checkpoint
	Checkpoints int    // signed checkpoints in the history
	Blobs       uint64 // blobs checked
	// PrunedBlobSegments counts segments whose blob side-file was pruned.
	PrunedBlobSegments int
	// ErasedBlobs counts blobs overwritten by retention or erasure (of the Blobs checked).
	ErasedBlobs uint64
	PublicKey   string   // the newest trusted key
	PublicKeys  []string // every trusted key, oldest first
	// Pinned is true when the keys came from the verifier (VerifyOptions.Keys), false when they
	// were taken from the directory's own log.pub (self-asserted: whoever can write the
	// directory can replace them).
	Pinned bool
	// AnchorSize is the size of the trusted earlier checkpoint the log was checked against.
	AnchorSize uint64
	// WitnessedSize is the size of the witness-cosigned checkpoint, Witnesses its cosigners.
	WitnessedSize uint64
	Witnesses     []string
	// TimestampTokens is the number of RFC 3161 tokens stored beside the checkpoints;
	// Timestamps the ones checked (with VerifyOptions.Timestamps), ascending by size.
	TimestampTokens int
	Timestamps      []Timestamp
}

// Kinds of verification failure ([VerifyError.Kind]).
const (
	KindCorrupt       = "corrupt"       // framing, checksums, hashes or signatures do not hold
	KindRollback      = "rollback"      // entries or checkpoints removed: fewer than a signed checkpoint attests
	KindWrongKey      = "wrong-key"     // a checkpoint is not signed by a trusted key
	KindInconsistent  = "inconsistent"  // the log is not an extension of a trusted checkpoint
	KindUnwitnessed   = "unwitnessed"   // no checkpoint of the log carries the required witness cosignatures
	KindUntimestamped = "untimestamped" // no RFC 3161 token that verifies against the trusted TSAs
)

// VerifyError reports the first bad entry found by [Verify].
type VerifyError struct {
	// Index is the first entry that can no longer be trusted. For damage to
	// a checkpoint it is the first entry that no earlier valid checkpoint
	// attests (the size of the previous valid checkpoint).
	Index  uint64
	Reason string
	File   string // the damaged file, relative to the directory
	Kind   string // one of the Kind constants
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit: verification failed (%s) at entry %d (%s): %s", e.Kind, e.Index, e.File, e.Reason)
}

// VerifyOptions are the trust anchors of [VerifyWith].
type VerifyOptions struct {
	// Keys are the verifier keys the auditor trusts (note verifier keys; several to cover
	// rotations). Every checkpoint must be signed by one of them. Empty: the keys listed in
	// the directory's log.pub are used, which proves integrity only against accidents and
	// against someone who cannot write the directory.
	Keys []string
	// Anchor is a signed checkpoint the auditor saw earlier. The log must be a consistent
	// extension of it: at least as many entries, the same root at its size, and a latest
	// signed checkpoint no smaller. It defeats rollback and rewriting by anyone holding the
	// signing key.
	Anchor []byte
	// WitnessKeys are witness verifier keys; the directory's "witnessed" file must be one of
	// the log's checkpoints carrying a valid cosignature (C2SP tlog-cosignature) of each.
	WitnessKeys []string
	// Timestamps, when set, checks the RFC 3161 tokens stored beside the checkpoints against
	// the TSAs the auditor trusts: at least one is required, each must verify and be over the
	// log's signed checkpoint of its size (so the first Size entries existed at its time).
	Timestamps TimestampVerifier
}

// Verify checks the log directory dir offline and read-only: the framing
// and checksum of every entry and blob, that entries are numbered without
// gaps or reordering, every stored Merkle hash against one recomputed from
// the leaves, every checkpoint signature with the directory's public keys,
// and that every checkpoint's root equals the recomputed root at its size
// (which also proves successive checkpoints consistent). Damage yields a
// *VerifyError naming the first bad entry.
func Verify(dir string) (Summary, error) { return VerifyWith(dir, VerifyOptions{}) }

// VerifyPinned is [Verify] with the public key pinned (see [VerifyOptions.Keys]) unless
// publicKey is empty.
func VerifyPinned(dir, publicKey string) (Summary, error) {
	var o VerifyOptions
	if publicKey != "" {
		o.Keys = []string{publicKey}
	}
	return VerifyWith(dir, o)
}

// VerifyWith is [Verify] against the trust anchors of o.
func VerifyWith(dir string, o VerifyOptions) (Summary, error) {
	var ks keySet
	var err error
	if len(o.Keys) > 0 {
		ks, err = parseKeySet(strings.Join(o.Keys, "\n"))
		if err != nil {
			return Summary{}, fmt.Errorf("audit: verify: pinned key: %w", err)
		}
	} else if ks, err = readKeySet(dir); err != nil {
		return Summary{}, fmt.Errorf("audit: verify: %w", err)
	}
	vf := &verifier{dir: dir, ks: ks, sum: Summary{PublicKey: ks.current(), PublicKeys: ks.keys, Pinned: len(o.Keys) > 0}}
	if o.Anchor != nil {
		cp, err := ks.open(o.Anchor)
		if err != nil {
			kind := KindCorrupt
			if errors.Is(err, ErrUnknownKey) {
				kind = KindWrongKey
			}
			return vf.sum, &VerifyError{Kind: kind, File: "(trusted checkpoint)", Reason: fmt.Sprintf("the trusted checkpoint does not verify: %v", err)}
		}
		vf.anchor = &cp
		vf.sum.AnchorSize = cp.size
	}
	if len(o.WitnessKeys) > 0 {
		if err := vf.loadWitnessed(o.WitnessKeys); err != nil {
			return vf.sum, err
		}
	}
	cpErr := vf.loadCheckpoints()
	entErr := vf.scan()
	var verr *VerifyError
	switch {
	case entErr != nil && !errors.As(entErr, &verr):
		return vf.sum, entErr
	case entErr != nil && (cpErr == nil || verr.Index <= cpErr.Index):
		return vf.sum, entErr
	case cpErr != nil:
		return vf.sum, cpErr
	}
	if a := vf.anchor; a != nil && vf.sum.TreeSize < a.size {
		return vf.sum, &VerifyError{Kind: KindRollback, Index: vf.sum.TreeSize, File: checkpointsName,
			Reason: fmt.Sprintf("the latest signed checkpoint has size %d, older than the trusted checkpoint of size %d: checkpoints rolled back", vf.sum.TreeSize, a.size)}
	}
	if w := vf.witnessed; w != nil && vf.edge.n < w.size {
		return vf.sum, &VerifyError{Kind: KindRollback, Index: vf.edge.n, File: witnessedName,
			Reason: fmt.Sprintf("the witnesses cosigned a checkpoint of size %d but the log holds %d entries: entries removed", w.size, vf.edge.n)}
	}
	if err := vf.checkTimestamps(o.Timestamps); err != nil {
		return vf.sum, err
	}
	return vf.sum, nil
}

// checkTimestamps counts the stored time-stamp tokens and, with v, checks each against the
// checkpoint of its size (all of which were checked against the recomputed tree by then).
func (vf *verifier) checkTimestamps(v TimestampVerifier) *VerifyError {
	sizes, tokens, err := readTimestamps(vf.dir)
	if err != nil {
		return &VerifyError{Kind: KindCorrupt, File: timestampsDir, Reason: err.Error()}
	}
	vf.sum.TimestampTokens = len(sizes)
	if v == nil {
		return nil
	}
	if len(sizes) == 0 {
		return &VerifyError{Kind: KindUntimestamped, File: timestampsDir, Reason: "no RFC 3161 time-stamp token in the directory (configure audit.timestamp_authorities)"}
	}
	for _, size := range sizes {
		file := filepath.Join(timestampsDir, timestampName(size))
		info, err := checkTimestamp(v, tokens[size], size, vf.cps)
		var mis *TimestampMismatchError
		switch {
		case errors.As(err, &mis) && mis.NoCheckpoint:
			return &VerifyError{Kind: KindRollback, Index: vf.sum.TreeSize, File: file, Reason: fmt.Sprintf("a TSA time-stamped a checkpoint of size %d that the history no longer holds: checkpoints or entries removed", size)}
		case errors.As(err, &mis):
			return &VerifyError{Kind: KindInconsistent, Index: 0, File: file, Reason: fmt.Sprintf("the log's checkpoint of size %d is not the one the TSA time-stamped at %s: history rewritten since", size, mis.Time.Format(time.RFC3339))}
		case err != nil:
			return &VerifyError{Kind: KindUntimestamped, Index: 0, File: file, Reason: err.Error()}
		}
		vf.sum.Timestamps = append(vf.sum.Timestamps, Timestamp{Size: size, TimestampInfo: info})
	}
	return nil
}

type verifier struct {
	dir    string
	ks     keySet
	sum    Summary
	cps    []checkpoint
	anchor *checkpoint
	// witnessed is the witness-cosigned checkpoint when witness keys are required.
	witnessed *checkpoint
	nextCP    int
	edge      edge
	hashes    *bufio.Reader
}

func (vf *verifier) loadCheckpoints() *VerifyError {
	data, err := os.ReadFile(filepath.Join(vf.dir, checkpointsName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &VerifyError{Kind: KindCorrupt, File: checkpointsName, Reason: err.Error()}
	}
	recs, _, perr := parseCheckpointRecords(data)
	var prev uint64
	for _, r := range recs {
		cp, err := vf.ks.open(r.signed)
		if err != nil {
			if errors.Is(err, ErrUnknownKey) {
				return &VerifyError{Kind: KindWrongKey, Index: prev, File: checkpointsName, Reason: fmt.Sprintf("record at offset %d: %v (the log was signed by another key than the trusted one)", r.off, err)}
			}
			return &VerifyError{Kind: KindCorrupt, Index: prev, File: checkpointsName, Reason: fmt.Sprintf("record at offset %d: %v", r.off, err)}
		}
		if cp.size < prev {
			return &VerifyError{Kind: KindRollback, Index: prev, File: checkpointsName, Reason: fmt.Sprintf("record at offset %d: size %d after %d", r.off, cp.size, prev)}
		}
		vf.cps = append(vf.cps, cp)
		prev = cp.size
	}
	if perr != nil {
		return &VerifyError{Kind: KindCorrupt, Index: prev, File: checkpointsName, Reason: perr.Error()}
	}
	vf.sum.Checkpoints = len(vf.cps)
	if n := len(vf.cps); n > 0 {
		vf.sum.TreeSize = vf.cps[n-1].size
		vf.sum.RootHash = append([]byte(nil), vf.cps[n-1].root[:]...)
	}
	latest, err := os.ReadFile(filepath.Join(vf.dir, latestCheckpoint))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &VerifyError{Kind: KindCorrupt, File: latestCheckpoint, Reason: err.Error()}
	}
	for _, cp := range vf.cps {
		if bytes.Equal(cp.signed, latest) {
			return nil
		}
	}
	var idx uint64
	if n := len(vf.cps); n > 1 {
		idx = vf.cps[n-2].size
	}
	return &VerifyError{Kind: KindCorrupt, Index: idx, File: latestCheckpoint, Reason: "latest checkpoint is not a checkpoint of the history"}
}

func (vf *verifier) fail(file, format string, args ...any) *VerifyError {
	return &VerifyError{Kind: KindCorrupt, Index: vf.edge.n, File: file, Reason: fmt.Sprintf(format, args...)}
}

// verifyItem is one entry checked by the reading stage: its leaf hash, or
// the error that ends the scan at this entry.
type verifyItem struct {
	leaf tlog.Hash
	err  error
}

// scan reads every entry in order and checks it. Reading, framing, blob
// and leaf-hash checks run in one goroutine; the Merkle recomputation,
// stored-hash and checkpoint checks run in this one, in entry order.
func (vf *verifier) scan() error {
	hf, err := os.Open(filepath.Join(vf.dir, hashFileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: verify: %w", err)
	}
	if hf != nil {
		defer hf.Close()
		vf.hashes = bufio.NewReaderSize(hf, 256<<10)
	} else {
		vf.hashes = bufio.NewReader(bytes.NewReader(nil))
	}
	if err := vf.checkpointsAt(); err != nil {
		return err
	}
	firsts, err := listSegments(vf.dir)
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	items := make(chan []verifyItem, 4)
	stop := make(chan struct{})
	rd := &segReader{dir: vf.dir, out: items, stop: stop}
	go rd.run(firsts)
	defer func() {
		close(stop)
		for range items {
		}
	}()
	var want []tlog.Hash
	for batch := range items {
		for _, it := range batch {
			if it.err != nil {
				return it.err
			}
			want = vf.edge.add(it.leaf, want[:0])
			for k := range want {
				var h tlog.Hash
				if _, err := io.ReadFull(vf.hashes, h[:]); err != nil {
					vf.edge.n--
					return vf.fail(hashFileName, "hash file ends early: %v", err)
				}
				if h != want[k] {
					vf.edge.n--
					return vf.fail(hashFileName, "stored hash %d of the entry does not match the recomputed hash", k)
				}
			}
			if err := vf.checkpointsAt(); err != nil {
				return err
			}
		}
	}
	vf.sum.Entries = vf.edge.n
	vf.sum.Blobs, vf.sum.PrunedBlobSegments, vf.sum.ErasedBlobs = rd.blobs, rd.pruned, rd.erased
	if n := len(vf.cps); n > 0 && vf.cps[n-1].size > vf.edge.n {
		e := vf.fail(logSegName(lastOr(firsts)), "log ends after %d entries but a signed checkpoint covers %d (entries removed or truncated)", vf.edge.n, vf.cps[n-1].size)
		e.Kind = KindRollback
		return e
	}
	if a := vf.anchor; a != nil && a.size > vf.edge.n {
		e := vf.fail(logSegName(lastOr(firsts)), "log ends after %d entries but the trusted checkpoint covers %d (entries removed: rollback or truncation)", vf.edge.n, a.size)
		e.Kind = KindRollback
		return e
	}
	if _, err := vf.hashes.ReadByte(); err != io.EOF {
		return vf.fail(hashFileName, "hash file holds more hashes than the log has entries")
	}
	return nil
}

func lastOr(xs []uint64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

// checkpointsAt checks every checkpoint whose size equals the current tree size.
func (vf *verifier) checkpointsAt() *VerifyError {
	for vf.nextCP < len(vf.cps) && vf.cps[vf.nextCP].size == vf.edge.n {
		if vf.edge.root() != vf.cps[vf.nextCP].root {
			// The entries up to here matched the stored hashes, so the
			// checkpoint disagrees with the log: attribute it to the
			// first entry not attested by the previous checkpoint.
			var prev uint64
			if vf.nextCP > 0 {
				prev = vf.cps[vf.nextCP-1].size
			}
			return &VerifyError{Kind: KindCorrupt, Index: prev, File: checkpointsName, Reason: fmt.Sprintf("checkpoint at size %d does not match the recomputed root", vf.edge.n)}
		}
		vf.nextCP++
	}
	if a := vf.anchor; a != nil && a.size == vf.edge.n && a.size > 0 && vf.edge.root() != a.root {
		return &VerifyError{Kind: KindInconsistent, Index: 0, File: "(trusted checkpoint)",
			Reason: fmt.Sprintf("the log's first %d entries do not have the root of the trusted checkpoint: history rewritten since it was signed", a.size)}
	}
	if w := vf.witnessed; w != nil && w.size == vf.edge.n && w.size > 0 && vf.edge.root() != w.root {
		return &VerifyError{Kind: KindInconsistent, Index: 0, File: witnessedName,
			Reason: fmt.Sprintf("the log's first %d entries do not have the root the witnesses cosigned: history rewritten since", w.size)}
	}
	return nil
}

// segReader is the reading stage of Verify.
type segReader struct {
	dir    string
	out    chan<- []verifyItem
	stop   <-chan struct{}
	n      uint64 // entries read
	batch  []verifyItem
	frames *frameReader
	blobR  *bufio.Reader
	blobs  uint64
	erased uint64
	pruned int
}

func (rd *segReader) emit(it verifyItem) bool {
	rd.batch = append(rd.batch, it)
	if len(rd.batch) < 512 && it.err == nil {
		return true
	}
	return rd.flush()
}

func (rd *segReader) flush() bool {
	if len(rd.batch) == 0 {
		return true
	}
	select {
	case rd.out <- rd.batch:
		rd.batch = make([]verifyItem, 0, 512)
		return true
	case <-rd.stop:
		return false
	}
}

func (rd *segReader) fail(file, format string, args ...any) error {
	return &VerifyError{Kind: KindCorrupt, Index: rd.n, File: file, Reason: fmt.Sprintf(format, args...)}
}

func (rd *segReader) run(firsts []uint64) {
	defer close(rd.out)
	for k, first := range firsts {
		if err := rd.segment(first, k == len(firsts)-1); err != nil {
			rd.emit(verifyItem{err: err})
			return
		}
	}
	rd.flush()
}

func (rd *segReader) segment(first uint64, last bool) error {
	name := logSegName(first)
	f, err := os.Open(filepath.Join(rd.dir, name))
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()
	if first != rd.n {
		return rd.fail(name, "segment starts at entry %d, expected %d (entries missing or reordered)", first, rd.n)
	}
	var hdr [segHeaderSize]byte
	if n, err := io.ReadFull(f, hdr[:]); err != nil {
		if last && n == 0 || last && errors.Is(err, io.ErrUnexpectedEOF) && n < segHeaderSize {
			// A new segment torn while being created; Open removes it.
			return nil
		}
		return rd.fail(name, "segment header: %v", err)
	}
	if got, err := parseSegHeader(hdr[:], logMagic); err != nil || got != first {
		return rd.fail(name, "segment header invalid (first %d): %v", got, err)
	}
	blobName := blobSegName(first)
	var blobs *bufio.Reader
	blobPos := int64(segHeaderSize)
	if bf, err := os.Open(filepath.Join(rd.dir, blobName)); err == nil {
		defer bf.Close()
		if rd.blobR == nil {
			rd.blobR = bufio.NewReaderSize(bf, 1<<20)
		}
		rd.blobR.Reset(bf)
		blobs = rd.blobR
		var bh [segHeaderSize]byte
		if _, err := io.ReadFull(blobs, bh[:]); err != nil {
			return rd.fail(blobName, "blob segment header: %v", err)
		}
		if got, err := parseSegHeader(bh[:], blobMagic); err != nil || got != first {
			return rd.fail(blobName, "blob segment header invalid (first %d): %v", got, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		rd.pruned++
	} else {
		return fmt.Errorf("audit: verify: %w", err)
	}
	if rd.frames == nil {
		rd.frames = newFrameReader(f, segHeaderSize)
	}
	fr := rd.frames
	fr.reset(f, segHeaderSize)
	var blobBuf []byte
	for {
		e, off, err := fr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rd.fail(name, "entry frame at offset %d: %v", off, err)
		}
		if e.index != rd.n {
			return rd.fail(name, "entry at offset %d has index %d (entries missing or reordered)", off, e.index)
		}
		if e.blobLen > 0 && blobs != nil {
			if int64(e.blobOff) != blobPos {
				return rd.fail(name, "blob offset %d, expected %d", e.blobOff, blobPos)
			}
			n := blobFrameHeader + int(e.blobLen)
			if cap(blobBuf) < n {
				blobBuf = make([]byte, n)
			}
			if _, err := io.ReadFull(blobs, blobBuf[:n]); err != nil {
				return rd.fail(blobName, "blob: %v", err)
			}
			data, err := checkBlobFrame(blobBuf[:n], &e)
			if err != nil {
				return rd.fail(blobName, "blob: %v", err)
			}
			if data == nil {
				if !blobFrameErased(blobBuf[:n], &e) {
					return rd.fail(blobName, "blob of entry %d is marked erased but its data was not overwritten", e.index)
				}
				rd.erased++
			}
			blobPos += int64(n)
			rd.blobs++
		}
		if !rd.emit(verifyItem{leaf: leafHash(e.leaf)}) {
			return nil
		}
		rd.n++
	}
	if blobs != nil {
		if _, err := blobs.ReadByte(); err != io.EOF {
			return rd.fail(blobName, "blob segment has data after its last blob")
		}
	}
	return nil
}

// loadWitnessed reads the directory's witnessed checkpoint and checks that it carries a
// cosignature of every witness key and the log's signature. The scan then checks it against
// the tree recomputed from the entries (checkpointsAt), like a trusted checkpoint: the
// witnesses vouch for the first WitnessedSize entries, which cannot have been removed or
// rewritten since, even by someone holding the log's signing key. Entries after it are
// vouched for by the log's key only.
func (vf *verifier) loadWitnessed(witnessKeys []string) *VerifyError {
	fail := func(format string, args ...any) *VerifyError {
		return &VerifyError{Kind: KindUnwitnessed, Index: 0, File: witnessedName, Reason: fmt.Sprintf(format, args...)}
	}
	data, err := os.ReadFile(filepath.Join(vf.dir, witnessedName))
	if errors.Is(err, os.ErrNotExist) {
		return fail("no witness-cosigned checkpoint in the directory")
	}
	if err != nil {
		return fail("%v", err)
	}
	cp, names, err := openCosigned(data, vf.ks, witnessKeys)
	if err != nil {
		return fail("%v", err)
	}
	vf.witnessed = &cp
	vf.sum.WitnessedSize, vf.sum.Witnesses = cp.size, names
	return nil
}
