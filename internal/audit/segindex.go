package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// A segment index (seg-<first>.idx) lets Open skip reading a sealed segment: it holds the
// segment's frame offsets and record IDs, so start-up reads about 45 bytes per entry instead
// of the whole entry. It is written for every sealed segment (at Open after a full scan, and at
// Close for segments sealed while open) and used only if it matches the segment: its checksum,
// first index, the segment's file size and the index of the last frame, which is read and
// checked. It is derived data: deleting it only makes the next start-up slower. Corruption
// inside a sealed segment is then found when the entry is read and by `audit verify`, not at
// start-up.
//
// Layout (big-endian): magic "WIDX1\n" | first u64 | count u64 | logSize u64 | blobSize u64 |
// count × offset u32 | count × (idLen u16 | id) | crc32c of all before, u32.

const segIndexMagic = "WIDX1\n"

func segIndexName(first uint64) string { return fmt.Sprintf("seg-%016x.idx", first) }

// segIndexData is what an index file records of one sealed segment.
type segIndexData struct {
	first, logSize, blobSize uint64
	offsets                  []uint32
	ids                      [][]byte
}

func (d *segIndexData) marshal() []byte {
	n := len(segIndexMagic) + 32 + 4*len(d.offsets) + 4
	for _, id := range d.ids {
		n += 2 + len(id)
	}
	b := make([]byte, 0, n)
	b = append(b, segIndexMagic...)
	b = binary.BigEndian.AppendUint64(b, d.first)
	b = binary.BigEndian.AppendUint64(b, uint64(len(d.offsets)))
	b = binary.BigEndian.AppendUint64(b, d.logSize)
	b = binary.BigEndian.AppendUint64(b, d.blobSize)
	for _, o := range d.offsets {
		b = binary.BigEndian.AppendUint32(b, o)
	}
	for _, id := range d.ids {
		b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
		b = append(b, id...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errSegIndex = errors.New("segment index does not match")

// parseSegIndex decodes an index file. IDs alias b.
func parseSegIndex(b []byte) (*segIndexData, error) {
	const fixed = len(segIndexMagic) + 32
	if len(b) < fixed+4 || string(b[:len(segIndexMagic)]) != segIndexMagic {
		return nil, fmt.Errorf("%w: header", errSegIndex)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum", errSegIndex)
	}
	p := body[len(segIndexMagic):]
	d := &segIndexData{first: binary.BigEndian.Uint64(p), logSize: binary.BigEndian.Uint64(p[16:]), blobSize: binary.BigEndian.Uint64(p[24:])}
	count := binary.BigEndian.Uint64(p[8:])
	p = p[32:]
	if count == 0 || count > uint64(len(p))/6 {
		return nil, fmt.Errorf("%w: count %d", errSegIndex, count)
	}
	d.offsets = make([]uint32, count)
	for i := range d.offsets {
		d.offsets[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	p = p[4*count:]
	d.ids = make([][]byte, count)
	for i := range d.ids {
		if len(p) < 2 {
			return nil, fmt.Errorf("%w: id %d", errSegIndex, i)
		}
		n := int(binary.BigEndian.Uint16(p))
		if n == 0 || n > MaxIDLen || len(p) < 2+n {
			return nil, fmt.Errorf("%w: id %d", errSegIndex, i)
		}
		d.ids[i], p = p[2:2+n], p[2+n:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errSegIndex, len(p))
	}
	return d, nil
}

// loadSegIndex reads the index of the sealed segment starting at first and checks it against
// the open segment file f. It returns nil (and no error) when there is no usable index.
func (l *Log) loadSegIndex(first uint64, f *os.File) *segIndexData {
	path := filepath.Join(l.dir, segIndexName(first))
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	bad := func(err error) *segIndexData {
		l.logger.Warn("segment index unusable; reading the segment", "segment", logSegName(first), "err", err)
		return nil
	}
	if err != nil {
		return bad(err)
	}
	d, err := parseSegIndex(b)
	if err != nil {
		return bad(err)
	}
	st, err := f.Stat()
	if err != nil {
		return bad(err)
	}
	if d.first != first || uint64(st.Size()) != d.logSize {
		return bad(fmt.Errorf("%w: segment is %d bytes from %d, index says %d from %d", errSegIndex, st.Size(), first, d.logSize, d.first))
	}
	lastOff := int64(d.offsets[len(d.offsets)-1])
	e, err := readEntryAt(f, lastOff)
	if err != nil {
		return bad(err)
	}
	var hdr [4]byte
	if _, err := f.ReadAt(hdr[:], lastOff); err != nil {
		return bad(err)
	}
	end := lastOff + frameHeaderSize + int64(binary.BigEndian.Uint32(hdr[:]))
	if e.index != first+uint64(len(d.offsets))-1 || string(e.id) != string(d.ids[len(d.ids)-1]) || end != int64(d.logSize) {
		return bad(fmt.Errorf("%w: last frame", errSegIndex))
	}
	return d
}

// writeSegIndex writes an index atomically; failures are logged, never fatal.
func (l *Log) writeSegIndex(d *segIndexData) {
	if len(d.offsets) == 0 {
		return
	}
	if err := writeFileAtomic(filepath.Join(l.dir, segIndexName(d.first)), d.marshal(), 0o600); err != nil {
		l.logger.Warn("could not write segment index", "segment", logSegName(d.first), "err", err)
	}
}

// indexSealed writes the index of every sealed segment that has none, reading each one.
// Called by Close, after the final checkpoint.
func (l *Log) indexSealed() {
	for _, s := range l.segs[:max(len(l.segs)-1, 0)] {
		if s.indexed {
			continue
		}
		d := &segIndexData{first: s.first, logSize: uint64(s.logSize), blobSize: uint64(s.blobSize)}
		fr := newFrameReader(io.NewSectionReader(s.log, segHeaderSize, s.logSize-segHeaderSize), segHeaderSize)
		ok := true
		for {
			e, off, err := fr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				l.logger.Warn("could not index segment", "segment", logSegName(s.first), "err", err)
				ok = false
				break
			}
			d.offsets = append(d.offsets, uint32(off))
			d.ids = append(d.ids, append([]byte(nil), e.id...))
		}
		if ok && len(d.offsets) == len(s.offsets) {
			l.writeSegIndex(d)
			s.indexed = true
		}
	}
}
