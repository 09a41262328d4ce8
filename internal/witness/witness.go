package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	tlog "github.com/transparency-dev/formats/log"
	tnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/warden-ai/warden/internal/atomicfile"
	"golang.org/x/mod/sumdb/note"
)

// File names in a witness's state directory.
const (
	keyFile   = "witness.key" // the witness's note signer key, 0600
	pubFile   = "witness.pub" // its cosignature/v1 verifier key
	stateFile = "state.json"  // latest cosigned checkpoint per origin, 0600
)

// Error is a refusal of an add-checkpoint request with the HTTP status the protocol assigns.
type Error struct {
	Status int    // 400, 403, 404, 409 or 422
	Reason string // for humans
	// Size is the witness's latest cosigned size for the origin (Status 409).
	Size uint64
}

func (e *Error) Error() string { return fmt.Sprintf("witness: %s (HTTP %d)", e.Reason, e.Status) }

// Options configures a Witness.
type Options struct {
	// Dir holds the witness's key and state (0700; files 0600). Created when missing.
	Dir string
	// Name is the witness's key name, used when Dir has no key yet (e.g. "witness.example.com").
	Name string
	// LogKeys are the note verifier keys of the logs the witness cosigns; a key's name is the
	// log's origin. Several keys of one origin are all accepted (key rotation).
	LogKeys []string
	Logger  *slog.Logger
}

// Witness cosigns checkpoints of the logs it trusts. Safe for concurrent use.
type Witness struct {
	dir    string
	signer note.Signer
	vkey   string
	logs   map[string]note.Verifiers
	log    *slog.Logger

	mu    sync.Mutex
	state map[string]*logState
}

// logState is what the witness remembers of one log: its latest cosigned checkpoint.
type logState struct {
	Size       uint64 `json:"size"`
	Root       []byte `json:"root"`
	Checkpoint string `json:"checkpoint"`
}

// New opens (or creates) the witness in o.Dir.
func New(o Options) (*Witness, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.LogKeys) == 0 {
		return nil, errors.New("witness: no log keys: a witness must know which logs it cosigns")
	}
	w := &Witness{dir: o.Dir, logs: map[string]note.Verifiers{}, state: map[string]*logState{}, log: o.Logger.With("component", "witness")}
	byOrigin := map[string][]note.Verifier{}
	for _, k := range o.LogKeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("witness: log key %q: %w", k, err)
		}
		byOrigin[v.Name()] = append(byOrigin[v.Name()], v)
	}
	for origin, vs := range byOrigin {
		w.logs[origin] = note.VerifierList(vs...)
	}
	skey, err := initKey(o.Dir, o.Name)
	if err != nil {
		return nil, err
	}
	s, err := tnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness: key %s: %w", keyFile, err)
	}
	w.signer = s
	if w.vkey, err = cosigVKey(skey); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(o.Dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: %w", err)
	default:
		if err := json.Unmarshal(data, &w.state); err != nil {
			return nil, fmt.Errorf("witness: %s: %w", stateFile, err)
		}
	}
	return w, nil
}

// InitKey creates the state directory (0700) and the witness's key named name in it unless
// there is one, writes witness.pub, and returns the verifier key: what the logs' configuration
// and the verifiers need, known before the witness first serves.
func InitKey(dir, name string) (string, error) {
	skey, err := initKey(dir, name)
	if err != nil {
		return "", err
	}
	return cosigVKey(skey)
}

// initKey returns the signer key of the witness in dir, creating it (named name) if missing,
// and keeps witness.pub beside it.
func initKey(dir, name string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("witness: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // a directory needs its x bit; 0700 is owner-only
		return "", fmt.Errorf("witness: %w", err)
	}
	skey, err := os.ReadFile(filepath.Join(dir, keyFile))
	if errors.Is(err, os.ErrNotExist) {
		if name == "" {
			return "", errors.New("witness: no key in the state directory and no name to create one")
		}
		sk, _, gerr := note.GenerateKey(rand.Reader, name)
		if gerr != nil {
			return "", fmt.Errorf("witness: generate key: %w", gerr)
		}
		skey = []byte(sk)
		if err := atomicfile.Write(filepath.Join(dir, keyFile), skey); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", fmt.Errorf("witness: %w", err)
	}
	sk := strings.TrimSpace(string(skey))
	vkey, err := cosigVKey(sk)
	if err != nil {
		return "", fmt.Errorf("witness: key %s: %w", keyFile, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, pubFile), []byte(vkey+"\n")); err != nil {
		return "", err
	}
	return sk, nil
}

// cosigVKey derives the cosignature/v1 verifier key (algorithm 0x04) of an Ed25519 note
// signer key ("PRIVATE+KEY+name+hash+base64(0x01 || seed)").
func cosigVKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("witness: malformed key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("witness: key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	plain, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return "", fmt.Errorf("witness: key: %w", err)
	}
	return tnote.VKeyToCosignatureV1(plain)
}

// VerifierKey is the witness's public key in cosignature/v1 form, for verifiers
// (`warden audit verify --witness-key`) and the logs' witness configuration.
func (w *Witness) VerifierKey() string { return w.vkey }

// Latest returns the latest checkpoint the witness cosigned for origin, with its cosignature
// (nil when none).
func (w *Witness) Latest(origin string) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st := w.state[origin]; st != nil {
		return []byte(st.Checkpoint)
	}
	return nil
}

// AddCheckpoint checks a request and, if the checkpoint is a consistent extension of the
// latest one cosigned for its origin, records it and returns the witness's cosignature line
// ("— name base64\n"). Refusals are *Error with the protocol's status.
func (w *Witness) AddCheckpoint(_ context.Context, r *Request) ([]byte, error) {
	origin, _, _ := bytes.Cut(r.Checkpoint, []byte("\n"))
	vs, ok := w.logs[string(origin)]
	if !ok {
		return nil, &Error{Status: 404, Reason: fmt.Sprintf("unknown log origin %q", origin)}
	}
	n, err := note.Open(r.Checkpoint, vs)
	if err != nil {
		var unv *note.UnverifiedNoteError
		if errors.As(err, &unv) {
			return nil, &Error{Status: 403, Reason: "no signature by a trusted key of the log"}
		}
		return nil, &Error{Status: 400, Reason: fmt.Sprintf("checkpoint note: %v", err)}
	}
	var cp tlog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, &Error{Status: 400, Reason: fmt.Sprintf("checkpoint: %v", err)}
	}
	if cp.Size < r.OldSize {
		return nil, &Error{Status: 400, Reason: fmt.Sprintf("checkpoint size %d is below the old size %d", cp.Size, r.OldSize)}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.state[cp.Origin]
	var prevSize uint64
	var prevRoot []byte
	if prev != nil {
		prevSize, prevRoot = prev.Size, prev.Root
	}
	if r.OldSize != prevSize {
		return nil, &Error{Status: 409, Size: prevSize, Reason: fmt.Sprintf("old size %d is not the latest cosigned size %d", r.OldSize, prevSize)}
	}
	if cp.Size == prevSize && prevSize > 0 {
		if !bytes.Equal(cp.Hash, prevRoot) {
			return nil, &Error{Status: 409, Size: prevSize, Reason: fmt.Sprintf("a different root for size %d than the one cosigned: the log forked", prevSize)}
		}
	} else if prevSize > 0 {
		p := make([][]byte, len(r.Proof))
		for i := range r.Proof {
			p[i] = r.Proof[i][:]
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, prevSize, cp.Size, p, prevRoot, cp.Hash); err != nil {
			w.log.Warn("inconsistent checkpoint refused", "origin", cp.Origin, "old", prevSize, "new", cp.Size, "err", err)
			return nil, &Error{Status: 422, Reason: fmt.Sprintf("consistency proof from %d to %d: %v", prevSize, cp.Size, err)}
		}
	}
	// Cosign: the cosignature/v1 signer adds the time and signs the checkpoint text.
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, fmt.Errorf("witness: cosign: %w", err)
	}
	sig := signed[len(n.Text)+1:] // after the blank line: the single signature line
	cosigned := append(bytes.TrimRight(r.Checkpoint, "\n"), '\n')
	cosigned = append(cosigned, sig...)
	next := &logState{Size: cp.Size, Root: cp.Hash, Checkpoint: string(cosigned)}
	old := w.state[cp.Origin]
	w.state[cp.Origin] = next
	if err := w.saveLocked(); err != nil {
		w.state[cp.Origin] = old
		return nil, err
	}
	w.log.Info("cosigned", "origin", cp.Origin, "size", cp.Size)
	return sig, nil
}

func (w *Witness) saveLocked() error {
	data, err := json.MarshalIndent(w.state, "", "  ")
	if err != nil {
		return fmt.Errorf("witness: encode state: %w", err)
	}
	return atomicfile.Write(filepath.Join(w.dir, stateFile), data)
}
