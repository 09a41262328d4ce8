package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
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
	PublicKey          string
}

// VerifyError reports the first bad entry found by [Verify].
type VerifyError struct {
	// Index is the first entry that can no longer be trusted. For damage to
	// a checkpoint it is the first entry that no earlier valid checkpoint
	// attests (the size of the previous valid checkpoint).
	Index  uint64
	Reason string
	File   string // the damaged file, relative to the directory
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit: verification failed at entry %d (%s): %s", e.Index, e.File, e.Reason)
}

// Verify checks the log directory dir offline and read-only: the framing
// and checksum of every entry and blob, that entries are numbered without
// gaps or reordering, every stored Merkle hash against one recomputed from
// the leaves, every checkpoint signature with the directory's public key,
// and that every checkpoint's root equals the recomputed root at its size
// (which also proves successive checkpoints consistent). Damage yields a
// *VerifyError naming the first bad entry.
func Verify(dir string) (Summary, error) { return VerifyPinned(dir, "") }

// VerifyPinned is [Verify] with the public key pinned: the directory's key
// must equal publicKey (a note verifier key) unless publicKey is empty.
func VerifyPinned(dir, publicKey string) (Summary, error) {
	v, vkey, err := readVerifier(dir)
	if err != nil {
		return Summary{}, fmt.Errorf("audit: verify: %w", err)
	}
	if publicKey != "" && vkey != publicKey {
		return Summary{}, &VerifyError{Index: 0, File: pubFileName, Reason: "public key does not match the pinned key"}
	}
	vf := &verifier{dir: dir, v: v, sum: Summary{PublicKey: vkey}}
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
	return vf.sum, nil
}

type verifier struct {
	dir    string
	v      note.Verifier
	sum    Summary
	cps    []checkpoint
	nextCP int
	edge   edge
	hashes *bufio.Reader
}

func (vf *verifier) loadCheckpoints() *VerifyError {
	data, err := os.ReadFile(filepath.Join(vf.dir, checkpointsName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &VerifyError{File: checkpointsName, Reason: err.Error()}
	}
	recs, _, perr := parseCheckpointRecords(data)
	var prev uint64
	for _, r := range recs {
		cp, err := openCheckpoint(r.signed, vf.v)
		if err != nil {
			return &VerifyError{Index: prev, File: checkpointsName, Reason: fmt.Sprintf("record at offset %d: %v", r.off, err)}
		}
		if cp.size < prev {
			return &VerifyError{Index: prev, File: checkpointsName, Reason: fmt.Sprintf("record at offset %d: size %d after %d", r.off, cp.size, prev)}
		}
		vf.cps = append(vf.cps, cp)
		prev = cp.size
	}
	if perr != nil {
		return &VerifyError{Index: prev, File: checkpointsName, Reason: perr.Error()}
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
		return &VerifyError{File: latestCheckpoint, Reason: err.Error()}
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
	return &VerifyError{Index: idx, File: latestCheckpoint, Reason: "latest checkpoint is not a checkpoint of the history"}
}

func (vf *verifier) fail(file, format string, args ...any) *VerifyError {
	return &VerifyError{Index: vf.edge.n, File: file, Reason: fmt.Sprintf(format, args...)}
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
	vf.sum.Blobs, vf.sum.PrunedBlobSegments = rd.blobs, rd.pruned
	if n := len(vf.cps); n > 0 && vf.cps[n-1].size > vf.edge.n {
		return vf.fail(logSegName(lastOr(firsts)), "log ends after %d entries but a signed checkpoint covers %d (entries removed or truncated)", vf.edge.n, vf.cps[n-1].size)
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
			return &VerifyError{Index: prev, File: checkpointsName, Reason: fmt.Sprintf("checkpoint at size %d does not match the recomputed root", vf.edge.n)}
		}
		vf.nextCP++
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
	return &VerifyError{Index: rd.n, File: file, Reason: fmt.Sprintf(format, args...)}
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
			if _, err := checkBlobFrame(blobBuf[:n], &e); err != nil {
				return rd.fail(blobName, "blob: %v", err)
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
