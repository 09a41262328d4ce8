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
// single goroutine hands them over in batches. A full queue drops the event and counts it.
type emitQueue struct {
	em      Emitter
	log     *slog.Logger
	ch      chan *event.Event
	batch   int
	flush   time.Duration
	dropped prometheus.Counter
	emitted prometheus.Counter
	failed  prometheus.Counter
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (q *emitQueue) push(ev *event.Event) {
	if q.em == nil {
		return
	}
	select {
	case q.ch <- ev:
	default:
		q.dropped.Inc()
	}
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
