// Package bus is the pipeline transport between Warden's roles (docs/SCALE-OUT.md): what carries
// an accepted event from the process that accepted it to the audit-log appender, and an
// appended entry from the appender to the workers that index and analyse it.
//
// Two transports implement it. In-process ([Inproc], the embedded default) appends to the local
// audit log directly, as a single `warden serve` always did. NATS JetStream (package
// bus/jetstream) publishes to a replicated stream whose subjects are partitioned by model; the
// message id is the event id, so JetStream drops re-sent events within its de-duplication
// window, and the log appender drops them for good (the audit log is idempotent by id).
//
// This package holds what both need: the publisher contract, the partition function and the
// wire codec of records and entries.
package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/warden-ai/warden/internal/audit"
)

// Log is the audit log as the in-process transport appends to it.
type Log interface {
	Append(ctx context.Context, recs []audit.Record) ([]uint64, error)
}

// Inproc is the in-process transport: Publish is an audit-log append.
type Inproc struct{ log Log }

// NewInproc returns the in-process transport over log.
func NewInproc(log Log) *Inproc { return &Inproc{log: log} }

// Publish appends recs durably (group commit, fsync) and returns their log indexes; models are
// not needed in one process.
func (p *Inproc) Publish(ctx context.Context, recs []audit.Record, _ []string) ([]uint64, error) {
	return p.log.Append(ctx, recs)
}

// Partition maps a model name to one of n partitions (FNV-1a), so that every event of a model
// travels one subject, in order, and can be owned by one worker.
func Partition(model string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(model))
	return int(h.Sum32() % uint32(n)) //nolint:gosec // n ≤ 1024 (config), the result fits an int
}

// Entry is one audit-log entry as the appender hands it on to the workers.
type Entry struct {
	Index      uint64 // audit-log index
	ID         string // event id
	Leaf, Blob []byte
}

// codecVersion is the first byte of every encoded record; a reader refuses any other.
const codecVersion = 1

// ErrBadMessage is returned for a message that is not an encoded record.
var ErrBadMessage = errors.New("bus: malformed message")

// EncodeRecord encodes a record's leaf and blob as a message body: version, uvarint leaf
// length, leaf, blob. The id travels as the message id.
func EncodeRecord(leaf, blob []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(leaf)+len(blob))
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(len(leaf)))
	b = append(b, leaf...)
	return append(b, blob...)
}

// DecodeRecord splits a message body made by EncodeRecord. The returned slices alias b; a blob
// of length zero is returned as nil.
func DecodeRecord(b []byte) (leaf, blob []byte, err error) {
	if len(b) < 2 || b[0] != codecVersion {
		return nil, nil, fmt.Errorf("%w: unknown version or empty", ErrBadMessage)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return nil, nil, fmt.Errorf("%w: leaf length", ErrBadMessage)
	}
	leaf = b[1+k : 1+k+int(n)]                 //nolint:gosec // n ≤ len(b) checked above
	if rest := b[1+k+int(n):]; len(rest) > 0 { //nolint:gosec // as above
		blob = rest
	}
	if len(leaf) == 0 {
		return nil, nil, fmt.Errorf("%w: empty leaf", ErrBadMessage)
	}
	return leaf, blob, nil
}
