package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Signer signs checkpoints and evidence manifests. It is the method set of
// golang.org/x/mod/sumdb/note.Signer, so a key loaded with [LoadSignerFile]
// satisfies it, and so can a signer backed by a KMS or an HSM: Name is the
// log origin, KeyHash the note key hash of its public key, Sign an Ed25519
// signature of msg.
type Signer interface {
	Name() string
	KeyHash() uint32
	Sign(msg []byte) ([]byte, error)
}

// ErrUnknownKey means a checkpoint or manifest is not signed by any trusted key.
var ErrUnknownKey = errors.New("audit: not signed by a trusted key")

// GenerateKey returns a new Ed25519 note signer key (secret) and its verifier key for origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	if !validKeyName(origin) {
		return "", "", fmt.Errorf("audit: origin %q is not a valid note key name", origin)
	}
	return note.GenerateKey(rand.Reader, origin)
}

// LoadSignerFile reads a note signer key (PRIVATE+KEY+…) from path and returns the signer and
// its verifier key. The file must not be readable by group or others.
func LoadSignerFile(path string) (Signer, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("signing key %s is accessible by group or others (mode %04o); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	return ParseSigner(strings.TrimSpace(string(b)))
}

// ParseSigner parses a note Ed25519 signer key and derives its verifier key. Errors never
// include the key text.
func ParseSigner(skey string) (Signer, string, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", errors.New("signing key: not a valid note signer key")
	}
	// PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>
	f := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(f[len(f)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, "", errors.New("signing key: not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	return s, vkey, nil
}

// keySet is a set of trusted note verifier keys: the keys a log has used (log.pub lists
// every one, oldest first, so that checkpoints signed before a rotation still verify) or
// the keys an auditor pinned.
type keySet struct {
	keys      []string
	verifiers []note.Verifier
}

// parseKeySet parses verifier keys, one per line (blank lines and # comments ignored).
func parseKeySet(text string) (keySet, error) {
	var ks keySet
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			return keySet{}, fmt.Errorf("public key %q: %w", line, err)
		}
		if slices.Contains(ks.keys, line) {
			continue
		}
		ks.keys = append(ks.keys, line)
		ks.verifiers = append(ks.verifiers, v)
	}
	if len(ks.keys) == 0 {
		return keySet{}, errors.New("no public key")
	}
	return ks, nil
}

// ParseKeys parses trusted verifier keys: a key itself, or the contents of a file with one
// key per line. It returns them normalized, for [VerifyOptions.Keys].
func ParseKeys(text string) ([]string, error) {
	ks, err := parseKeySet(text)
	if err != nil {
		return nil, err
	}
	return ks.keys, nil
}

func (ks keySet) text() string { return strings.Join(ks.keys, "\n") + "\n" }

// current is the newest key of the set (the one a log signs with now).
func (ks keySet) current() string { return ks.keys[len(ks.keys)-1] }

// open checks that signed is a checkpoint signed by one of the keys of the set (whose name
// is the checkpoint's origin).
func (ks keySet) open(signed []byte) (checkpoint, error) {
	if err := canonicalSignatures(signed); err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(ks.verifiers...))
	if err != nil {
		var unv *note.UnverifiedNoteError
		if errors.As(err, &unv) {
			return checkpoint{}, fmt.Errorf("checkpoint: %w", ErrUnknownKey)
		}
		return checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	for _, sig := range n.Sigs {
		for _, v := range ks.verifiers {
			if v.Name() == sig.Name && v.KeyHash() == sig.Hash {
				return openCheckpoint(signed, v)
			}
		}
	}
	return checkpoint{}, fmt.Errorf("checkpoint: %w", ErrUnknownKey)
}

// readKeySet reads the public keys of the log directory dir.
func readKeySet(dir string) (keySet, error) {
	b, err := os.ReadFile(filepath.Join(dir, pubFileName))
	if err != nil {
		return keySet{}, fmt.Errorf("read public key: %w", err)
	}
	ks, err := parseKeySet(string(b))
	if err != nil {
		return keySet{}, fmt.Errorf("parse %s: %w", pubFileName, err)
	}
	return ks, nil
}

// publishKey makes sure vkey is listed in dir's log.pub (appending it after the keys used
// before: a rotation), and returns the key set.
func publishKey(dir, vkey string) (keySet, error) {
	ks, err := readKeySet(dir)
	if errors.Is(err, fs.ErrNotExist) {
		ks = keySet{}
	} else if err != nil {
		return keySet{}, err
	}
	if slices.Contains(ks.keys, vkey) && ks.current() == vkey {
		return ks, nil
	}
	keys := slices.DeleteFunc(slices.Clone(ks.keys), func(k string) bool { return k == vkey })
	ks, err = parseKeySet(strings.Join(append(keys, vkey), "\n"))
	if err != nil {
		return keySet{}, err
	}
	if err := writeFileAtomic(filepath.Join(dir, pubFileName), []byte(ks.text()), 0o600); err != nil {
		return keySet{}, err
	}
	return ks, syncDir(dir)
}
