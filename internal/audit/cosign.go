package audit

import (
	"errors"
	"fmt"

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
