package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Limits of a single record. They bound memory when reading untrusted files.
const (
	MaxIDLen    = 1024     // bytes of a record ID
	MaxLeafSize = 4 << 20  // bytes of a leaf
	MaxBlobSize = 16 << 20 // bytes of a blob
)

const (
	logMagic  = "WDNLOG01"
	blobMagic = "WDNBLB01"
	// segHeaderSize: magic(8) | first index(8) | reserved zero(4) | crc32c of the first 20 bytes(4).
	segHeaderSize = 24
	// frameHeaderSize: payload length(4) | crc32c(payload)(4).
	frameHeaderSize = 8
	// entryFixed: index(8) idLen(2) leafLen(4) blobLen(4) blobOff(8) blobSHA256(32).
	entryFixed = 8 + 2 + 4 + 4 + 8 + sha256.Size
	maxPayload = entryFixed + MaxIDLen + MaxLeafSize
	// blobFrameHeader: data length(4) | crc32c(data)(4) | index(8).
	blobFrameHeader = 16
	// blobErased is set in the index field of a blob frame whose data was
	// overwritten with zeros (retention or erasure); the length stays so the
	// following frames keep their offsets.
	blobErased = uint64(1) << 63
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errTorn    = errors.New("torn frame")
	errCorrupt = errors.New("corrupt frame")
)

// entry is one decoded log entry. id and leaf alias the decoding buffer.
type entry struct {
	index   uint64
	id      []byte
	leaf    []byte
	blobLen uint32
	blobOff uint64
	blobSum [sha256.Size]byte
}

func appendSegHeader(dst []byte, magic string, first uint64) []byte {
	start := len(dst)
	dst = append(dst, magic...)
	dst = binary.BigEndian.AppendUint64(dst, first)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func parseSegHeader(b []byte, magic string) (uint64, error) {
	if len(b) < segHeaderSize {
		return 0, fmt.Errorf("segment header: %w", errTorn)
	}
	if string(b[:8]) != magic {
		return 0, fmt.Errorf("segment header: bad magic: %w", errCorrupt)
	}
	if binary.BigEndian.Uint32(b[16:20]) != 0 ||
		crc32.Checksum(b[:20], castagnoli) != binary.BigEndian.Uint32(b[20:24]) {
		return 0, fmt.Errorf("segment header: checksum mismatch: %w", errCorrupt)
	}
	return binary.BigEndian.Uint64(b[8:16]), nil
}

func entrySize(idLen, leafLen int) int { return frameHeaderSize + entryFixed + idLen + leafLen }

// appendEntry appends the framed encoding of one entry to dst.
func appendEntry(dst []byte, index uint64, id string, leaf []byte, blobLen uint32, blobOff uint64, blobSum *[sha256.Size]byte) []byte {
	start := len(dst)
	dst = appendEntryTemplate(dst, id, leaf, blobLen, blobSum)
	sealEntry(dst[start:], index, blobOff)
	return dst
}

// appendEntryTemplate appends an entry frame without its index, blob
// offset and checksum, which sealEntry fills in. Callers of Append build
// templates concurrently so that the writer only patches and checksums.
func appendEntryTemplate(dst []byte, id string, leaf []byte, blobLen uint32, blobSum *[sha256.Size]byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize+8)...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(id)))
	dst = append(dst, id...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(leaf)))
	dst = append(dst, leaf...)
	dst = binary.BigEndian.AppendUint32(dst, blobLen)
	dst = binary.BigEndian.AppendUint64(dst, 0)
	dst = append(dst, blobSum[:]...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameHeaderSize))
	return dst
}

// sealEntry sets the index and blob offset of a template frame and its checksum.
func sealEntry(frame []byte, index, blobOff uint64) {
	p := frame[frameHeaderSize:]
	binary.BigEndian.PutUint64(p, index)
	binary.BigEndian.PutUint64(p[len(p)-sha256.Size-8:], blobOff)
	binary.BigEndian.PutUint32(frame[4:], crc32.Checksum(p, castagnoli))
}

// decodePayload decodes a frame payload whose checksum was already checked.
func decodePayload(p []byte) (entry, error) {
	var e entry
	if len(p) < entryFixed {
		return e, fmt.Errorf("payload of %d bytes too short: %w", len(p), errCorrupt)
	}
	e.index = binary.BigEndian.Uint64(p)
	idLen := int(binary.BigEndian.Uint16(p[8:]))
	if idLen == 0 || idLen > MaxIDLen || 10+idLen+4 > len(p) {
		return e, fmt.Errorf("id length %d: %w", idLen, errCorrupt)
	}
	e.id = p[10 : 10+idLen]
	q := p[10+idLen:]
	leafLen := int(binary.BigEndian.Uint32(q))
	if leafLen > MaxLeafSize || len(q) != 4+leafLen+4+8+sha256.Size {
		return e, fmt.Errorf("leaf length %d: %w", leafLen, errCorrupt)
	}
	e.leaf = q[4 : 4+leafLen]
	q = q[4+leafLen:]
	e.blobLen = binary.BigEndian.Uint32(q)
	e.blobOff = binary.BigEndian.Uint64(q[4:])
	copy(e.blobSum[:], q[12:])
	if e.blobLen > MaxBlobSize {
		return e, fmt.Errorf("blob length %d: %w", e.blobLen, errCorrupt)
	}
	return e, nil
}

// appendBlobFrame appends a blob frame with index 0; sealBlob sets it.
func appendBlobFrame(dst []byte, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(data, castagnoli))
	dst = binary.BigEndian.AppendUint64(dst, 0)
	return append(dst, data...)
}

func sealBlob(frame []byte, index uint64) { binary.BigEndian.PutUint64(frame[8:], index) }

// erasedBlobFrame returns the frame that replaces the blob of e when it is
// erased: same length, the erased mark, zero data.
func erasedBlobFrame(e *entry) []byte {
	f := make([]byte, blobFrameHeader+int(e.blobLen))
	binary.BigEndian.PutUint32(f, e.blobLen)
	binary.BigEndian.PutUint32(f[4:], crc32.Checksum(f[blobFrameHeader:], castagnoli))
	binary.BigEndian.PutUint64(f[8:], e.index|blobErased)
	return f
}

// blobFrameErased reports whether frame is fully erased (mark and zero data).
func blobFrameErased(frame []byte, e *entry) bool {
	if len(frame) < blobFrameHeader || binary.BigEndian.Uint64(frame[8:]) != e.index|blobErased {
		return false
	}
	for _, b := range frame[blobFrameHeader:] {
		if b != 0 {
			return false
		}
	}
	return true
}

// checkBlobFrame checks a whole blob frame (header and data) against the
// entry that references it and returns the blob data: nil for an erased frame.
func checkBlobFrame(frame []byte, e *entry) ([]byte, error) {
	if len(frame) < blobFrameHeader {
		return nil, fmt.Errorf("blob frame: %w", errTorn)
	}
	n := binary.BigEndian.Uint32(frame)
	if n != e.blobLen || len(frame) != blobFrameHeader+int(n) {
		return nil, fmt.Errorf("blob frame length %d, entry says %d: %w", n, e.blobLen, errCorrupt)
	}
	if binary.BigEndian.Uint64(frame[8:]) == e.index|blobErased {
		return nil, nil
	}
	if crc32.Checksum(frame[blobFrameHeader:], castagnoli) != binary.BigEndian.Uint32(frame[4:]) {
		return nil, fmt.Errorf("blob frame checksum mismatch: %w", errCorrupt)
	}
	if binary.BigEndian.Uint64(frame[8:]) != e.index {
		return nil, fmt.Errorf("blob frame index %d, want %d: %w", binary.BigEndian.Uint64(frame[8:]), e.index, errCorrupt)
	}
	data := frame[blobFrameHeader:]
	if sha256.Sum256(data) != e.blobSum {
		return nil, fmt.Errorf("blob sha256 mismatch: %w", errCorrupt)
	}
	return data, nil
}

// frameReader reads consecutive entry frames from a segment body.
type frameReader struct {
	r   *bufio.Reader
	off int64 // offset of the next frame in the segment file
	buf []byte
}

func newFrameReader(r io.Reader, off int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 1<<20), off: off}
}

// newFrameReaderSize is newFrameReader for a reader of n bytes: its buffer is no larger than
// needed. The log's followers read the few entries appended since their last read many times a
// second, and a 1 MiB buffer for each read was a seventh of an ingest run's allocated bytes.
func newFrameReaderSize(r io.Reader, off, n int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, int(min(max(n, 4096), 1<<20))), off: off}
}

// reset makes fr read from r, keeping its buffers.
func (fr *frameReader) reset(r io.Reader, off int64) {
	fr.r.Reset(r)
	fr.off = off
}

// next returns the next entry and the offset of its frame. It returns io.EOF
// at a clean end, an error wrapping errTorn for a partial frame at the end and
// one wrapping errCorrupt for anything else that is wrong. The entry aliases
// an internal buffer that the next call overwrites.
func (fr *frameReader) next() (entry, int64, error) {
	var hdr [frameHeaderSize]byte
	off := fr.off
	n, err := io.ReadFull(fr.r, hdr[:])
	if errors.Is(err, io.EOF) {
		return entry{}, off, io.EOF
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return entry{}, off, fmt.Errorf("frame header (%d bytes): %w", n, errTorn)
		}
		return entry{}, off, fmt.Errorf("read frame header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < entryFixed || size > maxPayload {
		return entry{}, off, fmt.Errorf("frame length %d: %w", size, errCorrupt)
	}
	if cap(fr.buf) < int(size) {
		fr.buf = make([]byte, size, max(int(size), 64<<10))
	}
	p := fr.buf[:size]
	if _, err := io.ReadFull(fr.r, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return entry{}, off, fmt.Errorf("frame payload: %w", errTorn)
		}
		return entry{}, off, fmt.Errorf("read frame payload: %w", err)
	}
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
		return entry{}, off, fmt.Errorf("frame checksum mismatch: %w", errCorrupt)
	}
	e, err := decodePayload(p)
	if err != nil {
		return entry{}, off, err
	}
	fr.off += frameHeaderSize + int64(size)
	return e, off, nil
}

func crcOf(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }
