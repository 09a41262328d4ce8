package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lease is a key in the lease bucket held by this process: created (or re-taken at the
// revision it last wrote) with compare-and-set, renewed every TTL/3. The bucket's TTL removes it
// TTL after its last renewal, so the holder counts it lost — and stops what it guards — once no
// renewal has succeeded for TTL/2, measured from when the last successful one was sent: before
// another process can take it. Failed renewals in between (a NATS node lost, its streams
// electing a new leader) are retried every 250 ms, so a short outage does not drop the lease.
type lease struct {
	b     *Bus
	key   string
	value []byte
	mu    sync.Mutex
	rev   uint64
}

// errLeaseHeld means another process holds the key.
var errLeaseHeld = errors.New("lease held by another process")

// take creates the key, or re-takes it at the revision this holder last wrote when the key is
// still that one (a holder that stepped down for a transient failure resumes at once).
func (l *lease) take(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev != 0 {
		if r, err := l.b.leases.Update(ctx, l.key, l.value, l.rev); err == nil {
			l.rev = r
			return nil
		}
	}
	r, err := l.b.leases.Create(ctx, l.key, l.value)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return errLeaseHeld
		}
		return err
	}
	l.rev = r
	return nil
}

// hold renews the lease until ctx ends, and calls lost (once) and returns when it is lost.
func (l *lease) hold(ctx context.Context, lost func(error)) {
	ttl := l.b.opts.LeaseTTL
	lastOK := time.Now()
	wait := ttl / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, ttl/4)
		l.mu.Lock()
		r, err := l.b.leases.Update(rctx, l.key, l.value, l.rev)
		if err == nil {
			l.rev = r
		}
		l.mu.Unlock()
		cancel()
		switch {
		case err == nil:
			lastOK, wait = sent, ttl/3
		case ctx.Err() != nil:
			return
		case time.Since(lastOK) >= ttl/2:
			lost(fmt.Errorf("lease %s not renewed for %v: %w", l.key, time.Since(lastOK).Round(time.Millisecond), err))
			return
		default:
			l.b.log.Warn("lease renewal failed; retrying", "key", l.key, "err", err)
			wait = 250 * time.Millisecond
		}
	}
}

// release deletes the key if this holder still has it, so that the next holder starts at once.
func (l *lease) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return nil
	}
	err := l.b.leases.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	l.rev = 0
	return err
}
