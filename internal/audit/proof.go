package audit

import (
	"crypto/sha256"
	"fmt"

	tproof "github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/tlog"
)

// Proof is an inclusion proof of one entry against a signed checkpoint. It
// marshals to JSON as {index, tree_size, leaf_hash, hashes[], checkpoint}
// with hashes in standard base64 and the checkpoint as signed-note text.
type Proof struct {
	Index      uint64   `json:"index"`
	TreeSize   uint64   `json:"tree_size"`
	LeafHash   []byte   `json:"leaf_hash"`
	Hashes     [][]byte `json:"hashes"`
	Checkpoint string   `json:"checkpoint"`
}

// TLogProof returns the proof in the C2SP tlog-proof text form
// (https://c2sp.org/tlog-proof).
func (p *Proof) TLogProof() []byte {
	tp := tproof.TLogProof{Index: p.Index, Checkpoint: []byte(p.Checkpoint)}
	for _, h := range p.Hashes {
		tp.Hashes = append(tp.Hashes, [sha256.Size]byte(h))
	}
	return tp.Marshal()
}

// InclusionProof proves entry i against the latest checkpoint, signing a
// new checkpoint first if the latest one does not cover i yet.
func (l *Log) InclusionProof(i uint64) (*Proof, error) {
	l.mu.RLock()
	cp, size, closed := l.cp, l.size, l.closed
	l.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if i >= size {
		return nil, fmt.Errorf("audit: entry %d: %w", i, ErrNotFound)
	}
	if i >= cp.size {
		if err := l.requestCheckpoint(); err != nil {
			return nil, fmt.Errorf("audit: checkpoint for proof: %w", err)
		}
		l.mu.RLock()
		cp = l.cp
		l.mu.RUnlock()
	}
	hr := hashFile{f: l.hashes, limit: storedHashes(cp.size)}
	rp, err := tlog.ProveRecord(int64(cp.size), int64(i), hr)
	if err != nil {
		return nil, fmt.Errorf("audit: prove entry %d: %w", i, err)
	}
	lh, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(i))})
	if err != nil {
		return nil, fmt.Errorf("audit: leaf hash %d: %w", i, err)
	}
	p := &Proof{Index: i, TreeSize: cp.size, LeafHash: lh[0][:], Checkpoint: string(cp.signed), Hashes: make([][]byte, len(rp))}
	for k := range rp {
		p.Hashes[k] = rp[k][:]
	}
	return p, nil
}

// ConsistencyProof proves that the tree of oldSize entries is a prefix of
// the tree of newSize entries (RFC 6962 §2.1.2 order).
func (l *Log) ConsistencyProof(oldSize, newSize uint64) ([][]byte, error) {
	l.mu.RLock()
	size, closed := l.size, l.closed
	l.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if oldSize > newSize || newSize > size {
		return nil, fmt.Errorf("audit: consistency %d..%d with %d entries: %w", oldSize, newSize, size, ErrNotFound)
	}
	return proveConsistency(hashFile{f: l.hashes, limit: storedHashes(newSize)}, oldSize, newSize)
}

func proveConsistency(hr tlog.HashReader, oldSize, newSize uint64) ([][]byte, error) {
	if oldSize == 0 || oldSize == newSize {
		return [][]byte{}, nil
	}
	tp, err := tlog.ProveTree(int64(newSize), int64(oldSize), hr)
	if err != nil {
		return nil, fmt.Errorf("audit: prove consistency %d..%d: %w", oldSize, newSize, err)
	}
	out := make([][]byte, len(tp))
	for k := range tp {
		out[k] = tp[k][:]
	}
	return out, nil
}
