package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// singleReader is what the audit-log appender and the alert applier share: one process at a
// time — the holder of a key in the lease bucket — reads a stream in order from the sequence
// after the last one it handled, which it keeps in a file beside what it writes.
type singleReader struct {
	b        *Bus
	key      string // lease key
	node     string
	stream   string
	maxBatch int
	posFile  string
	log      *slog.Logger
	leader   atomic.Bool
	pos      atomic.Uint64 // last stream sequence handled
	// handle takes one batch in stream order; an error restarts the reading after the
	// position (the batch, or what is left of it, is handed over again).
	handle func(ctx context.Context, batch []jetstream.Msg) error
}

func (r *singleReader) readPosition() error {
	b, err := os.ReadFile(r.posFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s position: %w", r.key, err)
	}
	p, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fmt.Errorf("%s position %s: %w", r.key, r.posFile, err)
	}
	r.pos.Store(p)
	return nil
}

// writePosition records seq once what it covers is durable. It is written with a rename but
// not fsynced: after a crash it may be behind, and handling a message again is a no-op.
func (r *singleReader) writePosition(seq uint64) error {
	tmp := r.posFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s position: %w", r.key, err)
	}
	if err := os.Rename(tmp, r.posFile); err != nil {
		return fmt.Errorf("write %s position: %w", r.key, err)
	}
	r.pos.Store(seq)
	return nil
}

// lag is how many messages of the stream are not handled yet (0 when NATS cannot say).
func (r *singleReader) lag(ctx context.Context) uint64 {
	s, err := r.b.js.Stream(ctx, r.stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.LastSeq < r.pos.Load() {
		return 0
	}
	return info.State.LastSeq - r.pos.Load()
}

// run competes for the lease until ctx ends; while it holds it, it reads.
func (r *singleReader) run(ctx context.Context) error {
	ttl := r.b.opts.LeaseTTL
	l := &lease{b: r.b, key: r.key, value: []byte(r.node)}
	for ctx.Err() == nil {
		tctx, cancel := context.WithTimeout(ctx, max(ttl/2, 2*time.Second))
		err := l.take(tctx)
		cancel()
		if err != nil {
			if !errors.Is(err, errLeaseHeld) && ctx.Err() == nil {
				r.log.Warn("lease unavailable", "key", r.key, "err", err)
			}
			sleep(ctx, ttl/4)
			continue
		}
		// The position is read again: a standby sharing the data of the previous holder
		// resumes where that one stopped.
		if err := r.readPosition(); err != nil {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = l.release(dctx)
			dcancel()
			return err
		}
		r.log.Info("lease acquired; reading the stream", "key", r.key, "stream", r.stream, "from_stream_seq", r.pos.Load()+1)
		r.leader.Store(true)
		err = r.lead(ctx, l)
		r.leader.Store(false)
		if ctx.Err() != nil {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = l.release(dctx) // shutting down: hand the lease over at once
			dcancel()
			return nil
		}
		r.log.Warn("stepped down", "key", r.key, "err", err)
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

// lead reads while the lease holds. A consumer that fails or stalls (a NATS node lost with it)
// is replaced, resuming after the last handled stream sequence, without giving up the lease;
// only a lost lease or shutdown ends it.
func (r *singleReader) lead(ctx context.Context, l *lease) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		l.hold(lctx, func(err error) { cancel(err) })
	}()
	for {
		err := r.consume(lctx)
		if lctx.Err() != nil {
			if cause := context.Cause(lctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			return err
		}
		r.log.Warn("consumer restarted after the last handled sequence", "stream", r.stream, "from_stream_seq", r.pos.Load()+1, "err", err)
		sleep(lctx, 250*time.Millisecond)
	}
}

// stallAfter is how long a reader waits for messages while its stream holds some it has not
// handled before it replaces its consumer.
const stallAfter = 3 * time.Second

func (r *singleReader) consume(ctx context.Context) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if p := r.pos.Load(); p > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: p + 1}
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := r.b.js.OrderedConsumer(cctx, r.stream, cfg)
	ccancel()
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", r.stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2*r.maxBatch), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("consume %s: %w", r.stream, err)
	}
	msgs := make(chan jetstream.Msg, r.maxBatch)
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
	// client does not always notice, and the reader would wait for ever.
	check := time.NewTicker(stallAfter)
	defer check.Stop()
	lastMsg := time.Now()
	batch := make([]jetstream.Msg, 0, r.maxBatch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if time.Since(lastMsg) >= stallAfter && r.lag(ctx) > 0 {
				return fmt.Errorf("no message from %s for %v while %d wait", r.stream, time.Since(lastMsg).Round(time.Millisecond), r.lag(ctx))
			}
			continue
		case m, ok := <-msgs:
			if !ok {
				return errors.New(r.stream + " consumer stopped")
			}
			batch = append(batch[:0], m)
		}
		lastMsg = time.Now()
	more:
		for len(batch) < r.maxBatch {
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
		if err := r.handle(ctx, batch); err != nil {
			return err
		}
	}
}
