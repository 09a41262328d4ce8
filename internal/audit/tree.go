package audit

import (
	"crypto/sha256"
	"fmt"
	"math/bits"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// edge is the right edge of the Merkle tree (the roots of its complete
// subtrees, largest first): all the writer needs in memory to append leaves
// and compute the root. It produces the stored hashes in the order and at the
// positions of golang.org/x/mod/sumdb/tlog (StoredHashIndex).
type edge struct {
	n      uint64
	hashes []tlog.Hash
}

// add appends the leaf hash h and appends the stored hashes that the new
// leaf creates to out.
func (e *edge) add(h tlog.Hash, out []tlog.Hash) []tlog.Hash {
	out = append(out, h)
	for k := e.n; k&1 == 1; k >>= 1 {
		left := e.hashes[len(e.hashes)-1]
		e.hashes = e.hashes[:len(e.hashes)-1]
		h = tlog.NodeHash(left, h)
		out = append(out, h)
	}
	e.hashes = append(e.hashes, h)
	e.n++
	return out
}

// root returns the RFC 6962 root hash of the tree of e.n leaves.
func (e *edge) root() tlog.Hash {
	if e.n == 0 {
		return tlog.Hash(sha256.Sum256(nil))
	}
	h := e.hashes[len(e.hashes)-1]
	for i := len(e.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(e.hashes[i], h)
	}
	return h
}

func (e *edge) clone() edge {
	return edge{n: e.n, hashes: append([]tlog.Hash(nil), e.hashes...)}
}

// edgeFromStored rebuilds the right edge of a tree of n leaves from stored hashes.
func edgeFromStored(n uint64, r tlog.HashReader) (edge, error) {
	var idx []int64
	var start uint64
	for level := 63; level >= 0; level-- {
		if n&(1<<uint(level)) == 0 {
			continue
		}
		idx = append(idx, tlog.StoredHashIndex(level, int64(start>>uint(level))))
		start += 1 << uint(level)
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return edge{}, err
	}
	if len(hs) != len(idx) {
		return edge{}, fmt.Errorf("read %d hashes, want %d", len(hs), len(idx))
	}
	return edge{n: n, hashes: hs}, nil
}

// storedHashes returns how many stored hashes a tree of n leaves has.
func storedHashes(n uint64) int64 { return int64(2*n) - int64(bits.OnesCount64(n)) }

// hashFile reads stored hashes from the hash file with pread. limit is the
// number of hashes that may be read.
type hashFile struct {
	f     *os.File
	limit int64
}

func (h hashFile) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= h.limit {
			return nil, fmt.Errorf("stored hash %d beyond %d", x, h.limit)
		}
		if _, err := h.f.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
			return nil, fmt.Errorf("read stored hash %d: %w", x, err)
		}
	}
	return out, nil
}

// leafHash is the RFC 6962 leaf hash SHA-256(0x00 || leaf).
func leafHash(leaf []byte) tlog.Hash { return tlog.RecordHash(leaf) }
