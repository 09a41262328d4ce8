// Package jetstream is the NATS JetStream transport of the bus (docs/SCALE-OUT.md).
//
// Two streams carry the pipeline. EVENTS (subjects <prefix>.events.<partition>, limits
// retention, replicated) holds every accepted event; ingest and gateway processes publish to it
// and answer 202 only after JetStream acknowledged the message, so "durable" means "stored by
// the stream" (by a majority of its replicas when replicas > 1). The message id is the event id,
// which makes a re-sent event a no-op within the de-duplication window.
//
// One appender — the holder of a lease in a JetStream key-value bucket — reads EVENTS in stream
// order, appends to the audit log (the system of record; idempotent by event id), remembers the
// last stream sequence it appended beside the log, and republishes each entry with its log index
// to LOGGED (subjects <prefix>.logged.<partition>, work-queue retention). Each partition is
// owned by one worker at a time (Workers: leases, rendezvous hashing, a consumer per partition),
// which writes the index store, runs the analysis, stores the partition's state and only then
// acknowledges: a worker killed mid-batch leaves its messages to the next owner, which resumes
// from the stored state; index rows are keyed by log index, so every entry is indexed exactly
// once. Alerts the workers raise go to a third stream, ALERTS, read by one api process for the
// cluster's alert manager (alerts.go).
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/bus"
)

// ErrUnavailable means NATS is not reachable right now; nothing of the call was acknowledged.
var ErrUnavailable = errors.New("bus: NATS unavailable")

// IndexHeader carries an entry's audit-log index on LOGGED messages.
const IndexHeader = "Warden-Log-Index"

// Options configure the transport.
type Options struct {
	URL        string // one or more NATS URLs, comma-separated
	Stream     string // EVENTS stream name; LOGGED is <Stream>_LOGGED
	Replicas   int
	Partitions int
	Name       string // connection name shown by the NATS server (role@host)
	Logger     *slog.Logger
	// MaxAge bounds how long EVENTS keeps messages; default 7 days. An appender that starts
	// from an empty log replays what the stream still holds.
	MaxAge time.Duration
	// LeaseTTL is how long the appender lease outlives its holder; default 10 s.
	LeaseTTL time.Duration
	// AckWait is how long a worker may hold a LOGGED batch before it is redelivered; default 10 s.
	AckWait time.Duration
	// PublishTimeout bounds one Publish; default 10 s.
	PublishTimeout time.Duration
}

// Bus is a connection to NATS JetStream with Warden's streams.
type Bus struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string // subject prefix, lower-case stream name
	logged string // LOGGED stream name
	leases jetstream.KeyValue
	state  jetstream.KeyValue // partition snapshots of the workers
	alerts string             // ALERTS stream name: alerts raised by workers, for the alert manager
}

// Open connects to NATS and creates (or updates) the streams and the lease bucket. A server
// that cannot be reached is an error naming the URL; once connected, the client reconnects on
// its own for as long as the process runs.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stream == "" {
		opts.Stream = "WARDEN"
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 16
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 7 * 24 * time.Hour
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 10 * time.Second
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 10 * time.Second
	}
	b := &Bus{opts: opts, log: opts.Logger.With("component", "bus"), prefix: strings.ToLower(opts.Stream), logged: opts.Stream + "_LOGGED", alerts: opts.Stream + "_ALERTS"}
	nc, err := nats.Connect(opts.URL, nats.Name(opts.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.Timeout(3*time.Second),
		// No reconnect buffer: a publish while disconnected fails at once (ingest answers 503)
		// and is not sent later behind the client's back.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("NATS connection lost; reconnecting", "url", opts.URL, "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { b.log.Info("NATS reconnected", "server", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", opts.URL, err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16_384)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", opts.URL, err)
	}
	if err := b.setup(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", opts.URL, err)
	}
	return b, nil
}

func (b *Bus) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := settle(ctx, func() error {
		_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: b.opts.Stream, Subjects: []string{b.prefix + ".events.*"}, Storage: jetstream.FileStorage,
			Replicas: b.opts.Replicas, MaxAge: b.opts.MaxAge, Duplicates: 2 * time.Minute,
			Description: "Warden: accepted events, before the audit log",
		})
		return err
	}); err != nil {
		return fmt.Errorf("stream %s: %w", b.opts.Stream, err)
	}
	if err := settle(ctx, func() error {
		_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: b.logged, Subjects: []string{b.prefix + ".logged.*"}, Storage: jetstream.FileStorage,
			Replicas: b.opts.Replicas, Retention: jetstream.WorkQueuePolicy, Duplicates: 2 * time.Minute,
			Description: "Warden: audit-log entries for the workers",
		})
		return err
	}); err != nil {
		return fmt.Errorf("stream %s: %w", b.logged, err)
	}
	buckets := []struct {
		kv   *jetstream.KeyValue
		what string
		cfg  jetstream.KeyValueConfig
	}{
		{&b.leases, "lease bucket", jetstream.KeyValueConfig{
			Bucket: b.opts.Stream + "_LEASES", TTL: b.opts.LeaseTTL, Replicas: b.opts.Replicas, History: 1,
			Description: "Warden: role leases (the audit-log appender)",
		}},
		{&b.state, "state bucket", jetstream.KeyValueConfig{
			Bucket: b.opts.Stream + "_STATE", Replicas: b.opts.Replicas, History: 1,
			Description: "Warden: analysis state of each partition (baselines, windows, rule state)",
		}},
	}
	for _, bk := range buckets {
		if err := settle(ctx, func() error {
			kv, err := b.js.CreateOrUpdateKeyValue(ctx, bk.cfg)
			*bk.kv = kv
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", bk.what, err)
		}
	}
	return b.setupAlerts(ctx)
}

// settle runs a create-or-update of the setup until it succeeds or ctx ends, and then returns
// its last error. Processes that start together set up the same streams and buckets at once,
// and on a cluster one of them can be refused meanwhile ("subjects overlap with an existing
// stream" for the stream another process has just created or is updating); a cluster still
// electing its meta leader refuses for a moment too.
func settle(ctx context.Context, f func() error) error {
	var last error
	for {
		err := f()
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err // not the deadline that cut the last attempt short
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// URL returns the configured server URL(s).
func (b *Bus) URL() string { return b.opts.URL }

// Connected reports whether the client is connected to a NATS server now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Close drains the connection.
func (b *Bus) Close() error {
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
	}
	return nil
}

// Publish publishes recs to EVENTS, each to the partition of its model, and returns once
// JetStream acknowledged every one (stored on a majority of replicas). It returns nil indexes:
// the appender assigns them. It fails at once with ErrUnavailable while disconnected, so that
// ingest answers 503 instead of holding requests; re-sent records are acknowledged as
// duplicates and stored once.
func (b *Bus) Publish(ctx context.Context, recs []audit.Record, models []string) ([]uint64, error) {
	if !b.nc.IsConnected() {
		return nil, fmt.Errorf("%w: not connected to %s", ErrUnavailable, b.opts.URL)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	futs := make([]jetstream.PubAckFuture, 0, len(recs))
	for i := range recs {
		subj := b.prefix + ".events." + strconv.Itoa(bus.Partition(models[i], b.opts.Partitions))
		msg := &nats.Msg{Subject: subj, Data: bus.EncodeRecord(recs[i].Leaf, recs[i].Blob), Header: nats.Header{}}
		f, err := b.js.PublishMsgAsync(msg, jetstream.WithMsgID(recs[i].ID))
		if err != nil {
			return nil, fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
		}
		futs = append(futs, f)
	}
	return nil, waitAcks(ctx, futs)
}

func waitAcks(ctx context.Context, futs []jetstream.PubAckFuture) error {
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the stream's acknowledgement: %w", ErrUnavailable, ctx.Err())
		}
	}
	return nil
}
