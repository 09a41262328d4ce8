package audit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// VerifyProof checks an inclusion proof of the entry leaf the way an outside verifier would:
// the checkpoint must be signed by verifierKey (a note verifier key, e.g. [Log.PublicKey]),
// the proof's leaf hash must be the hash of leaf, and the proof must lead from that hash to the
// checkpoint's root.
func VerifyProof(p *Proof, leaf []byte, verifierKey string) error {
	if p == nil {
		return errors.New("no proof")
	}
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	cp, err := openCheckpoint([]byte(p.Checkpoint), v)
	if err != nil {
		return err
	}
	if cp.size != p.TreeSize || p.Index >= cp.size {
		return fmt.Errorf("proof of entry %d in a tree of %d does not match the checkpoint's size %d", p.Index, p.TreeSize, cp.size)
	}
	lh := leafHash(leaf)
	if !bytes.Equal(lh[:], p.LeafHash) {
		return errors.New("the entry's hash is not the proof's leaf hash")
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.size, lh[:], p.Hashes, cp.root[:]); err != nil {
		return fmt.Errorf("inclusion: %w", err)
	}
	return nil
}
