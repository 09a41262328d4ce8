package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// File names inside the log directory.
const (
	keyFileName        = "log.key"     // note signer key, mode 0600
	pubFileName        = "log.pub"     // note verifier key
	checkpointsName    = "checkpoints" // append-only framed history of signed checkpoints
	latestCheckpoint   = "checkpoint"  // the latest signed checkpoint, plain text
	hashFileName       = "hashes"      // stored Merkle hashes, 32 bytes each
	lockFileName       = "LOCK"
	cpRecordHeaderSize = 8 // length(4) | crc32c(note)(4)
	maxCheckpointSize  = 64 << 10
)

func validKeyName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsRune(name, '+') {
		return false
	}
	return !strings.ContainsFunc(name, unicode.IsSpace)
}

// loadOrCreateKey returns the signer of the log in dir and the log's key set. With an external
// signer (opts.Signer) the key never touches dir: only its public key is added to log.pub.
// Without one the key lives in dir/log.key, created on first use.
func loadOrCreateKey(dir string, opts *Options) (Signer, keySet, error) {
	origin := opts.Origin
	if opts.Signer != nil {
		if opts.Signer.Name() != origin {
			return nil, keySet{}, fmt.Errorf("signing key is for origin %q, not %q", opts.Signer.Name(), origin)
		}
		v, err := note.NewVerifier(opts.PublicKey)
		if err != nil {
			return nil, keySet{}, fmt.Errorf("public key of the signing key: %w", err)
		}
		if v.KeyHash() != opts.Signer.KeyHash() || v.Name() != origin {
			return nil, keySet{}, errors.New("Options.PublicKey does not belong to Options.Signer")
		}
		ks, err := publishKey(dir, opts.PublicKey)
		return opts.Signer, ks, err
	}
	keyPath := filepath.Join(dir, keyFileName)
	skey, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		sk, _, err := GenerateKey(origin)
		if err != nil {
			return nil, keySet{}, fmt.Errorf("generate log key: %w", err)
		}
		if err := writeFileSync(keyPath, []byte(sk+"\n"), 0o600); err != nil {
			return nil, keySet{}, err
		}
		if err := syncDir(dir); err != nil {
			return nil, keySet{}, err
		}
		skey = []byte(sk)
	} else if err != nil {
		return nil, keySet{}, fmt.Errorf("read log key: %w", err)
	}
	signer, vkey, err := ParseSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		// The key text itself is secret: never include it in the error.
		return nil, keySet{}, errors.New("parse log key: invalid signer key")
	}
	if signer.Name() != origin {
		return nil, keySet{}, fmt.Errorf("log key is for origin %q, not %q", signer.Name(), origin)
	}
	ks, err := publishKey(dir, vkey)
	return signer, ks, err
}

// readVerifier reads the current public verifier key of dir.
func readVerifier(dir string) (note.Verifier, string, error) {
	ks, err := readKeySet(dir)
	if err != nil {
		return nil, "", err
	}
	return ks.verifiers[len(ks.verifiers)-1], ks.current(), nil
}

// checkpoint is a parsed, signature-checked checkpoint.
type checkpoint struct {
	size   uint64
	root   tlog.Hash
	signed []byte
}

func signCheckpoint(s Signer, size uint64, root tlog.Hash) ([]byte, error) {
	body := log.Checkpoint{Origin: s.Name(), Size: size, Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return signed, nil
}

// canonicalSignatures rejects signed notes whose signature lines are not in canonical base64.
// note.Open decodes signatures leniently, so the unused low bits of a signature's last base64
// character could be flipped without failing verification: one altered byte that verifies.
func canonicalSignatures(signed []byte) error {
	// Signatures follow the last blank line (note text cannot end in one).
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return errors.New("signed note: no signature block")
	}
	sigs := signed[i+2:]
	for _, line := range bytes.Split(bytes.TrimSuffix(sigs, []byte("\n")), []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 {
			return errors.New("signed note: malformed signature line")
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(string(f[2])); err != nil {
			return errors.New("signed note: signature not in canonical base64")
		}
	}
	return nil
}

// openCheckpoint checks the log signature of a signed checkpoint and parses it.
func openCheckpoint(signed []byte, v note.Verifier) (checkpoint, error) {
	if err := canonicalSignatures(signed); err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	cp, _, _, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	if len(cp.Hash) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint: root hash of %d bytes", len(cp.Hash))
	}
	return checkpoint{size: cp.Size, root: tlog.Hash(cp.Hash), signed: signed}, nil
}

func appendCheckpointRecord(dst, signed []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(signed)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(signed, castagnoli))
	return append(dst, signed...)
}

// checkpointRecord is one framed record of the checkpoint history.
type checkpointRecord struct {
	off    int64
	signed []byte
}

// parseCheckpointRecords splits the checkpoint history. It returns the
// complete records, the end of the last complete record and, if the data
// does not end there, the reason (wrapping errTorn when the final record is
// incomplete or fails its checksum at the very end of the file, errCorrupt
// otherwise).
func parseCheckpointRecords(b []byte) ([]checkpointRecord, int64, error) {
	var recs []checkpointRecord
	off := 0
	for off < len(b) {
		if len(b)-off < cpRecordHeaderSize {
			return recs, int64(off), fmt.Errorf("checkpoint record at %d: %w", off, errTorn)
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n == 0 || n > maxCheckpointSize {
			return recs, int64(off), fmt.Errorf("checkpoint record at %d: length %d: %w", off, n, errCorrupt)
		}
		end := off + cpRecordHeaderSize + n
		if end > len(b) {
			return recs, int64(off), fmt.Errorf("checkpoint record at %d: %w", off, errTorn)
		}
		body := b[off+cpRecordHeaderSize : end]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[off+4:]) {
			kind := errCorrupt
			if end == len(b) {
				kind = errTorn
			}
			return recs, int64(off), fmt.Errorf("checkpoint record at %d: checksum mismatch: %w", off, kind)
		}
		recs = append(recs, checkpointRecord{off: int64(off), signed: body})
		off = end
	}
	return recs, int64(off), nil
}

func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeFileAtomic replaces path with data via a synced temporary file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(path), err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}
