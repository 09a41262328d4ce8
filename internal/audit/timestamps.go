package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// timestampsDir holds RFC 3161 time-stamp tokens over checkpoints: timestamps/<size, 20
// digits>.tst is a DER token whose imprint is the SHA-256 of the signed checkpoint of that
// size (the note bytes as in the checkpoints history).
const timestampsDir = "timestamps"

var tokenNameRe = regexp.MustCompile(`^([0-9]{20})\.tst$`)

// MaxTimestampToken bounds a stored token.
const MaxTimestampToken = 64 << 10

// TimestampInfo is what a checked token says.
type TimestampInfo struct {
	Time   time.Time // the TSA's time
	Signer string    // the TSA certificate's subject
	Digest []byte    // the SHA-256 digest the TSA signed
}

// TimestampVerifier checks a DER RFC 3161 token against the TSAs the verifier trusts (its
// signature and certificate chain: internal/tsa.VerifyToken with the roots of --tsa-cert) and
// returns what it says; the log compares the digest with its checkpoint's.
type TimestampVerifier func(token []byte) (TimestampInfo, error)

// TimestampMismatchError is a trusted token that is not over the checkpoint of its size.
type TimestampMismatchError struct {
	Size         uint64
	Time         time.Time
	NoCheckpoint bool // no checkpoint of that size at all
}

func (e *TimestampMismatchError) Error() string {
	if e.NoCheckpoint {
		return fmt.Sprintf("time-stamp token of size %d: no signed checkpoint of that size", e.Size)
	}
	return fmt.Sprintf("time-stamp token of size %d is over another checkpoint of that size", e.Size)
}

// Timestamp is one verified token of a log or an evidence package.
type Timestamp struct {
	Size uint64 // the checkpoint it is over: the first Size entries existed at Time
	TimestampInfo
}

func timestampName(size uint64) string { return fmt.Sprintf("%020d.tst", size) }

// CheckpointDigest is the digest a time-stamp token of a checkpoint is over.
func CheckpointDigest(signed []byte) [sha256.Size]byte { return sha256.Sum256(signed) }

// AddTimestamp stores token, an RFC 3161 time-stamp token over CheckpointDigest(cp) where cp is
// the log's signed checkpoint of size size (as CheckpointNow returned it), beside the
// checkpoints (DIR/timestamps/, 0700; files 0600).
func (l *Log) AddTimestamp(size uint64, token []byte) error {
	if len(token) == 0 || len(token) > MaxTimestampToken {
		return fmt.Errorf("audit: time-stamp token of %d bytes (1..%d)", len(token), MaxTimestampToken)
	}
	if size == 0 || size > l.Size() {
		return fmt.Errorf("audit: time-stamp token for size %d of a log of %d entries", size, l.Size())
	}
	dir := filepath.Join(l.dir, timestampsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, timestampName(size)), token, 0o600); err != nil {
		return fmt.Errorf("audit: write time-stamp token: %w", err)
	}
	return nil
}

// readTimestamps returns the stored tokens by checkpoint size, ascending.
func readTimestamps(dir string) ([]uint64, map[uint64][]byte, error) {
	ents, err := os.ReadDir(filepath.Join(dir, timestampsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	out := map[uint64][]byte{}
	var sizes []uint64
	for _, e := range ents {
		m := tokenNameRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		size, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, timestampsDir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		out[size] = b
		sizes = append(sizes, size)
	}
	slices.Sort(sizes)
	return sizes, out, nil
}

// checkTimestamp verifies the token stored for size and that it is over a signed checkpoint
// of that size among cps.
func checkTimestamp(v TimestampVerifier, token []byte, size uint64, cps []checkpoint) (TimestampInfo, error) {
	info, err := v(token)
	if err != nil {
		return info, err
	}
	found := false
	for _, cp := range cps {
		if cp.size != size {
			continue
		}
		found = true
		if d := CheckpointDigest(cp.signed); bytes.Equal(info.Digest, d[:]) {
			return info, nil
		}
	}
	return info, &TimestampMismatchError{Size: size, Time: info.Time, NoCheckpoint: !found}
}
