package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Options configure [Open].
type Options struct {
	// Dir is the log directory (e.g. <data>/log). Created with mode 0700.
	Dir string
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Registerer receives the log's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Origin is the checkpoint origin line and the signing key name.
	Origin string
	// SegmentSize is the size at which a segment is rotated.
	SegmentSize int64
	// CheckpointInterval is the minimum time between two checkpoints
	// written after batches. A checkpoint is always written on Close.
	CheckpointInterval time.Duration
	// Signer, when set, signs checkpoints instead of the key in Dir/log.key, so that the
	// key can live outside the data directory (a file elsewhere, a KMS). Its name must be
	// Origin. PublicKey is its note verifier key, added to Dir/log.pub (which lists every
	// key the log has used, so checkpoints signed before a rotation still verify).
	Signer    Signer
	PublicKey string
	// MaxBatchBytes bounds the bytes of records gathered into one batch
	// (a single call larger than this is still written as one batch).
	MaxBatchBytes int
	// Sync makes a file durable; nil uses (*os.File).Sync. For fault injection: a failing Sync
	// makes the log unusable ([ErrUnusable]) without corrupting it.
	Sync func(*os.File) error
}

// Defaults for the zero values of [Options].
const (
	DefaultOrigin             = "warden/audit-log"
	DefaultSegmentSize        = 64 << 20
	DefaultCheckpointInterval = time.Second
	DefaultMaxBatchBytes      = 16 << 20
)

// DefaultOptions returns Options with every default set for dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:                dir,
		Origin:             DefaultOrigin,
		SegmentSize:        DefaultSegmentSize,
		CheckpointInterval: DefaultCheckpointInterval,
		MaxBatchBytes:      DefaultMaxBatchBytes,
	}
}

func (o *Options) setDefaults() {
	d := DefaultOptions(o.Dir)
	if o.Origin == "" {
		o.Origin = d.Origin
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = d.SegmentSize
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = d.CheckpointInterval
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = d.MaxBatchBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("audit: Options.Dir is required"))
	}
	if o.SegmentSize < 1<<10 {
		errs = append(errs, fmt.Errorf("audit: Options.SegmentSize %d below 1 KiB", o.SegmentSize))
	}
	if o.SegmentSize > 1<<32-1 {
		errs = append(errs, fmt.Errorf("audit: Options.SegmentSize %d above 4 GiB", o.SegmentSize))
	}
	if o.CheckpointInterval < 0 {
		errs = append(errs, errors.New("audit: Options.CheckpointInterval is negative"))
	}
	if o.MaxBatchBytes < 0 {
		errs = append(errs, errors.New("audit: Options.MaxBatchBytes is negative"))
	}
	if !validKeyName(o.Origin) {
		errs = append(errs, fmt.Errorf("audit: Options.Origin %q is not a valid note key name", o.Origin))
	}
	return errors.Join(errs...)
}

type metrics struct {
	appended  prometheus.Counter
	batchSize prometheus.Histogram
	fsync     prometheus.Histogram
	logBytes  prometheus.Gauge
	treeSize  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		appended: f.NewCounter(prometheus.CounterOpts{
			Name: "warden_audit_appended_entries_total",
			Help: "Entries durably appended to the audit log.",
		}),
		batchSize: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "warden_audit_batch_entries",
			Help:    "Entries written per group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		fsync: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "warden_audit_fsync_seconds",
			Help:    "Time to fsync one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		logBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "warden_audit_log_bytes",
			Help: "Bytes in entry segments (excluding blobs and hashes).",
		}),
		treeSize: f.NewGauge(prometheus.GaugeOpts{
			Name: "warden_audit_tree_size",
			Help: "Entries in the Merkle tree.",
		}),
	}
}
