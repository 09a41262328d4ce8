package jetstream

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/bus"
)

// Partition is the analysis of one partition owned by this worker: the index write and analysis
// of its entries, in log order, and a snapshot of what it learned.
type Partition interface {
	// Handle indexes and analyses a batch of the partition's entries, in order. An error means
	// nothing of the batch reached the analysis (e.g. the index store is down): Handle is called
	// again with the same batch.
	Handle(ctx context.Context, entries []bus.Entry) error
	// Tick lets time-driven detections fire.
	Tick(ctx context.Context)
	// State is the snapshot stored before the batch's messages are acknowledged.
	State() ([]byte, error)
	// Close is called when this worker stops owning the partition.
	Close()
}

// OpenPartition builds partition p's analysis from its last snapshot (empty: none).
type OpenPartition func(p int, state []byte) (Partition, error)

// WorkerOptions configure RunWorker.
type WorkerOptions struct {
	Node string // this process, as written into its leases
	Open OpenPartition
	// Batch is the entries per fetch; default 1000.
	Batch int
	// Failing, when set, is told whether the last batch failed in Handle, for readiness.
	Failing *atomic.Bool
	// TickEach is how often owned partitions tick; default 1 s.
	TickEach time.Duration
}

// Workers owns partitions: each partition of LOGGED is analysed by exactly one worker at a
// time, the holder of the key partition.<p> in the lease bucket. Workers announce themselves
// with a key worker.<id> (renewed, gone after the lease TTL when the process dies); each
// partition goes to the live worker that ranks highest for it (rendezvous hashing), so a
// joining or dying worker moves only its share. The partition's state — the worker's snapshot,
// with the last log index it reflects — lives in the key-value bucket <Stream>_STATE; a batch is
// acknowledged only after the snapshot that includes it is stored, so a new owner resumes where
// the old one stopped and skips redelivered entries the state already holds.
type Workers struct {
	b     *Bus
	opts  WorkerOptions
	id    string
	mu    sync.Mutex
	owned map[int]*ownedPartition
}

type ownedPartition struct {
	release chan struct{} // closed: finish the batch in hand, hand over
	done    chan struct{}
}

// NewWorkers returns the partition owner of this process; Run joins the workers.
func (b *Bus) NewWorkers(opts WorkerOptions) (*Workers, error) {
	if opts.Open == nil {
		return nil, errors.New("jetstream: WorkerOptions.Open is required")
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.TickEach <= 0 {
		opts.TickEach = time.Second
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	id := keySafe(opts.Node) + "-" + strconv.FormatUint(rand.Uint64()>>32, 36) //nolint:gosec // a member name, not a secret
	return &Workers{b: b, opts: opts, id: id, owned: map[int]*ownedPartition{}}, nil
}

// keySafe maps s to the characters a key-value key may hold.
func keySafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

const (
	memberPrefix    = "worker."
	partitionPrefix = "partition."
)

// ID is this worker's member name (unique per process run).
func (w *Workers) ID() string { return w.id }

// Owned lists the partitions this worker analyses now.
func (w *Workers) Owned() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ps []int
	for p := range w.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Run takes part in the partition ownership until ctx ends; then it finishes the batches in
// hand, stores their state and hands its partitions over at once.
func (w *Workers) Run(ctx context.Context) error {
	log := w.b.log.With("role", "worker", "member", w.id)
	// The shared consumer of earlier versions overlaps the partitions' consumers on the work
	// queue; its unacknowledged entries stay in the stream for the partitions' owners.
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	if err := w.b.js.DeleteConsumer(dctx, w.b.logged, workersConsumer); err == nil {
		log.Info("removed the shared worker consumer of an earlier version")
	}
	dcancel()
	ttl := w.b.opts.LeaseTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	var wg sync.WaitGroup
	defer func() {
		w.mu.Lock()
		for _, o := range w.owned {
			close(o.release)
		}
		w.mu.Unlock()
		wg.Wait()
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = w.b.leases.Delete(dctx, memberPrefix+w.id)
		dcancel()
	}()
	for {
		w.step(ctx, log, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// step renews this worker's membership, reads the live workers, and starts or hands over
// partitions so that it owns those it ranks highest for.
func (w *Workers) step(ctx context.Context, log interface {
	Warn(string, ...any)
	Info(string, ...any)
}, wg *sync.WaitGroup) {
	pctx, pcancel := context.WithTimeout(ctx, w.b.opts.LeaseTTL/3)
	_, err := w.b.leases.Put(pctx, memberPrefix+w.id, []byte(w.opts.Node))
	pcancel()
	if err != nil {
		log.Warn("worker membership not renewed", "err", err)
		return
	}
	// Reading the members takes a consumer on the bucket: on a loaded machine that can take
	// longer than a renewal period, which must not keep the worker from ever taking partitions.
	rctx, cancel := context.WithTimeout(ctx, max(w.b.opts.LeaseTTL/3, 5*time.Second))
	defer cancel()
	keys, err := w.b.leases.Keys(rctx)
	if err != nil {
		log.Warn("worker membership unreadable", "err", err)
		return
	}
	var members []string
	for _, k := range keys {
		if m, ok := strings.CutPrefix(k, memberPrefix); ok {
			members = append(members, m)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, o := range w.owned {
		select {
		case <-o.done: // stopped by itself (lease lost) or handed over
			delete(w.owned, p)
		default:
		}
	}
	for p := range w.b.opts.Partitions {
		want := Owner(p, members) == w.id
		o, owned := w.owned[p]
		switch {
		case owned && !want:
			select {
			case <-o.release:
			default:
				log.Info("handing partition over", "partition", p)
				close(o.release)
			}
		case !owned && want:
			l := &lease{b: w.b, key: partitionPrefix + strconv.Itoa(p), value: []byte(w.id)}
			if err := l.take(rctx); err != nil {
				if !errors.Is(err, errLeaseHeld) {
					log.Warn("partition lease unavailable", "partition", p, "err", err)
				}
				continue // still held by its previous owner: next round
			}
			o := &ownedPartition{release: make(chan struct{}), done: make(chan struct{})}
			w.owned[p] = o
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(o.done)
				if err := w.own(ctx, p, l, o.release); err != nil && ctx.Err() == nil {
					log.Warn("partition given up", "partition", p, "err", err)
				}
			}()
		}
	}
}

// Owner is the member that ranks highest for partition p (rendezvous hashing): "" without
// members. A member joining or leaving moves only the partitions it wins or held.
func Owner(p int, members []string) string {
	var best string
	var top uint64
	for _, m := range members {
		h := fnv.New64a()
		_, _ = h.Write([]byte(m))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(strconv.AppendInt(nil, int64(p), 10))
		// fnv's low bits mix poorly for short keys: finish with a 64-bit mixer.
		s := mix64(h.Sum64())
		if best == "" || s > top || s == top && m > best {
			best, top = m, s
		}
	}
	return best
}

func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// own analyses partition p while this worker holds its lease l: it renews the lease and stops
// at once when the lease is lost; when release closes it finishes the batch in hand and deletes
// the lease, so the next owner starts at once.
func (w *Workers) own(ctx context.Context, p int, l *lease, release <-chan struct{}) error {
	lctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	held := make(chan struct{})
	go func() {
		defer close(held)
		l.hold(lctx, func(err error) { cancel(err) })
	}()
	err := w.consume(lctx, p, release)
	lost := context.Cause(lctx)
	cancel(nil)
	<-held
	if lost != nil {
		return lost
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer dcancel()
	if derr := l.release(dctx); derr != nil && err == nil {
		err = fmt.Errorf("hand partition %d over: %w", p, derr)
	}
	return err
}

// consume is one owned partition: a fresh consumer on its subject (so the entries the previous
// owner left unacknowledged come first, in order), its state from the state bucket, then
// fetch → Handle → store state → acknowledge until release closes or the lease is lost.
func (w *Workers) consume(ctx context.Context, p int, release <-chan struct{}) error {
	name := "partition-" + strconv.Itoa(p)
	sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
	defer scancel()
	if err := w.b.js.DeleteConsumer(sctx, w.b.logged, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("partition %d: reset consumer: %w", p, err)
	}
	cons, err := w.b.js.CreateConsumer(sctx, w.b.logged, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: w.b.prefix + ".logged." + strconv.Itoa(p), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: w.b.opts.AckWait, MaxAckPending: 10 * w.opts.Batch, MaxDeliver: -1,
		Description: "Warden worker: partition " + strconv.Itoa(p) + " (one owner at a time)",
	})
	if err != nil {
		return fmt.Errorf("partition %d: consumer: %w", p, err)
	}
	st, err := w.b.fenceState(sctx, p)
	if err != nil {
		return err
	}
	part, err := w.opts.Open(p, st.value)
	if err != nil {
		return fmt.Errorf("partition %d: open: %w", p, err)
	}
	defer part.Close()
	w.b.log.Info("partition owned", "partition", p, "state_bytes", len(st.value))
	// The state is stored at most every saveEach (and before a hand-over); the entries it
	// covers are acknowledged only then. Redeliveries meanwhile are entries already analysed:
	// the analysis skips them by position.
	saveEach := min(time.Second, w.b.opts.AckWait/4)
	var pending []jetstream.Msg
	lastSave := time.Now()
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		state, err := part.State()
		if err != nil {
			return fmt.Errorf("partition %d: snapshot: %w", p, err)
		}
		if err := st.save(ctx, state); err != nil {
			return err
		}
		for _, m := range pending {
			if err := m.Ack(); err != nil {
				w.b.log.Warn("ack failed; the entry will be redelivered (indexed again, not analysed again)", "err", err)
			}
		}
		pending, lastSave = pending[:0], time.Now()
		return nil
	}
	lastTick := time.Now()
	for {
		select {
		case <-release:
			return flush()
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Since(lastTick) >= w.opts.TickEach {
			part.Tick(ctx)
			lastTick = time.Now()
		}
		if time.Since(lastSave) >= saveEach || len(pending) >= 8*w.opts.Batch {
			if err := flush(); err != nil {
				return err
			}
		}
		wait := 500 * time.Millisecond
		if len(pending) > 0 {
			wait = max(10*time.Millisecond, min(wait, saveEach-time.Since(lastSave)))
		}
		batch, err := cons.Fetch(w.opts.Batch, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() == nil {
				w.b.log.Warn("fetch from LOGGED failed; retrying", "partition", p, "err", err)
				sleep(ctx, 500*time.Millisecond)
			}
			continue
		}
		var msgs []jetstream.Msg
		var entries []bus.Entry
		for m := range batch.Messages() {
			e, err := decodeEntry(m)
			if err != nil {
				w.b.log.Error("LOGGED message dropped: not a Warden entry", "subject", m.Subject(), "err", err)
				_ = m.Term()
				continue
			}
			msgs = append(msgs, m)
			entries = append(entries, e)
		}
		if len(entries) == 0 {
			continue
		}
		// Handle until it succeeds: the entries stay unacknowledged (and, after a hand-over,
		// go first to the next owner), so the partition's order holds.
		for {
			err := part.Handle(ctx, entries)
			if w.opts.Failing != nil {
				w.opts.Failing.Store(err != nil)
			}
			if err == nil {
				break
			}
			w.b.log.Error("worker batch failed; retrying it", "partition", p, "entries", len(entries), "err", err)
			select {
			case <-release:
				return flush() // this batch unacknowledged: the next owner takes it
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		pending = append(pending, msgs...)
	}
}

// partitionState is a partition's snapshot in the state bucket, written with compare-and-set
// on its revision: a previous owner that has not yet noticed its lease is gone cannot overwrite
// the new owner's state.
type partitionState struct {
	b     *Bus
	key   string
	rev   uint64
	value []byte
}

// fenceState reads partition p's state and writes it back, so that the revision any previous
// owner holds is stale from now on.
func (b *Bus) fenceState(ctx context.Context, p int) (*partitionState, error) {
	s := &partitionState{b: b, key: partitionPrefix + strconv.Itoa(p)}
	for {
		e, err := b.state.Get(ctx, s.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			rev, err := b.state.Create(ctx, s.key, nil)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("partition %d: state: %w", p, err)
			}
			s.rev = rev
			return s, nil
		case err != nil:
			return nil, fmt.Errorf("partition %d: state: %w", p, err)
		}
		rev, err := b.state.Update(ctx, s.key, e.Value(), e.Revision())
		if err != nil {
			return nil, fmt.Errorf("partition %d: take over state: %w", p, err)
		}
		s.rev = rev
		if len(e.Value()) > 0 {
			zr, err := gzip.NewReader(bytes.NewReader(e.Value()))
			if err == nil {
				s.value, err = io.ReadAll(io.LimitReader(zr, 256<<20))
			}
			if err != nil {
				b.log.Warn("partition state unreadable; the partition's analysis starts afresh", "partition", p, "err", err)
				s.value = nil
			}
		}
		return s, nil
	}
}

func (s *partitionState) save(ctx context.Context, state []byte) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(state)
	if err := zw.Close(); err != nil {
		return err
	}
	rev, err := s.b.state.Update(ctx, s.key, buf.Bytes(), s.rev)
	if err != nil {
		return fmt.Errorf("store the state of %s (%d bytes compressed): %w", s.key, buf.Len(), err)
	}
	s.rev = rev
	return nil
}
