package audit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Errors returned by the log. Compare with errors.Is.
var (
	ErrClosed        = errors.New("audit: log closed")
	ErrNotFound      = errors.New("audit: no such entry")
	ErrBlobPruned    = errors.New("audit: blob pruned")
	ErrCorrupt       = errors.New("audit: log corrupt")
	ErrLocked        = errors.New("audit: log directory in use by another process")
	ErrNoCheckpoint  = errors.New("audit: no checkpoint yet")
	ErrInvalidRecord = errors.New("audit: invalid record")
	ErrIDConflict    = errors.New("audit: id already in the log with different content")
	// ErrUnusable: a write could not be made durable (a failed fsync, or a failed rollback);
	// the log refuses every append until it is reopened, and nothing unsynced is kept.
	ErrUnusable = errors.New("audit: log unusable until reopened")
)

// IDConflictError is returned by [Log.Append] when a record's ID is already in the log, or
// earlier in the same call or batch, with a different leaf. Nothing of that call is appended;
// the other calls of the batch are not affected. It matches [ErrIDConflict] with errors.Is.
type IDConflictError struct {
	ID     string
	Record int    // position of the record in the Append call
	Index  uint64 // log index of the entry that holds the ID (unset for a duplicate within the call)
}

func (e *IDConflictError) Error() string {
	return fmt.Sprintf("audit: id %q is already in the log with different content", e.ID)
}

// Is reports whether target is ErrIDConflict.
func (e *IDConflictError) Is(target error) bool { return target == ErrIDConflict }

// Record is one entry to append.
type Record struct {
	// ID identifies the record for idempotency: appending an ID that is
	// already in the log with the same leaf returns the existing index; with
	// a different leaf the call fails with an *IDConflictError. 1..MaxIDLen bytes.
	ID string
	// Leaf is the entry's Merkle leaf, stored and hashed exactly as given.
	Leaf []byte
	// Blob is optional side data (e.g. stored text): written and fsynced
	// with the entry but not part of the Merkle tree, so it can be pruned.
	Blob []byte
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	opts   Options
	dir    string
	logger *slog.Logger
	m      *metrics
	signer Signer
	keys   keySet // every key the log has signed with, the current one last
	lock   *os.File

	reqs   chan *request
	cpReq  chan chan error
	quit   chan struct{}
	exited chan struct{}

	closeMu   sync.RWMutex
	closing   bool
	inflight  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu        sync.RWMutex // guards the fields below
	segs      []*segment
	size      uint64        // durable, published entries
	grown     chan struct{} // closed (and replaced) each time size grows
	hashCount int64         // published stored hashes
	ids       *idTable
	cp        checkpoint
	closed    bool

	// eraseMu serializes blob pruning and erasure; erasedTo (under it) is the index below
	// which every blob still on disk has been erased. blobMu is held for reading around
	// every blob read and for writing while blobs are overwritten.
	eraseMu  sync.Mutex
	erasedTo uint64
	blobMu   sync.RWMutex

	// fatalMu guards fatal and serializes the stager's writes with the
	// syncer's rollback after a failed fsync.
	fatalMu sync.Mutex
	fatal   error

	hashes *os.File // written by the stager, synced by the syncer, read by proofs
	syncq  chan *staged
	fsync  func(*os.File) error // (*os.File).Sync; replaced in tests

	// Owned by the stager goroutine (and by Open before it starts).
	edge       edge
	pendSize   uint64               // entries written, published or not
	pendHash   int64                // stored hashes written
	pending    map[string]pendingID // ids written but not yet published
	pendQ      []stagedIDs
	seq        uint64
	published  atomic.Uint64 // seq of the last batch the syncer finished
	logBuf     []byte
	blobBuf    []byte
	hashBuf    []tlog.Hash
	newIDs     []idAdd
	newOffsets []uint32
	newNames   []string

	// Owned by the syncer goroutine.
	cpFile     *os.File
	cpFileSize int64
	lastCP     time.Time
	pubRoot    tlog.Hash
	lastSeg    *segment
}

type idAdd struct{ h, index uint64 }

// pendingID is a staged entry's index and leaf hash.
type pendingID struct {
	index uint64
	leaf  tlog.Hash
}

type request struct {
	recs    []Record
	indexes []uint64
	bytes   int
	done    chan error
	// Built by the caller: entry frame templates, blob frames, the end
	// offset of record k's frame and blob frame, and its leaf hash.
	frames     []byte
	blobFrames []byte
	frameEnd   []uint32
	blobEnd    []uint32
	leafHashes []tlog.Hash
}

// prepare builds the frame templates and hashes of a request so that the
// CPU-heavy part of an append runs in the callers, in parallel.
func (r *request) prepare() {
	n := len(r.recs)
	r.frameEnd, r.blobEnd = make([]uint32, n), make([]uint32, n)
	r.leafHashes = make([]tlog.Hash, n)
	// Both buffers at their final size: grown by append, they were reallocated and copied
	// about log2(n) times per request (a fifth of an ingest run's allocated bytes).
	frameBytes, blobBytes := 0, 0
	for k := range r.recs {
		frameBytes += entrySize(len(r.recs[k].ID), len(r.recs[k].Leaf))
		if len(r.recs[k].Blob) > 0 {
			blobBytes += blobFrameHeader + len(r.recs[k].Blob)
		}
	}
	r.frames = make([]byte, 0, frameBytes)
	if blobBytes > 0 {
		r.blobFrames = make([]byte, 0, blobBytes)
	}
	for k := range r.recs {
		rec := &r.recs[k]
		var sum [sha256.Size]byte
		if len(rec.Blob) > 0 {
			sum = sha256.Sum256(rec.Blob)
			r.blobFrames = appendBlobFrame(r.blobFrames, rec.Blob)
		}
		r.frames = appendEntryTemplate(r.frames, rec.ID, rec.Leaf, uint32(len(rec.Blob)), &sum)
		r.frameEnd[k], r.blobEnd[k] = uint32(len(r.frames)), uint32(len(r.blobFrames))
		r.leafHashes[k] = leafHash(rec.Leaf)
	}
}

// conflictWithin reports an ID given twice in the request with different leaves.
func (r *request) conflictWithin() error {
	if len(r.recs) < 2 {
		return nil
	}
	first := make(map[string]int, len(r.recs))
	for k := range r.recs {
		id := r.recs[k].ID
		j, ok := first[id]
		if !ok {
			first[id] = k
			continue
		}
		if r.leafHashes[j] != r.leafHashes[k] {
			return &IDConflictError{ID: id, Record: k}
		}
	}
	return nil
}

// Open opens (creating if needed) the log in opts.Dir, recovers a torn tail
// left by a crash, checks the Merkle state against the latest checkpoint and
// starts the writer. Only one process may have a directory open.
func Open(opts Options) (*Log, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create log dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s", ErrLocked, opts.Dir)
	}
	l := &Log{
		grown:   make(chan struct{}),
		opts:    opts,
		dir:     opts.Dir,
		logger:  opts.Logger.With("component", "audit"),
		m:       newMetrics(opts.Registerer),
		lock:    lock,
		reqs:    make(chan *request, 4096),
		cpReq:   make(chan chan error),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
		ids:     newIDTable(),
		pending: make(map[string]pendingID),
		syncq:   make(chan *staged, 1),
		fsync:   (*os.File).Sync,
	}
	if opts.Sync != nil {
		l.fsync = opts.Sync
	}
	if l.signer, l.keys, err = loadOrCreateKey(opts.Dir, &opts); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("audit: open %s: %w", opts.Dir, err)
	}
	l.lastCP = time.Now()
	l.pendSize, l.pendHash, l.pubRoot = l.size, l.hashCount, l.edge.root()
	for _, s := range l.segs {
		s.pendLog, s.pendBlob = s.logSize, s.blobSize
	}
	l.lastSeg = l.segs[len(l.segs)-1]
	l.m.treeSize.Set(float64(l.size))
	l.m.logBytes.Set(float64(l.logBytes()))
	go l.stager()
	go l.syncer()
	l.logger.Info("audit log open", "entries", l.size, "checkpoint_size", l.cp.size, "segments", len(l.segs))
	return l, nil
}

func (l *Log) logBytes() int64 {
	var n int64
	for _, s := range l.segs {
		n += s.logSize
	}
	return n
}

// recover loads the checkpoint history and the segments, truncates a torn
// tail, and rebuilds the stored hashes written after the latest checkpoint.
func (l *Log) recover() error {
	if err := l.loadCheckpoints(); err != nil {
		return err
	}
	firsts, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	// The stored hashes (about 2 per entry) tell how many IDs are coming: size the ID table once,
	// bounded by what the segments can hold so that a corrupt hash file cannot inflate it.
	if st, err := os.Stat(filepath.Join(l.dir, hashFileName)); err == nil {
		var segBytes int64
		for _, first := range firsts {
			if sst, err := os.Stat(filepath.Join(l.dir, logSegName(first))); err == nil {
				segBytes += sst.Size()
			}
		}
		l.ids.reserve(min(uint64(st.Size())/(2*32), uint64(segBytes)/(frameHeaderSize+entryFixed)))
	}
	for i, first := range firsts {
		if err := l.loadSegment(first, i == len(firsts)-1); err != nil {
			return err
		}
	}
	if l.size < l.cp.size {
		return fmt.Errorf("%d entries but the latest checkpoint signs %d: %w", l.size, l.cp.size, ErrCorrupt)
	}
	if len(l.segs) == 0 {
		if err := l.createSegment(0); err != nil {
			return err
		}
	} else {
		last := l.segs[len(l.segs)-1]
		f, err := os.OpenFile(filepath.Join(l.dir, blobSegName(last.first)), os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open active blob segment: %w", err)
		}
		last.blobW = f
	}
	if err := l.rebuildHashes(); err != nil {
		return err
	}
	return syncDir(l.dir)
}

func (l *Log) loadCheckpoints() error {
	f, err := os.OpenFile(filepath.Join(l.dir, checkpointsName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open checkpoint history: %w", err)
	}
	l.cpFile = f
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read checkpoint history: %w", err)
	}
	recs, end, perr := parseCheckpointRecords(data)
	if perr != nil {
		if !errors.Is(perr, errTorn) {
			return fmt.Errorf("checkpoint history: %w", errors.Join(perr, ErrCorrupt))
		}
		l.logger.Warn("truncating torn checkpoint history tail", "offset", end, "bytes", int64(len(data))-end)
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("truncate checkpoint history: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync checkpoint history: %w", err)
		}
	}
	l.cpFileSize = end
	for _, r := range recs {
		cp, err := l.keys.open(r.signed)
		if err != nil {
			return fmt.Errorf("checkpoint history at %d: %w", r.off, errors.Join(err, ErrCorrupt))
		}
		if cp.size < l.cp.size {
			return fmt.Errorf("checkpoint history at %d: size %d after %d: %w", r.off, cp.size, l.cp.size, ErrCorrupt)
		}
		l.cp = cp
	}
	return nil
}

// loadSegment scans one segment, filling offsets and the id table. In the
// last segment a torn or corrupt tail after the latest checkpoint is cut off.
func (l *Log) loadSegment(first uint64, last bool) error {
	path := filepath.Join(l.dir, logSegName(first))
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	seg := &segment{first: first, log: f, logSize: segHeaderSize, blobSize: segHeaderSize}
	var hdr [segHeaderSize]byte
	n, err := io.ReadFull(f, hdr[:])
	if err != nil && n < segHeaderSize && last && first == l.size {
		// Crash while creating the segment: nothing was ever acknowledged in it.
		f.Close()
		l.logger.Warn("removing torn new segment", "segment", logSegName(first))
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove torn segment: %w", err)
		}
		if err := os.Remove(filepath.Join(l.dir, blobSegName(first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove torn blob segment: %w", err)
		}
		return nil
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("segment %s header: %w", logSegName(first), errors.Join(err, ErrCorrupt))
	}
	got, err := parseSegHeader(hdr[:], logMagic)
	if err != nil || got != first || first != l.size {
		f.Close()
		return fmt.Errorf("segment %s: header (first %d, expected %d): %w", logSegName(first), got, l.size, errors.Join(err, ErrCorrupt))
	}
	var blobs *os.File
	if b, err := os.Open(filepath.Join(l.dir, blobSegName(first))); err == nil {
		blobs = b
		defer blobs.Close()
	} else if errors.Is(err, os.ErrNotExist) {
		seg.blobGone = true
	} else {
		f.Close()
		return fmt.Errorf("open blob segment: %w", err)
	}
	if !last {
		if d := l.loadSegIndex(first, f); d != nil {
			seg.offsets, seg.logSize, seg.blobSize, seg.indexed = d.offsets, int64(d.logSize), int64(d.blobSize), true
			for i, id := range d.ids {
				if err := l.ids.insert(l.ids.hash(id), first+uint64(i)); err != nil {
					f.Close()
					return err
				}
			}
			l.segs = append(l.segs, seg)
			l.size = first + uint64(len(d.offsets))
			return nil
		}
	}
	var idx *segIndexData // collected for a sealed segment without an index
	if !last {
		idx = &segIndexData{first: first}
	}
	fr := newFrameReader(io.NewSectionReader(f, segHeaderSize, 1<<62), segHeaderSize)
	next := first
	var tailErr error
	for {
		e, off, err := fr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && e.index != next {
			err = fmt.Errorf("entry index %d, expected %d: %w", e.index, next, errCorrupt)
		}
		if err == nil && last && next >= l.cp.size && e.blobLen > 0 {
			if blobs == nil {
				err = fmt.Errorf("blob segment missing: %w", errCorrupt)
			} else if _, berr := readBlobAt(blobs, &e); berr != nil {
				err = fmt.Errorf("blob: %w", errTorn)
			}
		}
		if err != nil {
			if !last || next < l.cp.size {
				f.Close()
				return fmt.Errorf("segment %s: entry %d: %w", logSegName(first), next, errors.Join(err, ErrCorrupt))
			}
			tailErr = err
			break
		}
		if off > 1<<32-1 {
			f.Close()
			return fmt.Errorf("segment %s larger than 4 GiB: %w", logSegName(first), ErrCorrupt)
		}
		seg.offsets = append(seg.offsets, uint32(off))
		seg.logSize = fr.off
		if e.blobLen > 0 {
			seg.blobSize = int64(e.blobOff) + blobFrameHeader + int64(e.blobLen)
		}
		if err := l.ids.insert(l.ids.hash(e.id), e.index); err != nil {
			f.Close()
			return err
		}
		if idx != nil {
			idx.ids = append(idx.ids, append([]byte(nil), e.id...))
		}
		next++
	}
	if idx != nil && next > first {
		idx.offsets, idx.logSize, idx.blobSize = seg.offsets, uint64(seg.logSize), uint64(seg.blobSize)
		l.writeSegIndex(idx)
		seg.indexed = true
	}
	if last {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("stat segment: %w", err)
		}
		if st.Size() != seg.logSize {
			l.logger.Warn("truncating torn log tail", "segment", logSegName(first), "entries", next-first,
				"offset", seg.logSize, "bytes", st.Size()-seg.logSize, "reason", fmt.Sprint(tailErr))
			if err := truncateSync(f, seg.logSize); err != nil {
				f.Close()
				return err
			}
		}
		if blobs != nil {
			bst, err := blobs.Stat()
			if err != nil {
				f.Close()
				return fmt.Errorf("stat blob segment: %w", err)
			}
			if bst.Size() < seg.blobSize {
				f.Close()
				return fmt.Errorf("blob segment shorter than its entries: %w", ErrCorrupt)
			}
			if bst.Size() != seg.blobSize {
				bf, err := os.OpenFile(filepath.Join(l.dir, blobSegName(first)), os.O_RDWR, 0o600)
				if err != nil {
					f.Close()
					return fmt.Errorf("open blob segment: %w", err)
				}
				err = truncateSync(bf, seg.blobSize)
				bf.Close()
				if err != nil {
					f.Close()
					return err
				}
			}
		} else {
			// The active segment always has a blob side-file.
			if err := writeFileSync(filepath.Join(l.dir, blobSegName(first)), appendSegHeader(nil, blobMagic, first), 0o600); err != nil {
				f.Close()
				return err
			}
			seg.blobGone = false
		}
	}
	l.segs = append(l.segs, seg)
	l.size = next
	return nil
}

func truncateSync(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate %s: %w", filepath.Base(f.Name()), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// rebuildHashes checks the stored hashes against the latest checkpoint and
// recomputes those of the entries after it from the leaves.
func (l *Log) rebuildHashes() error {
	f, err := os.OpenFile(filepath.Join(l.dir, hashFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open hash file: %w", err)
	}
	l.hashes = f
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat hash file: %w", err)
	}
	have := st.Size() / tlog.HashSize
	c := l.cp.size
	if have < storedHashes(c) {
		return fmt.Errorf("hash file holds %d hashes, checkpoint at %d needs %d: %w", have, c, storedHashes(c), ErrCorrupt)
	}
	l.edge, err = edgeFromStored(c, hashFile{f: f, limit: storedHashes(c)})
	if err != nil {
		return fmt.Errorf("read tree edge: %w", err)
	}
	if c > 0 && l.edge.root() != l.cp.root {
		return fmt.Errorf("stored hashes do not match the checkpoint at size %d: %w", c, ErrCorrupt)
	}
	var buf []tlog.Hash
	for i := c; i < l.size; i++ {
		e, err := l.readEntry(i)
		if err != nil {
			return err
		}
		buf = l.edge.add(leafHash(e.leaf), buf)
	}
	pos := storedHashes(c) * tlog.HashSize
	if len(buf) > 0 {
		if _, err := f.WriteAt(hashBytes(buf), pos); err != nil {
			return fmt.Errorf("write hash file: %w", err)
		}
	}
	l.hashCount = storedHashes(l.size)
	if err := truncateSync(f, l.hashCount*tlog.HashSize); err != nil {
		return err
	}
	return nil
}

func hashBytes(hs []tlog.Hash) []byte {
	b := make([]byte, 0, len(hs)*tlog.HashSize)
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	return b
}

// createSegment creates the entry and blob segments starting at first and
// makes them the active segment. Called by Open and the stager.
func (l *Log) createSegment(first uint64) error {
	lf, err := createSegFile(filepath.Join(l.dir, logSegName(first)), logMagic, first)
	if err != nil {
		return err
	}
	bf, err := createSegFile(filepath.Join(l.dir, blobSegName(first)), blobMagic, first)
	if err != nil {
		lf.Close()
		return err
	}
	if err := syncDir(l.dir); err != nil {
		lf.Close()
		bf.Close()
		return err
	}
	seg := &segment{first: first, log: lf, blobW: bf, logSize: segHeaderSize, blobSize: segHeaderSize,
		pendLog: segHeaderSize, pendBlob: segHeaderSize}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	return nil
}

func createSegFile(path, magic string, first uint64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.Write(appendSegHeader(nil, magic, first)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write segment header: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync segment: %w", err)
	}
	return f, nil
}

// segmentOf returns the segment holding entry i. Caller holds l.mu or is the writer.
func (l *Log) segmentOf(i uint64) *segment {
	k := sort.Search(len(l.segs), func(k int) bool { return l.segs[k].end() > i })
	if k == len(l.segs) || i < l.segs[k].first {
		return nil
	}
	return l.segs[k]
}

// readEntry reads committed entry i. Safe from the writer and under l.mu.
func (l *Log) readEntry(i uint64) (entry, error) {
	s := l.segmentOf(i)
	if s == nil {
		return entry{}, fmt.Errorf("entry %d: %w", i, ErrNotFound)
	}
	e, err := readEntryAt(s.log, int64(s.offsets[i-s.first]))
	if err != nil {
		return entry{}, fmt.Errorf("entry %d: %w", i, err)
	}
	if e.index != i {
		return entry{}, fmt.Errorf("entry %d: stored index %d: %w", i, e.index, ErrCorrupt)
	}
	return e, nil
}

// idMatches reports whether committed entry i has the given id.
func (l *Log) idMatches(i uint64, id string) (bool, error) {
	s := l.segmentOf(i)
	if s == nil {
		return false, nil
	}
	buf := make([]byte, frameHeaderSize+10+len(id))
	if _, err := s.log.ReadAt(buf, int64(s.offsets[i-s.first])); err != nil {
		return false, fmt.Errorf("read id of entry %d: %w", i, err)
	}
	p := buf[frameHeaderSize:]
	return int(p[8])<<8|int(p[9]) == len(id) && string(p[10:]) == id, nil
}

// lookup finds a committed id. Caller holds l.mu or is the writer.
func (l *Log) lookup(h uint64, id string) (uint64, bool, error) {
	var found uint64
	var rerr error
	ok := l.ids.candidates(h, func(i uint64) bool {
		m, err := l.idMatches(i, id)
		if err != nil {
			rerr = err
			return true
		}
		found = i
		return m
	})
	if rerr != nil {
		return 0, false, rerr
	}
	return found, ok, nil
}

// Append durably appends recs and returns their indexes, in order. It
// returns only after the batch holding recs was fsynced. Records whose ID
// is already in the log (or earlier in the same batch) with the same leaf
// are not appended again: their existing index is returned. An ID already
// there with a different leaf fails the whole call with an
// *IDConflictError, so an ID cannot be pre-claimed silently. All records of one call are
// written in one batch or none is. recs must not be modified until Append
// returns. If ctx ends first, Append returns its error and the records may
// or may not have been appended (re-appending them is safe).
func (l *Log) Append(ctx context.Context, recs []Record) ([]uint64, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	req := &request{recs: recs, done: make(chan error, 1)}
	for i := range recs {
		r := &recs[i]
		switch {
		case len(r.ID) == 0 || len(r.ID) > MaxIDLen:
			return nil, fmt.Errorf("%w: record %d: id length %d not in 1..%d", ErrInvalidRecord, i, len(r.ID), MaxIDLen)
		case len(r.Leaf) > MaxLeafSize:
			return nil, fmt.Errorf("%w: record %d: leaf of %d bytes exceeds %d", ErrInvalidRecord, i, len(r.Leaf), MaxLeafSize)
		case len(r.Blob) > MaxBlobSize:
			return nil, fmt.Errorf("%w: record %d: blob of %d bytes exceeds %d", ErrInvalidRecord, i, len(r.Blob), MaxBlobSize)
		}
		req.bytes += entrySize(len(r.ID), len(r.Leaf)) + len(r.Blob)
	}
	req.prepare()
	if err := req.conflictWithin(); err != nil {
		return nil, err
	}
	l.closeMu.RLock()
	if l.closing {
		l.closeMu.RUnlock()
		return nil, ErrClosed
	}
	l.inflight.Add(1)
	l.closeMu.RUnlock()
	defer l.inflight.Done()
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("audit: append: %w", ctx.Err())
	}
	select {
	case err := <-req.done:
		if err != nil {
			return nil, err
		}
		return req.indexes, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("audit: append outcome unknown: %w", ctx.Err())
	}
}

// Err reports why the log stopped accepting appends (a failed fsync makes it unusable until
// reopened), or nil while it is usable.
func (l *Log) Err() error { return l.fatalErr() }

// Lookup returns the index of the entry with the given ID.
func (l *Log) Lookup(id string) (uint64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, false
	}
	i, ok, err := l.lookup(l.ids.hashString(id), id)
	if err != nil {
		l.logger.Error("audit lookup failed", "err", err)
		return 0, false
	}
	return i, ok
}

// Grown returns a channel closed when the log next grows, that is when entries appended after
// this call are durable and readable: readers that follow the log (index, analysis, aggregates)
// wait on it instead of polling.
func (l *Log) Grown() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.grown
}

// Size returns the number of durable entries.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// PublicKey returns the note verifier key of the log's signing key.
func (l *Log) PublicKey() string { return l.keys.current() }

// PublicKeys returns every verifier key the log has signed with, oldest first.
func (l *Log) PublicKeys() []string { return append([]string(nil), l.keys.keys...) }

// Origin returns the checkpoint origin.
func (l *Log) Origin() string { return l.opts.Origin }

// Leaf returns the leaf of entry i.
func (l *Log) Leaf(i uint64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	e, err := l.readEntry(i)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return e.leaf, nil
}

// Blob returns the blob of entry i: nil if it has none, ErrBlobPruned if
// it was pruned.
func (l *Log) Blob(i uint64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	e, err := l.readEntry(i)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if e.blobLen == 0 {
		return nil, nil
	}
	s := l.segmentOf(i)
	if s.blobGone {
		return nil, ErrBlobPruned
	}
	f, err := openBlobSeg(l.dir, s.first)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l.blobMu.RLock()
	b, err := readBlobAt(f, &e)
	l.blobMu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return b, nil
}

// Read calls fn for every entry from index from to the size at the time of
// the call, in order. blob is nil if the entry has none or it was pruned.
// The slices passed to fn are only valid during the call. Read stops at the
// first error fn returns and returns it.
func (l *Log) Read(from uint64, fn func(i uint64, id string, leaf, blob []byte) error) error {
	return l.read(from, true, fn)
}

// ReadLeaves is Read without the blobs: for followers that need only the leaves (the
// aggregates), it saves a read, an allocation and a SHA-256 check per entry.
func (l *Log) ReadLeaves(from uint64, fn func(i uint64, id string, leaf []byte) error) error {
	return l.read(from, false, func(i uint64, id string, leaf, _ []byte) error { return fn(i, id, leaf) })
}

func (l *Log) read(from uint64, blobs bool, fn func(i uint64, id string, leaf, blob []byte) error) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	type snap struct {
		first   uint64
		offsets []uint32
		logSize int64
		log     *os.File
		gone    bool
	}
	var segs []snap
	for _, s := range l.segs {
		if s.end() > from {
			segs = append(segs, snap{s.first, s.offsets, s.logSize, s.log, s.blobGone})
		}
	}
	l.mu.RUnlock()
	for _, s := range segs {
		if len(s.offsets) == 0 {
			continue
		}
		start := int64(s.offsets[0])
		if from > s.first {
			start = int64(s.offsets[from-s.first])
		}
		var blobf *os.File
		if blobs && !s.gone {
			f, err := openBlobSeg(l.dir, s.first)
			if err != nil && !errors.Is(err, ErrBlobPruned) {
				return fmt.Errorf("audit: read: %w", err)
			}
			blobf = f
		}
		err := readSegment(s.log, blobf, &l.blobMu, start, s.logSize, s.first+uint64(len(s.offsets)), fn)
		if blobf != nil {
			blobf.Close()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readSegment(log, blobs *os.File, blobMu *sync.RWMutex, start, end int64, limit uint64, fn func(uint64, string, []byte, []byte) error) error {
	fr := newFrameReaderSize(io.NewSectionReader(log, start, end-start), start, end-start)
	for {
		e, _, err := fr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", filepath.Base(log.Name()), errors.Join(err, ErrCorrupt))
		}
		if e.index >= limit {
			return nil
		}
		var blob []byte
		if e.blobLen > 0 && blobs != nil {
			blobMu.RLock()
			blob, err = readBlobAt(blobs, &e)
			blobMu.RUnlock()
			if err != nil {
				return fmt.Errorf("audit: read: %w", errors.Join(err, ErrCorrupt))
			}
		}
		if err := fn(e.index, string(e.id), e.leaf, blob); err != nil {
			return err
		}
	}
}

// PruneBlobs removes every blob below index before from disk: it deletes the blob segments
// whose entries all lie below before and erases in place (see [Log.EraseBlobs]) the blobs
// below before in the rest, the active segment included. Leaves and the tree are untouched.
func (l *Log) PruneBlobs(before uint64) error {
	l.eraseMu.Lock()
	defer l.eraseMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var errs []error
	pruned := 0
	for k, s := range l.segs[:len(l.segs)-1] {
		// Only segments that are complete: every entry up to the next
		// segment published, so no batch still writes to them.
		if s.blobGone || s.end() > before || s.end() != l.segs[k+1].first {
			continue
		}
		if err := os.Remove(filepath.Join(l.dir, blobSegName(s.first))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", blobSegName(s.first), err))
			continue
		}
		s.blobGone = true
		pruned++
	}
	l.mu.Unlock()
	if pruned > 0 {
		l.logger.Info("pruned blob segments", "segments", pruned, "before", before)
		errs = append(errs, syncDir(l.dir))
	}
	if _, err := l.eraseBelow(before); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: prune blobs: %w", err)
	}
	return nil
}

// Checkpoint returns the latest signed checkpoint (a C2SP tlog-checkpoint
// signed note). If entries exist but none is signed yet, one is made now.
func (l *Log) Checkpoint() ([]byte, error) {
	l.mu.RLock()
	cp, size := l.cp, l.size
	l.mu.RUnlock()
	if cp.signed == nil && size > 0 {
		if err := l.requestCheckpoint(); err != nil {
			return nil, err
		}
		l.mu.RLock()
		cp = l.cp
		l.mu.RUnlock()
	}
	if cp.signed == nil {
		return nil, ErrNoCheckpoint
	}
	return append([]byte(nil), cp.signed...), nil
}

// Close drains pending appends, writes a final checkpoint and closes the
// files. It is idempotent. It reports a failed final checkpoint and the
// error that made the log unusable, if any.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closeMu.Lock()
		l.closing = true
		l.closeMu.Unlock()
		l.inflight.Wait()
		close(l.quit)
		<-l.exited
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.indexSealed()
		l.closeFiles()
		l.logger.Info("audit log closed", "entries", l.size, "checkpoint_size", l.cp.size)
	})
	return l.closeErr
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		s.log.Close()
		if s.blobW != nil {
			s.blobW.Close()
		}
	}
	for _, f := range []*os.File{l.hashes, l.cpFile, l.lock} {
		if f != nil {
			f.Close()
		}
	}
}
