package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/event"
)

// emitQueue decouples the request path from the Emitter: events wait in a bounded channel and a
// single goroutine hands them over in batches.
//
// No request is served without room for its events: a routed request reserves its slots
// (reserve) before anything else happens, and is refused with 503 when the queue is full, so
// the events of requests that were served are never dropped. A slot is held from reservation
// until its event has been handed to the Emitter. Only events pushed without a reservation
// (the aggregated unauthenticated counts, which are kept for the next interval) can find the
// queue full.
type emitQueue struct {
	em      Emitter
	log     *slog.Logger
	ch      chan *event.Event
	slots   chan struct{} // one token per event reserved, queued or in the batch being emitted
	batch   int
	flush   time.Duration
	dropped prometheus.Counter
	emitted prometheus.Counter
	failed  prometheus.Counter
	refused prometheus.Counter
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// reserve takes n slots, or none and reports false when the queue has fewer free.
func (q *emitQueue) reserve(n int) bool {
	if q.em == nil {
		return true
	}
	for i := range n {
		select {
		case q.slots <- struct{}{}:
		default:
			q.release(i)
			return false
		}
	}
	return true
}

// release gives back n slots.
func (q *emitQueue) release(n int) {
	if q.em == nil {
		return
	}
	for range n {
		<-q.slots
	}
}

// push queues ev on one of the caller's reserved slots (*reserved > 0, decremented) or, without
// one, on a free slot. It reports false only when it had no reservation and the queue was
// full; the caller decides what happens to the event.
func (q *emitQueue) push(ev *event.Event, reserved *int) bool {
	if q.em == nil {
		return true
	}
	if reserved != nil && *reserved > 0 {
		*reserved--
	} else if !q.reserve(1) {
		return false
	}
	q.ch <- ev // never blocks: the channel holds at most as many events as there are slots
	return true
}

func (q *emitQueue) run() {
	defer close(q.done)
	buf := make([]*event.Event, 0, q.batch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	send := func() {
		if len(buf) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := q.em.Emit(ctx, buf)
		cancel()
		q.release(len(buf))
		if err != nil {
			q.failed.Add(float64(len(buf)))
			q.log.Error("gateway events not recorded", "events", len(buf), "err", err)
		} else {
			q.emitted.Add(float64(len(buf)))
		}
		buf = make([]*event.Event, 0, q.batch) // the Emitter may keep the slice
	}
	for {
		select {
		case ev := <-q.ch:
			if len(buf) == 0 {
				timer.Reset(q.flush)
			}
			buf = append(buf, ev)
			if len(buf) >= q.batch {
				timer.Stop()
				send()
			}
		case <-timer.C:
			send()
		case <-q.stop:
			timer.Stop()
			for {
				select {
				case ev := <-q.ch:
					buf = append(buf, ev)
					if len(buf) >= q.batch {
						send()
					}
				default:
					send()
					return
				}
			}
		}
	}
}

// close drains the queue; it returns when the queue is empty or ctx ends.
func (q *emitQueue) close(ctx context.Context) error {
	if q.em == nil {
		return nil
	}
	q.once.Do(func() { close(q.stop) })
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
