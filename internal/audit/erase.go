package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// EraseBlobs overwrites the blobs of the given entries in place with zeros and marks them
// erased, in every segment that still has its blob side-file, the active one included; it
// fsyncs before returning. Leaves, the tree and the entry frames are untouched, so the log
// still verifies; readers see an erased blob as none. Indices without a blob, already erased,
// or not (yet) in the log are skipped. It returns how many blobs it overwrote.
func (l *Log) EraseBlobs(indices []uint64) (int, error) {
	l.eraseMu.Lock()
	defer l.eraseMu.Unlock()
	idx := slices.Clone(indices)
	slices.Sort(idx)
	idx = slices.Compact(idx)
	return l.eraseSorted(idx)
}

// eraseBelow erases every blob of the segments still holding blobs from the last watermark
// up to before. Caller holds eraseMu.
func (l *Log) eraseBelow(before uint64) (int, error) {
	l.mu.RLock()
	size := l.size
	for _, s := range l.segs {
		if s.blobGone {
			l.erasedTo = max(l.erasedTo, s.end())
		}
	}
	l.mu.RUnlock()
	before = min(before, size)
	if before <= l.erasedTo {
		return 0, nil
	}
	idx := make([]uint64, 0, before-l.erasedTo)
	for i := l.erasedTo; i < before; i++ {
		idx = append(idx, i)
	}
	n, err := l.eraseSorted(idx)
	if err == nil {
		l.erasedTo = before
	}
	return n, err
}

// eraseSorted erases the blobs of ascending, distinct indices. Caller holds eraseMu.
func (l *Log) eraseSorted(idx []uint64) (int, error) {
	type target struct {
		first uint64
		e     entry
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	var ts []target
	var errs []error
	for _, i := range idx {
		if i >= l.size {
			break
		}
		s := l.segmentOf(i)
		if s == nil || s.blobGone {
			continue
		}
		e, err := l.readEntry(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e.blobLen > 0 {
			ts = append(ts, target{s.first, e})
		}
	}
	l.mu.RUnlock()

	// Readers take blobMu for reading around each blob read, so none sees a half-written frame.
	l.blobMu.Lock()
	defer l.blobMu.Unlock()
	n := 0
	var f *os.File
	var fFirst uint64
	done := func() {
		if f == nil {
			return
		}
		if err := l.fsync(f); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", blobSegName(fFirst), err))
		}
		f.Close()
		f = nil
	}
	for _, t := range ts {
		if f == nil || fFirst != t.first {
			done()
			var err error
			f, err = os.OpenFile(filepath.Join(l.dir, blobSegName(t.first)), os.O_RDWR, 0)
			if errors.Is(err, os.ErrNotExist) {
				continue // pruned meanwhile
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("open %s: %w", blobSegName(t.first), err))
				continue
			}
			fFirst = t.first
		}
		cur := make([]byte, blobFrameHeader+int(t.e.blobLen))
		if _, err := f.ReadAt(cur, int64(t.e.blobOff)); err != nil {
			errs = append(errs, fmt.Errorf("read blob of entry %d: %w", t.e.index, err))
			continue
		}
		if blobFrameErased(cur, &t.e) {
			continue
		}
		if _, err := checkBlobFrame(cur, &t.e); err != nil {
			// Never overwrite what is not the frame the entry names: that would hide corruption.
			errs = append(errs, fmt.Errorf("blob of entry %d: %w", t.e.index, errors.Join(err, ErrCorrupt)))
			continue
		}
		if _, err := f.WriteAt(erasedBlobFrame(&t.e), int64(t.e.blobOff)); err != nil {
			errs = append(errs, fmt.Errorf("erase blob of entry %d: %w", t.e.index, err))
			continue
		}
		n++
	}
	done()
	if n > 0 {
		l.logger.Info("erased blobs", "blobs", n)
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("audit: erase blobs: %w", err)
	}
	return n, nil
}
