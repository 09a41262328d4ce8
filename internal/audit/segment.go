package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment files are named by the index of their first entry.
func logSegName(first uint64) string  { return fmt.Sprintf("seg-%016x.log", first) }
func blobSegName(first uint64) string { return fmt.Sprintf("seg-%016x.blob", first) }

// listSegments returns the first indexes of the entry segments in dir, in order.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var firsts []uint64
	for _, de := range des {
		name := de.Name()
		hex, ok := strings.CutPrefix(name, "seg-")
		if !ok {
			continue
		}
		hex, ok = strings.CutSuffix(hex, ".log")
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || len(hex) != 16 || logSegName(first) != name {
			return nil, fmt.Errorf("unexpected segment file name %q: %w", name, ErrCorrupt)
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	return firsts, nil
}

// segment is one entry segment and its blob side-file.
type segment struct {
	first    uint64
	offsets  []uint32 // frame offset of every entry; only appended to
	logSize  int64    // committed bytes of the entry segment
	blobSize int64    // committed bytes of the blob segment
	log      *os.File
	blobGone bool // pruned
	indexed  bool // has a segment index file (sealed segments only)

	// Owned by the stager: bytes written (published or not), and the
	// blob file handle used for writing (closed by the syncer once the
	// segment is complete).
	pendLog  int64
	pendBlob int64
	blobW    *os.File
}

func (s *segment) end() uint64 { return s.first + uint64(len(s.offsets)) }

// readEntryAt reads and checks the frame at off with pread.
func readEntryAt(f io.ReaderAt, off int64) (entry, error) {
	var hdr [frameHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return entry{}, fmt.Errorf("read frame at %d: %w", off, err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < entryFixed || size > maxPayload {
		return entry{}, fmt.Errorf("frame at %d: length %d: %w", off, size, ErrCorrupt)
	}
	p := make([]byte, size)
	if _, err := f.ReadAt(p, off+frameHeaderSize); err != nil {
		return entry{}, fmt.Errorf("read frame at %d: %w", off, err)
	}
	if crcOf(p) != binary.BigEndian.Uint32(hdr[4:]) {
		return entry{}, fmt.Errorf("frame at %d: checksum mismatch: %w", off, ErrCorrupt)
	}
	e, err := decodePayload(p)
	if err != nil {
		return entry{}, fmt.Errorf("frame at %d: %w", off, errors.Join(err, ErrCorrupt))
	}
	return e, nil
}

// readBlobAt reads and checks the blob of e from the blob segment file.
func readBlobAt(f io.ReaderAt, e *entry) ([]byte, error) {
	frame := make([]byte, blobFrameHeader+int(e.blobLen))
	if _, err := f.ReadAt(frame, int64(e.blobOff)); err != nil {
		return nil, fmt.Errorf("read blob of entry %d: %w", e.index, err)
	}
	data, err := checkBlobFrame(frame, e)
	if err != nil {
		return nil, fmt.Errorf("blob of entry %d: %w", e.index, err)
	}
	return data, nil
}

func openBlobSeg(dir string, first uint64) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, blobSegName(first)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrBlobPruned
	}
	if err != nil {
		return nil, fmt.Errorf("open blob segment: %w", err)
	}
	return f, nil
}
