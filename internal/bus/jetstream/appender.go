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
	"sync/atomic"
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
	b      *Bus
	opts   AppenderOptions
	leader atomic.Bool
	pos    atomic.Uint64 // last EVENTS sequence appended
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
	p, err := a.readPosition()
	if err != nil {
		return nil, err
	}
	a.pos.Store(p)
	return a, nil
}

// Leader reports whether this process holds the appender lease.
func (a *Appender) Leader() bool { return a.leader.Load() }

// Position is the last EVENTS stream sequence appended to the log.
func (a *Appender) Position() uint64 { return a.pos.Load() }

// Lag is how many EVENTS messages are not yet in the log (0 when NATS cannot say).
func (a *Appender) Lag(ctx context.Context) uint64 {
	s, err := a.b.js.Stream(ctx, a.b.opts.Stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.LastSeq < a.pos.Load() {
		return 0
	}
	return info.State.LastSeq - a.pos.Load()
}

func (a *Appender) readPosition() (uint64, error) {
	b, err := os.ReadFile(a.opts.PositionFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read appender position: %w", err)
	}
	p, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("appender position %s: %w", a.opts.PositionFile, err)
	}
	return p, nil
}

// writePosition records seq after the log made the entries durable. It is written with a
// rename but not fsynced: after a crash it may be behind, and re-appending is a no-op by id.
func (a *Appender) writePosition(seq uint64) error {
	tmp := a.opts.PositionFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write appender position: %w", err)
	}
	if err := os.Rename(tmp, a.opts.PositionFile); err != nil {
		return fmt.Errorf("write appender position: %w", err)
	}
	a.pos.Store(seq)
	return nil
}

// Run competes for the lease until ctx ends; while it holds it, it appends.
func (a *Appender) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(a.opts.PositionFile), 0o700); err != nil {
		return err
	}
	log := a.b.log.With("role", "appender", "node", a.opts.Node)
	ttl := a.b.opts.LeaseTTL
	l := &lease{b: a.b, key: appenderKey, value: []byte(a.opts.Node)}
	for ctx.Err() == nil {
		tctx, cancel := context.WithTimeout(ctx, max(ttl/2, 2*time.Second))
		err := l.take(tctx)
		cancel()
		if err != nil {
			if !errors.Is(err, errLeaseHeld) && ctx.Err() == nil {
				log.Warn("appender lease unavailable", "err", err)
			}
			sleep(ctx, ttl/4)
			continue
		}
		log.Info("appender lease acquired; appending", "from_stream_seq", a.pos.Load()+1)
		a.leader.Store(true)
		err = a.lead(ctx, l)
		a.leader.Store(false)
		if ctx.Err() != nil {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = l.release(dctx) // shutting down: hand the lease over at once
			dcancel()
			return nil
		}
		log.Warn("appender stepped down", "err", err)
		sleep(ctx, ttl/4)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// lead appends while the lease holds. A consumer that fails or stalls (a NATS node lost with
// it) is replaced, resuming after the last appended stream sequence, without giving up the
// lease; only a lost lease or shutdown ends it.
func (a *Appender) lead(ctx context.Context, l *lease) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		l.hold(lctx, func(err error) { cancel(err) })
	}()
	for {
		err := a.consume(lctx)
		if lctx.Err() != nil {
			if cause := context.Cause(lctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			return err
		}
		a.b.log.Warn("EVENTS consumer restarted after the last appended sequence", "from_stream_seq", a.pos.Load()+1, "err", err)
		sleep(lctx, 250*time.Millisecond)
	}
}

// stallAfter is how long the appender waits for messages while EVENTS holds some it has not
// appended before it replaces its consumer.
const stallAfter = 3 * time.Second

func (a *Appender) consume(ctx context.Context) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if p := a.pos.Load(); p > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: p + 1}
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := a.b.js.OrderedConsumer(cctx, a.b.opts.Stream, cfg)
	ccancel()
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", a.b.opts.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2*a.opts.MaxBatch), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("consume %s: %w", a.b.opts.Stream, err)
	}
	msgs := make(chan jetstream.Msg, a.opts.MaxBatch)
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		it.Stop()
		for range msgs { //nolint:revive // drain so the reader goroutine ends
		}
	}()
	// The watchdog: the ordered consumer lives on one server; when that server is lost the
	// client does not always notice, and the appender would wait for ever.
	check := time.NewTicker(stallAfter)
	defer check.Stop()
	lastMsg := time.Now()
	batch := make([]jetstream.Msg, 0, a.opts.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if time.Since(lastMsg) >= stallAfter && a.Lag(ctx) > 0 {
				return fmt.Errorf("no message from %s for %v while %d wait", a.b.opts.Stream, time.Since(lastMsg).Round(time.Millisecond), a.Lag(ctx))
			}
			continue
		case m, ok := <-msgs:
			if !ok {
				return errors.New("EVENTS consumer stopped")
			}
			batch = append(batch[:0], m)
		}
		lastMsg = time.Now()
	more:
		for len(batch) < a.opts.MaxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		if err := a.appendBatch(ctx, batch); err != nil {
			return err
		}
	}
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
			return a.writePosition(last)
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
	return a.writePosition(last)
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
