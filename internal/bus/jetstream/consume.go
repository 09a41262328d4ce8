package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/bus"
)

// Handler processes a batch of appended entries (index write, analysis). A nil error
// acknowledges the batch; an error has it redelivered, to this or another worker.
type Handler func(ctx context.Context, entries []bus.Entry) error

// workersConsumer is the durable consumer every worker pulls from.
const workersConsumer = "workers"

// ConsumeOptions configure Consume.
type ConsumeOptions struct {
	Batch int // entries per fetch; default 1000
	// Failing, when set, is told whether the last batch failed in the handler (e.g. the index
	// store is down), for readiness.
	Failing *atomic.Bool
}

func (b *Bus) workers(ctx context.Context) (jetstream.Consumer, error) {
	b.consMu.Lock()
	defer b.consMu.Unlock()
	if b.cons != nil {
		return b.cons, nil
	}
	c, err := b.js.CreateOrUpdateConsumer(ctx, b.logged, jetstream.ConsumerConfig{
		Durable: workersConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: b.opts.AckWait,
		MaxAckPending: 100_000, MaxDeliver: -1, Description: "Warden workers: index and analysis",
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", workersConsumer, b.logged, err)
	}
	b.cons = c
	return c, nil
}

// Consume pulls LOGGED entries through the shared durable consumer and hands them to h in
// batches until ctx ends. Entries of a batch are acknowledged only after h returned nil.
func (b *Bus) Consume(ctx context.Context, opts ConsumeOptions, h Handler) error {
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if cons == nil {
			c, err := b.workers(ctx)
			if err != nil {
				b.log.Warn("worker consumer unavailable; retrying", "err", err)
				sleep(ctx, time.Second)
				continue
			}
			cons = c
		}
		batch, err := cons.Fetch(opts.Batch, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("fetch from LOGGED failed; retrying", "err", err)
				sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		var msgs []jetstream.Msg
		var entries []bus.Entry
		for m := range batch.Messages() {
			e, err := decodeEntry(m)
			if err != nil {
				b.log.Error("LOGGED message dropped: not a Warden entry", "subject", m.Subject(), "err", err)
				_ = m.Term()
				continue
			}
			msgs = append(msgs, m)
			entries = append(entries, e)
		}
		if len(entries) == 0 {
			continue
		}
		if err := h(ctx, entries); err != nil {
			if opts.Failing != nil {
				opts.Failing.Store(true)
			}
			b.log.Error("worker batch failed; it will be redelivered", "entries", len(entries), "err", err)
			for _, m := range msgs {
				_ = m.NakWithDelay(time.Second)
			}
			sleep(ctx, time.Second)
			continue
		}
		if opts.Failing != nil {
			opts.Failing.Store(false)
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				b.log.Warn("ack failed; the entry will be redelivered and re-indexed (idempotent)", "err", err)
			}
		}
	}
	return nil
}

func decodeEntry(m jetstream.Msg) (bus.Entry, error) {
	id := m.Headers().Get(jetstream.MsgIDHeader)
	i, err := strconv.ParseUint(m.Headers().Get(IndexHeader), 10, 64)
	if err != nil || id == "" {
		return bus.Entry{}, errors.New("missing id or log index header")
	}
	leaf, blob, err := bus.DecodeRecord(m.Data())
	if err != nil {
		return bus.Entry{}, err
	}
	return bus.Entry{Index: i, ID: id, Leaf: leaf, Blob: blob}, nil
}

// WorkerLag is how many appended entries no worker has acknowledged yet: waiting in LOGGED or
// handed out and not yet indexed.
func (b *Bus) WorkerLag(ctx context.Context) (uint64, error) {
	c, err := b.workers(ctx)
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil //nolint:gosec // a count, never negative
}
