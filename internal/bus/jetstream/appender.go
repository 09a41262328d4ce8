package jetstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/bus"
)

// Log is the audit log as the appender writes it.
type Log interface {
	Append(ctx context.Context, recs []audit.Record) ([]uint64, error)
}

// AppenderOptions configure an Appender.
type AppenderOptions struct {
	Log Log
	// PositionFile keeps the last EVENTS sequence appended; it lives beside the log, so a log
	// and its position move together (an empty log replays the stream from the start).
	PositionFile string
	Node         string // this process, as written into the lease
	// Appended, when set, is called after each appended batch (wakes local followers).
	Appended func()
	// MaxBatch bounds the records of one append; default 4096.
	MaxBatch int
}

// Appender is the single audit-log writer of a cluster: it runs on every api process, and the
// one holding the lease appends.
type Appender struct {
	b    *Bus
	opts AppenderOptions
	r    *singleReader
}

const appenderKey = "appender"

// NewAppender returns an appender over the log; Run competes for the lease.
func (b *Bus) NewAppender(opts AppenderOptions) (*Appender, error) {
	if opts.Log == nil || opts.PositionFile == "" {
		return nil, errors.New("jetstream: AppenderOptions.Log and PositionFile are required")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	a := &Appender{b: b, opts: opts}
	a.r = &singleReader{
		b: b, key: appenderKey, node: opts.Node, stream: b.opts.Stream, maxBatch: opts.MaxBatch,
		posFile: opts.PositionFile, log: b.log.With("role", "appender", "node", opts.Node),
		handle: a.appendBatch,
	}
	if err := a.r.readPosition(); err != nil {
		return nil, err
	}
	return a, nil
}

// Leader reports whether this process holds the appender lease.
func (a *Appender) Leader() bool { return a.r.leader.Load() }

// Position is the last EVENTS stream sequence appended to the log.
func (a *Appender) Position() uint64 { return a.r.pos.Load() }

// Lag is how many EVENTS messages are not yet in the log (0 when NATS cannot say).
func (a *Appender) Lag(ctx context.Context) uint64 { return a.r.lag(ctx) }

// Run competes for the lease until ctx ends; while it holds it, it appends: from an ordered
// consumer starting after the last appended sequence (replaced, from the same point, when it
// fails or stalls).
func (a *Appender) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(a.opts.PositionFile), 0o700); err != nil {
		return err
	}
	return a.r.run(ctx)
}

// appendBatch appends one batch in stream order, hands the entries to the workers and records
// the position. A message that is not a record is skipped (logged): it cannot come from Warden.
func (a *Appender) appendBatch(ctx context.Context, batch []jetstream.Msg) error {
	recs := make([]audit.Record, 0, len(batch))
	parts := make([]string, 0, len(batch))
	var last uint64
	for _, m := range batch {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("EVENTS message metadata: %w", err)
		}
		last = md.Sequence.Stream
		id := m.Headers().Get(jetstream.MsgIDHeader)
		leaf, blob, err := bus.DecodeRecord(m.Data())
		if err != nil || id == "" {
			a.b.log.Error("EVENTS message skipped: not a Warden record", "stream_seq", last, "subject", m.Subject(), "err", err)
			continue
		}
		recs = append(recs, audit.Record{ID: id, Leaf: leaf, Blob: blob})
		parts = append(parts, m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:])
	}
	if len(recs) > 0 {
		// The append is not cut short by a lost lease: its outcome would be unknown.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		idx, err := a.opts.Log.Append(actx, recs)
		// A record whose id is already in the log with other content (a re-sent id) would fail
		// the batch forever: it is skipped, like a message that is not a record.
		var conflict *audit.IDConflictError
		for errors.As(err, &conflict) && conflict.Record < len(recs) && len(recs) > 1 {
			a.b.log.Warn("EVENTS record skipped: its id is already in the audit log with different content", "id", conflict.ID)
			recs = slices.Delete(recs, conflict.Record, conflict.Record+1)
			parts = slices.Delete(parts, conflict.Record, conflict.Record+1)
			idx, err = a.opts.Log.Append(actx, recs)
		}
		cancel()
		if errors.As(err, &conflict) { // the only record left
			a.b.log.Warn("EVENTS record skipped: its id is already in the audit log with different content", "id", conflict.ID)
			return a.r.writePosition(last)
		}
		if err != nil {
			return fmt.Errorf("append to the audit log: %w", err)
		}
		if err := a.handOn(ctx, recs, parts, idx); err != nil {
			return err
		}
		if a.opts.Appended != nil {
			a.opts.Appended()
		}
	}
	return a.r.writePosition(last)
}

// handOn publishes appended entries to LOGGED with their log index; the message id is the
// event id, so an entry re-appended after a fail-over is not queued twice.
func (a *Appender) handOn(ctx context.Context, recs []audit.Record, parts []string, idx []uint64) error {
	futs := make([]jetstream.PubAckFuture, 0, len(recs))
	for i := range recs {
		msg := &nats.Msg{Subject: a.b.prefix + ".logged." + parts[i], Data: bus.EncodeRecord(recs[i].Leaf, recs[i].Blob), Header: nats.Header{}}
		msg.Header.Set(IndexHeader, strconv.FormatUint(idx[i], 10))
		f, err := a.b.js.PublishMsgAsync(msg, jetstream.WithMsgID(recs[i].ID))
		if err != nil {
			return fmt.Errorf("hand entries to the workers: %w", err)
		}
		futs = append(futs, f)
	}
	wctx, cancel := context.WithTimeout(ctx, a.b.opts.PublishTimeout)
	defer cancel()
	if err := waitAcks(wctx, futs); err != nil {
		return fmt.Errorf("hand entries to the workers: %w", err)
	}
	return nil
}
