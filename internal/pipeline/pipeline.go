// Package pipeline is the durable path every accepted event takes, whatever its entry point
// (POST /v1/events, OTLP traces, the gateway): normalize, turn it into an audit record (the event
// without raw text as the Merkle leaf, the text as a side blob), append it durably to the audit
// log with group commit. The stages that follow the log (index writer, analysis, aggregates) are
// woken by the log itself (audit.Log.Grown, package follow); the raw text of events not stored in
// full reaches the local analysis stage from memory (EphemeralText).
//
// Submit is all-or-nothing per call and returns only after fsync. Memory is bounded: a call that
// would push the number of events in flight past MaxInFlight fails at once with ErrOverloaded,
// which the HTTP layer maps to 429 + Retry-After.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
)

// ErrOverloaded means the bounded pipeline is full; retry later.
var ErrOverloaded = errors.New("pipeline full: too many events in flight")

// Log is the audit log as the pipeline uses it.
type Log interface {
	Append(ctx context.Context, recs []audit.Record) ([]uint64, error)
}

// Publisher makes records durable through the bus (internal/bus): the in-process transport
// appends to the audit log and returns the indexes; the JetStream transport returns once the
// stream acknowledged every record, and returns nil indexes (the appender assigns them later).
// models[i] is the model of recs[i], which picks its partition.
type Publisher interface {
	Publish(ctx context.Context, recs []audit.Record, models []string) ([]uint64, error)
}

// TextPolicy says how much text of an event the side blob keeps: "none", "redacted" or "full".
// Under "redacted" the blob holds only the redacted text and under "none" there is no blob, so
// raw text never reaches the disk; the analysis stage gets the raw text of both from memory
// ([Pipeline.EphemeralText]).
type TextPolicy func(model string) string

// Options configure a Pipeline.
type Options struct {
	// Log is appended to directly when Publisher is nil.
	Log Log
	// Publisher, when set, replaces Log: events are durable once it returns.
	Publisher  Publisher
	TextPolicy TextPolicy
	// Redact turns text into what the "redacted" policy stores (required).
	Redact      func(string) string
	MaxInFlight int
	Registerer  prometheus.Registerer
	// Backlog, when set, reports how far the slowest follower (index, analysis) trails the log;
	// above MaxBacklog Submit refuses with ErrOverloaded so followers cannot fall behind without bound.
	Backlog    func() uint64
	MaxBacklog uint64
}

// Pipeline accepts events durably.
type Pipeline struct {
	log        Log
	pub        Publisher
	policy     TextPolicy
	redact     func(string) string
	max        int64
	inflight   atomic.Int64
	backlog    func() uint64
	maxBacklog uint64

	mu      sync.Mutex
	ephem   map[string]event.Text // raw text of events not stored in full, by event id, for the analysis stage only
	ephemQ  []string
	metrics metrics
}

type metrics struct {
	accepted prometheus.Counter
	rejected *prometheus.CounterVec
	batch    prometheus.Histogram
	inflight prometheus.GaugeFunc
}

const maxEphemeral = 20_000

// New returns a Pipeline.
func New(opts Options) (*Pipeline, error) {
	if opts.Log == nil && opts.Publisher == nil {
		return nil, errors.New("pipeline: Options.Log or Options.Publisher is required")
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 200_000
	}
	if opts.TextPolicy == nil {
		opts.TextPolicy = func(string) string { return "redacted" }
	}
	if opts.Redact == nil {
		return nil, errors.New("pipeline: Options.Redact is required")
	}
	p := &Pipeline{
		log: opts.Log, pub: opts.Publisher, policy: opts.TextPolicy, redact: opts.Redact, max: int64(opts.MaxInFlight),
		backlog: opts.Backlog, maxBacklog: opts.MaxBacklog,
		ephem: map[string]event.Text{},
	}
	p.metrics = metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_ingest_events_total", Help: "Events durably accepted."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_ingest_rejected_total", Help: "Events refused, by reason."}, []string{"reason"}),
		batch:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "warden_ingest_request_events", Help: "Events per accepted submission.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		inflight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "warden_ingest_queue_depth", Help: "Events accepted for appending but not yet durable."}, func() float64 { return float64(p.inflight.Load()) }),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{p.metrics.accepted, p.metrics.rejected, p.metrics.batch, p.metrics.inflight} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register pipeline metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Submit normalizes and durably appends evs, all or nothing, returning their ids (for re-sent
// ids, the id already in the log). Events must already be valid.
func (p *Pipeline) Submit(ctx context.Context, evs []*event.Event) ([]string, error) {
	n := int64(len(evs))
	if n == 0 {
		return nil, nil
	}
	if p.backlog != nil && p.maxBacklog > 0 && p.backlog() > p.maxBacklog {
		p.metrics.rejected.WithLabelValues("backlog").Add(float64(n))
		return nil, ErrOverloaded
	}
	if p.inflight.Add(n) > p.max && n < p.max {
		p.inflight.Add(-n)
		p.metrics.rejected.WithLabelValues("overload").Add(float64(n))
		return nil, ErrOverloaded
	}
	defer p.inflight.Add(-n)

	recs := make([]audit.Record, len(evs))
	ids := make([]string, len(evs))
	models := make([]string, len(evs))
	var ephem []int
	for i, ev := range evs {
		ev.Normalize()
		leaf, err := ev.Leaf()
		if err != nil {
			return nil, err
		}
		recs[i] = audit.Record{ID: ev.ID, Leaf: leaf}
		ids[i] = ev.ID
		models[i] = ev.Model.Name
		if t := ev.Text(); !t.Empty() {
			policy := p.policy(ev.Model.Name)
			if policy != "full" {
				ephem = append(ephem, i)
			}
			if policy == "redacted" {
				t.Input, t.Output = p.redact(t.Input), p.redact(t.Output)
				t.Redacted = true // the index writer keeps it as it is
			}
			if policy == "full" || policy == "redacted" {
				blob, err := t.Blob()
				if err != nil {
					return nil, fmt.Errorf("encode text of %s: %w", ev.ID, err)
				}
				recs[i].Blob = blob
			}
		}
	}
	// The raw text of events not stored in full is handed to the local analysis stage from
	// memory. It is registered before the append, so it is there whenever a follower reads the
	// entry; a remote appender's followers run elsewhere and never ask.
	if p.pub == nil && len(ephem) > 0 {
		p.keepEphemeral(evs, ephem)
	}
	var err error
	if p.pub != nil {
		_, err = p.pub.Publish(ctx, recs, models)
	} else {
		_, err = p.log.Append(ctx, recs)
	}
	if err != nil {
		if p.pub == nil && len(ephem) > 0 {
			p.dropEphemeral(evs, ephem)
		}
		p.metrics.rejected.WithLabelValues("append_error").Add(float64(n))
		return nil, fmt.Errorf("make events durable: %w", err)
	}
	p.metrics.accepted.Add(float64(n))
	p.metrics.batch.Observe(float64(n))
	return ids, nil
}

func (p *Pipeline) keepEphemeral(evs []*event.Event, which []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range which {
		p.ephem[evs[i].ID] = evs[i].Text()
		p.ephemQ = append(p.ephemQ, evs[i].ID)
	}
	for len(p.ephemQ) > maxEphemeral {
		delete(p.ephem, p.ephemQ[0])
		p.ephemQ = p.ephemQ[1:]
	}
}

func (p *Pipeline) dropEphemeral(evs []*event.Event, which []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range which {
		delete(p.ephem, evs[i].ID) // its queue slot ages out
	}
}

// EphemeralText returns, once, the in-memory raw text of the store_text:none or redacted event
// with the given id, so the analysis stage can scan it although it was never written to disk as such.
// After a restart (or past the last 20,000 such events) it is gone and analysis sees the stored
// text: the redacted version, or none.
func (p *Pipeline) EphemeralText(id string) (event.Text, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.ephem[id]
	if ok {
		delete(p.ephem, id)
	}
	return t, ok
}

// Emit is Submit without the ids, for producers such as the gateway.
func (p *Pipeline) Emit(ctx context.Context, evs []*event.Event) error {
	_, err := p.Submit(ctx, evs)
	return err
}
