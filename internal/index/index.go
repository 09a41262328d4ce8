// Package index keeps the index store in step with the audit log: a follower that reads new
// entries from its recorded position, applies each model's store_text policy (dropping or
// redacting text), and writes batches to the store. Because the position is stored with each
// batch, a crash or restart resumes exactly where it stopped, and `warden index rebuild`
// replays the whole log into an empty store.
package index

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/bus"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/follow"
	"github.com/warden-ai/warden/internal/store"
)

// Log is the audit log as the follower reads it.
type Log interface {
	Size() uint64
	Read(from uint64, fn func(i uint64, id string, leaf, blob []byte) error) error
}

// Policy returns a model's store_text policy ("none", "redacted", "full") and risk tier.
type Policy func(model string) (storeText, tier string)

// Options configure a Writer.
type Options struct {
	Log        Log
	Store      store.Store
	Policy     Policy
	Redact     func(text string) string // applied under the "redacted" policy
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	BatchSize  int
	// Wake returns a channel closed when the log has grown; nil polls every 100 ms.
	Wake func() <-chan struct{}
	// Under sustained load (a catch-up that applied at least CoalesceAbove entries) the writer
	// pauses for Coalesce before the next one, so that it writes fewer, larger transactions
	// and leaves the CPU to ingest in between. At light load it follows every append at once.
	// Defaults: 256 entries, 100 ms; a negative Coalesce disables the pause.
	CoalesceAbove int
	Coalesce      time.Duration
}

// Writer is the index follower.
type Writer struct {
	opts    Options
	pos     atomic.Uint64
	log     *slog.Logger
	applied prometheus.Counter
	lag     prometheus.GaugeFunc
}

// New returns a Writer positioned where the store says it stopped.
func New(ctx context.Context, opts Options) (*Writer, error) {
	if opts.Log == nil || opts.Store == nil {
		return nil, errors.New("index: Log and Store are required")
	}
	if opts.Policy == nil {
		opts.Policy = func(string) (string, string) { return "redacted", "medium" }
	}
	if opts.Redact == nil {
		return nil, errors.New("index: Redact is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 10_000
	}
	if opts.CoalesceAbove <= 0 {
		opts.CoalesceAbove = 256
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = 100 * time.Millisecond
	}
	w := &Writer{opts: opts, log: opts.Logger.With("component", "index")}
	p, err := opts.Store.Position(ctx)
	if err != nil {
		return nil, err
	}
	w.pos.Store(p)
	w.applied = prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_index_applied_total", Help: "Audit-log entries written to the index store."})
	w.lag = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "warden_index_lag_entries", Help: "Audit-log entries not yet in the index store."}, func() float64 { return float64(w.Lag()) })
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{w.applied, w.lag} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register index metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Position is the next log index the writer will apply.
func (w *Writer) Position() uint64 { return w.pos.Load() }

// Lag is how many log entries are not yet indexed.
func (w *Writer) Lag() uint64 {
	size, pos := w.opts.Log.Size(), w.pos.Load()
	if size < pos {
		return 0
	}
	return size - pos
}

// Run follows the log until ctx ends, then returns after indexing everything already appended.
func (w *Writer) Run(ctx context.Context) error {
	idle := time.Second
	if w.opts.Wake == nil {
		idle = 100 * time.Millisecond
	}
	return follow.Run(ctx, indexFollower{w}, follow.Options{
		Grown: w.opts.Wake, Idle: idle, Coalesce: w.opts.Coalesce, CoalesceAbove: w.opts.CoalesceAbove,
		Logger: w.log, Name: "index",
	})
}

// indexFollower indexes without cancellation: a batch is applied whole, and on stop the
// writer indexes what was appended before it returns.
type indexFollower struct{ w *Writer }

func (f indexFollower) CatchUp(ctx context.Context) (int, error) {
	return f.w.catchUp(context.WithoutCancel(ctx))
}

func (f indexFollower) Stop() error {
	_, err := f.w.catchUp(context.Background())
	return err
}

// CatchUp indexes every entry appended so far.
func (w *Writer) CatchUp(ctx context.Context) error {
	_, err := w.catchUp(ctx)
	return err
}

// catchUp indexes every entry appended so far and returns how many it applied.
func (w *Writer) catchUp(ctx context.Context) (int, error) {
	if w.Lag() == 0 {
		return 0, nil
	}
	batch := make([]store.Row, 0, w.opts.BatchSize)
	applied := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.opts.Store.Apply(ctx, batch); err != nil {
			return err
		}
		w.pos.Store(batch[len(batch)-1].Seq + 1)
		w.applied.Add(float64(len(batch)))
		applied += len(batch)
		batch = batch[:0]
		return nil
	}
	err := w.opts.Log.Read(w.pos.Load(), func(i uint64, _ string, leaf, blob []byte) error {
		row, err := w.row(i, leaf, blob)
		if err != nil {
			return err
		}
		batch = append(batch, row)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return applied, fmt.Errorf("index from %d: %w", w.pos.Load(), err)
	}
	err = flush()
	return applied, err
}

func (w *Writer) row(i uint64, leaf, blob []byte) (store.Row, error) {
	ev, err := event.ParseLeaf(leaf)
	if err != nil {
		return store.Row{}, fmt.Errorf("entry %d: %w", i, err)
	}
	policy, tier := w.opts.Policy(ev.Model.Name)
	// The log reuses leaf and blob buffers after the callback returns.
	row := store.Row{Seq: i, Event: ev, Leaf: bytes.Clone(leaf), Tier: tier}
	if len(blob) > 0 && policy != "none" {
		t, err := event.ParseText(blob)
		if err != nil {
			return store.Row{}, fmt.Errorf("entry %d: %w", i, err)
		}
		// A blob written under "redacted" is already redacted (the pipeline did it before the
		// append); one written under "full" is redacted here when the policy has since tightened.
		if policy == "redacted" && !t.Redacted {
			t.Input, t.Output = w.opts.Redact(t.Input), w.opts.Redact(t.Output)
			t.Redacted = true
		}
		row.Text = t
	}
	return row, nil
}

// ApplyEntries indexes entries handed over by the cluster bus (the worker role of the
// distributed mode) rather than read from the local log. Rows are keyed by log index, so an
// entry applied twice — redelivered after a worker died before acknowledging it — is still one
// row. The batch is sorted by index first, as Store.Apply wants.
func (w *Writer) ApplyEntries(ctx context.Context, entries []bus.Entry) error {
	rows := make([]store.Row, 0, len(entries))
	for _, e := range entries {
		row, err := w.row(e.Index, e.Leaf, e.Blob)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b store.Row) int { return cmp.Compare(a.Seq, b.Seq) })
	if err := w.opts.Store.Apply(ctx, rows); err != nil {
		return err
	}
	w.applied.Add(float64(len(rows)))
	return nil
}
