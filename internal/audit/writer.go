package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// The write path is a two-stage pipeline so that the CPU work of one batch
// overlaps the fsync of the previous one:
//
//   - the stager takes every pending Append call, assigns indexes (with
//     idempotency), patches the callers' frame templates, advances the
//     Merkle edge and writes blobs, entries and stored hashes with pwrite;
//   - the syncer fsyncs the three files once per batch, publishes the
//     entries to readers and releases the callers, in batch order, and
//     signs checkpoints.
//
// A batch whose writes fail is rolled back by the stager and fails alone.
// A failed fsync is fatal (the page cache state is unknown afterwards): the
// syncer rolls the files back to the last published entry and every later
// call fails until the log is reopened.

// staged is a batch written by the stager, waiting for its fsync.
type staged struct {
	batch    []*request
	seq      uint64
	seg      *segment
	logSize  int64 // segment sizes before the batch
	blobSize int64
	logLen   int64
	blobLen  int64
	hashOff  int64 // stored hashes before the batch
	hashLen  int64
	offsets  []uint32
	ids      []idAdd
	size     uint64 // tree size after the batch
	root     tlog.Hash
}

type stagedIDs struct {
	seq   uint64
	names []string
}

func failAll(batch []*request, err error) {
	for _, r := range batch {
		r.done <- err
	}
}

func (l *Log) fatalErr() error {
	l.fatalMu.Lock()
	defer l.fatalMu.Unlock()
	return l.fatal
}

// stager is the first pipeline stage. It owns the pending state.
func (l *Log) stager() {
	defer close(l.syncq)
	var batch []*request
	for {
		select {
		case r := <-l.reqs:
			batch = l.gather(append(batch[:0], r))
			l.stage(batch)
			batch = make([]*request, 0, len(batch))
		case <-l.quit:
			for {
				select {
				case r := <-l.reqs:
					batch = l.gather(append(batch[:0], r))
					l.stage(batch)
					batch = make([]*request, 0, len(batch))
					continue
				default:
				}
				return
			}
		}
	}
}

func (l *Log) gather(batch []*request) []*request {
	n := batch[0].bytes
	for n < l.opts.MaxBatchBytes {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
			n += r.bytes
		default:
			return batch
		}
	}
	return batch
}

// dropPublished forgets the pending ids of batches the syncer finished:
// they are in the id table now (or failed, and the log is fatal).
func (l *Log) dropPublished() {
	done := l.published.Load()
	k := 0
	for ; k < len(l.pendQ) && l.pendQ[k].seq <= done; k++ {
		for _, id := range l.pendQ[k].names {
			delete(l.pending, id)
		}
	}
	l.pendQ = slices.Delete(l.pendQ, 0, k)
}

// lookupPublished finds a published id and returns its index and leaf hash.
func (l *Log) lookupPublished(h uint64, id string) (uint64, bool, tlog.Hash, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i, ok, err := l.lookup(h, id)
	if err != nil || !ok {
		return 0, false, tlog.Hash{}, err
	}
	hs, err := hashFile{f: l.hashes, limit: l.hashCount}.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(i))})
	if err != nil {
		return 0, false, tlog.Hash{}, fmt.Errorf("leaf hash of entry %d: %w", i, err)
	}
	return i, true, hs[0], nil
}

// stage assigns, encodes and writes one batch and hands it to the syncer.
func (l *Log) stage(batch []*request) {
	if err := l.fatalErr(); err != nil {
		failAll(batch, err)
		return
	}
	l.dropPublished()
	seg := l.segs[len(l.segs)-1]
	if seg.pendLog > segHeaderSize && (seg.pendLog >= l.opts.SegmentSize || seg.pendBlob >= l.opts.SegmentSize) {
		if err := l.createSegment(l.pendSize); err != nil {
			failAll(batch, fmt.Errorf("audit: rotate segment: %w", err))
			return
		}
		seg = l.segs[len(l.segs)-1]
	}
	var frameBytes, blobBytes, recs int
	for _, r := range batch {
		frameBytes += len(r.frames)
		blobBytes += len(r.blobFrames)
		recs += len(r.recs)
	}
	logBuf := slices.Grow(l.logBuf[:0], frameBytes)
	blobBuf := slices.Grow(l.blobBuf[:0], blobBytes)
	hashes := slices.Grow(l.hashBuf[:0], 2*recs)
	newIDs, newOffsets, names := l.newIDs[:0], l.newOffsets[:0], l.newNames[:0]
	oldEdge := l.edge.clone()
	next := l.pendSize
	undo := func() {
		l.edge = oldEdge
		for _, id := range names {
			delete(l.pending, id)
		}
	}
	live := make([]*request, 0, len(batch))
	for k, r := range batch {
		known, err := l.resolve(r)
		var conflict *IDConflictError
		switch {
		case errors.As(err, &conflict):
			// This call fails alone; the rest of the batch goes on.
			r.done <- err
			continue
		case err != nil:
			undo()
			failAll(append(live, batch[k:]...), fmt.Errorf("audit: id lookup: %w", err))
			return
		}
		live = append(live, r)
		for j := range r.recs {
			if known[j] {
				continue
			}
			rec := &r.recs[j]
			if p, ok := l.pending[rec.ID]; ok { // an earlier record of this call
				r.indexes[j] = p.index
				continue
			}
			idx := next
			next++
			var blobOff uint64
			if len(rec.Blob) > 0 {
				var from uint32
				if j > 0 {
					from = r.blobEnd[j-1]
				}
				bo := len(blobBuf)
				blobOff = uint64(seg.pendBlob) + uint64(bo)
				blobBuf = append(blobBuf, r.blobFrames[from:r.blobEnd[j]]...)
				sealBlob(blobBuf[bo:], idx)
			}
			var from uint32
			if j > 0 {
				from = r.frameEnd[j-1]
			}
			fo := len(logBuf)
			newOffsets = append(newOffsets, uint32(seg.pendLog+int64(fo)))
			logBuf = append(logBuf, r.frames[from:r.frameEnd[j]]...)
			sealEntry(logBuf[fo:], idx, blobOff)
			hashes = l.edge.add(r.leafHashes[j], hashes)
			newIDs = append(newIDs, idAdd{h: l.ids.hashString(rec.ID), index: idx})
			names = append(names, rec.ID)
			l.pending[rec.ID] = pendingID{index: idx, leaf: r.leafHashes[j]}
			r.indexes[j] = idx
		}
	}
	batch = live
	l.logBuf, l.blobBuf, l.hashBuf = logBuf, blobBuf, hashes
	if cap(l.logBuf) > 4*l.opts.MaxBatchBytes {
		l.logBuf, l.blobBuf = nil, nil
	}
	st := &staged{
		batch: batch, seg: seg,
		logSize: seg.pendLog, blobSize: seg.pendBlob, logLen: int64(len(logBuf)), blobLen: int64(len(blobBuf)),
		hashOff: l.pendHash, hashLen: int64(len(hashes)),
		size: next,
	}
	if next > l.pendSize {
		if err := l.writeBatch(st, logBuf, blobBuf, hashes); err != nil {
			undo()
			l.logger.Error("audit batch failed", "entries", next-l.pendSize, "err", err)
			failAll(batch, fmt.Errorf("audit: append: %w", err))
			return
		}
		// The syncer keeps these slices; the next batch uses new ones.
		st.offsets, st.ids = newOffsets, newIDs
		l.newOffsets, l.newIDs = nil, nil
		l.seq++
		l.pendQ = append(l.pendQ, stagedIDs{seq: l.seq, names: names})
		l.newNames = nil
		seg.pendLog += st.logLen
		seg.pendBlob += st.blobLen
		l.pendHash += st.hashLen
		l.pendSize = next
	}
	// A batch without new entries still goes through the syncer so that
	// calls that refer to entries of an earlier batch are released only
	// after that batch is durable.
	st.seq = l.seq
	st.root = l.edge.root()
	l.syncq <- st
}

// resolve sets r.indexes for the records whose ID is already in the log or
// staged (known[j]), checking that their leaves match; the others are new
// unless an earlier record of r has the same ID. It changes no state, so a
// conflict fails r alone.
func (l *Log) resolve(r *request) (known []bool, err error) {
	r.indexes = make([]uint64, len(r.recs))
	known = make([]bool, len(r.recs))
	for j := range r.recs {
		rec := &r.recs[j]
		if p, ok := l.pending[rec.ID]; ok {
			if p.leaf != r.leafHashes[j] {
				return nil, &IDConflictError{ID: rec.ID, Record: j, Index: p.index}
			}
			r.indexes[j], known[j] = p.index, true
			continue
		}
		idx, ok, leaf, err := l.lookupPublished(l.ids.hashString(rec.ID), rec.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			if leaf != r.leafHashes[j] {
				return nil, &IDConflictError{ID: rec.ID, Record: j, Index: idx}
			}
			r.indexes[j], known[j] = idx, true
		}
	}
	return known, nil
}

// writeBatch writes one batch with pwrite; on failure it truncates the
// files back. The writes hold fatalMu so that a fatal rollback by the
// syncer cannot interleave with them.
func (l *Log) writeBatch(st *staged, logBuf, blobBuf []byte, hashes []tlog.Hash) error {
	l.fatalMu.Lock()
	defer l.fatalMu.Unlock()
	if l.fatal != nil {
		return l.fatal
	}
	seg := st.seg
	var err error
	if len(blobBuf) > 0 {
		_, err = seg.blobW.WriteAt(blobBuf, st.blobSize)
	}
	if err == nil {
		_, err = seg.log.WriteAt(logBuf, st.logSize)
	}
	if err == nil {
		_, err = l.hashes.WriteAt(hashBytes(hashes), st.hashOff*tlog.HashSize)
	}
	if err == nil {
		return nil
	}
	if rb := errors.Join(
		seg.log.Truncate(st.logSize),
		seg.blobW.Truncate(st.blobSize),
		l.hashes.Truncate(st.hashOff*tlog.HashSize),
	); rb != nil {
		l.fatal = fmt.Errorf("%w: failed rollback: %w", ErrUnusable, rb)
	}
	return err
}

// syncer is the second pipeline stage. It owns the checkpoint files.
func (l *Log) syncer() {
	defer close(l.exited)
	tick := time.NewTicker(max(l.opts.CheckpointInterval/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case st, ok := <-l.syncq:
			if !ok {
				l.closeErr = errors.Join(l.writeCheckpoint(), l.fatalErr())
				return
			}
			l.finish(st)
			if time.Since(l.lastCP) >= l.opts.CheckpointInterval {
				l.checkpointLogged()
			}
		case <-tick.C:
			if time.Since(l.lastCP) >= l.opts.CheckpointInterval {
				l.checkpointLogged()
			}
		case ch := <-l.cpReq:
			ch <- l.writeCheckpoint()
		}
	}
}

// finish fsyncs a staged batch, publishes it and releases its callers.
func (l *Log) finish(st *staged) {
	if err := l.fatalErr(); err != nil {
		failAll(st.batch, err)
		return
	}
	if st.logLen > 0 {
		if l.lastSeg != st.seg {
			// The previous segment is complete and synced: release its
			// blob write handle.
			if l.lastSeg.blobW != nil {
				l.lastSeg.blobW.Close()
				l.lastSeg.blobW = nil
			}
			l.lastSeg = st.seg
		}
		start := time.Now()
		var wg sync.WaitGroup
		var errs [3]error
		files := []*os.File{st.seg.log, l.hashes, st.seg.blobW}
		if st.blobLen == 0 {
			files = files[:2]
		}
		for k, f := range files {
			wg.Go(func() {
				if err := l.fsync(f); err != nil {
					errs[k] = fmt.Errorf("fsync %s: %w", filepath.Base(f.Name()), err)
				}
			})
		}
		wg.Wait()
		l.m.fsync.Observe(time.Since(start).Seconds())
		if err := errors.Join(errs[:]...); err != nil {
			l.failSync(st, err)
			return
		}
	}
	l.mu.Lock()
	if st.logLen > 0 {
		st.seg.offsets = append(st.seg.offsets, st.offsets...)
		st.seg.logSize = st.logSize + st.logLen
		st.seg.blobSize = st.blobSize + st.blobLen
		l.hashCount = st.hashOff + st.hashLen
		l.size = st.size
		close(l.grown)
		l.grown = make(chan struct{})
	}
	var insErr error
	for _, a := range st.ids {
		if err := l.ids.insert(a.h, a.index); err != nil && insErr == nil {
			insErr = err
		}
	}
	l.mu.Unlock()
	l.pubRoot = st.root
	l.published.Store(st.seq)
	if insErr != nil {
		l.fatalMu.Lock()
		l.fatal = fmt.Errorf("%w: %w", ErrUnusable, insErr)
		l.fatalMu.Unlock()
	}
	l.m.appended.Add(float64(len(st.offsets)))
	l.m.batchSize.Observe(float64(len(st.offsets)))
	l.m.treeSize.Set(float64(st.size))
	l.m.logBytes.Add(float64(st.logLen))
	failAll(st.batch, nil)
}

// failSync handles a failed fsync: the log becomes unusable, and the files
// are rolled back to the last published entry so that nothing of this or
// any later batch is recovered by the next Open.
func (l *Log) failSync(st *staged, err error) {
	l.logger.Error("audit fsync failed; log unusable until reopened", "err", err)
	l.fatalMu.Lock()
	l.fatal = fmt.Errorf("%w: %w", ErrUnusable, err)
	l.mu.Lock()
	var rb []error
	keep := len(l.segs)
	for k, s := range l.segs {
		switch {
		case s == st.seg:
			rb = append(rb, s.log.Truncate(st.logSize), s.blobW.Truncate(st.blobSize))
		case s.first > st.seg.first:
			// Created after this batch: holds unpublished entries only.
			if keep == len(l.segs) {
				keep = k
			}
			s.log.Close()
			if s.blobW != nil {
				s.blobW.Close()
			}
			rb = append(rb, os.Remove(filepath.Join(l.dir, logSegName(s.first))), os.Remove(filepath.Join(l.dir, blobSegName(s.first))))
		}
	}
	l.segs = l.segs[:keep]
	rb = append(rb, l.hashes.Truncate(st.hashOff*tlog.HashSize))
	l.mu.Unlock()
	l.fatalMu.Unlock()
	if e := errors.Join(rb...); e != nil {
		l.logger.Error("audit rollback after failed fsync incomplete", "err", e)
	}
	failAll(st.batch, fmt.Errorf("%w: %w", ErrUnusable, err))
}

func (l *Log) checkpointLogged() {
	if err := l.writeCheckpoint(); err != nil {
		l.logger.Error("audit checkpoint failed", "err", err)
	}
}

// writeCheckpoint signs and records a checkpoint of the published tree if
// it grew since the last one. Syncer only.
func (l *Log) writeCheckpoint() error {
	l.lastCP = time.Now()
	l.mu.RLock()
	size, cpSize := l.size, l.cp.size
	l.mu.RUnlock()
	if size == cpSize || l.fatalErr() != nil {
		return nil
	}
	root := l.pubRoot
	signed, err := signCheckpoint(l.signer, size, root)
	if err != nil {
		return err
	}
	rec := appendCheckpointRecord(nil, signed)
	if _, err := l.cpFile.WriteAt(rec, l.cpFileSize); err != nil {
		_ = l.cpFile.Truncate(l.cpFileSize)
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := l.cpFile.Sync(); err != nil {
		_ = l.cpFile.Truncate(l.cpFileSize)
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	l.cpFileSize += int64(len(rec))
	// The history is authoritative; the plain copy is written before the
	// checkpoint is published so that readers of either agree.
	err = writeFileAtomic(filepath.Join(l.dir, latestCheckpoint), signed, 0o600)
	l.mu.Lock()
	l.cp = checkpoint{size: size, root: root, signed: signed}
	l.mu.Unlock()
	return err
}

// requestCheckpoint asks the syncer for a checkpoint of the published tree.
func (l *Log) requestCheckpoint() error {
	ch := make(chan error, 1)
	select {
	case l.cpReq <- ch:
	case <-l.exited:
		return ErrClosed
	}
	return <-ch
}
