package audit

import (
	"errors"
	"fmt"
	"path/filepath"

	tnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// witnessedName is the log directory's latest witness-cosigned checkpoint: the log's signed
// checkpoint with the witnesses' cosignature lines (C2SP tlog-cosignature) appended.
const witnessedName = "witnessed"

// openCosigned checks that signed is a checkpoint signed by a key of ks and cosigned by every
// witness key (note verifier keys of the witnesses' Ed25519 keys, or cosignature/v1 keys).
// It returns the checkpoint and the names of the witnesses.
func openCosigned(signed []byte, ks keySet, witnessKeys []string) (checkpoint, []string, error) {
	cp, err := ks.open(signed)
	if err != nil {
		return checkpoint{}, nil, err
	}
	var names []string
	for _, wk := range witnessKeys {
		v, err := tnote.NewVerifierForCosignatureV1(wk)
		if err != nil {
			return checkpoint{}, nil, fmt.Errorf("witness key %q: %w", wk, err)
		}
		n, err := note.Open(signed, note.VerifierList(v))
		if err != nil {
			var unv *note.UnverifiedNoteError
			if errors.As(err, &unv) {
				return checkpoint{}, nil, fmt.Errorf("no cosignature by witness %s", v.Name())
			}
			return checkpoint{}, nil, fmt.Errorf("cosignature by witness %s: %w", v.Name(), err)
		}
		if len(n.Sigs) == 0 {
			return checkpoint{}, nil, fmt.Errorf("no cosignature by witness %s", v.Name())
		}
		names = append(names, v.Name())
	}
	return cp, names, nil
}

// CheckpointNow signs a checkpoint of every entry appended so far (unless the latest one
// already covers them) and returns it: what a witness is given to cosign.
func (l *Log) CheckpointNow() ([]byte, error) {
	if err := l.requestCheckpoint(); err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	return l.Checkpoint()
}

// SetWitnessed stores cosigned — a checkpoint of this log, signed by its key, with witness
// cosignature lines appended — as the log's latest witnessed checkpoint (DIR/witnessed), which
// `warden audit verify --witness-key` checks. A checkpoint not signed by the log is refused.
func (l *Log) SetWitnessed(cosigned []byte) error {
	cp, err := l.keys.open(cosigned)
	if err != nil {
		return fmt.Errorf("audit: witnessed checkpoint: %w", err)
	}
	if cp.size > l.Size() {
		return fmt.Errorf("audit: witnessed checkpoint of size %d is beyond the log's %d entries", cp.size, l.Size())
	}
	if err := writeFileAtomic(filepath.Join(l.dir, witnessedName), cosigned, 0o600); err != nil {
		return fmt.Errorf("audit: write witnessed checkpoint: %w", err)
	}
	return nil
}
