package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/alert"
)

// Alerts in the distributed mode. Workers do not manage alerts: their partitions' rules engines
// raise and resolve them, and each raise and resolution goes, as JSON, to the stream
// <Stream>_ALERTS (subject <prefix>.alerts, replicated like EVENTS) with a message id derived
// from the alert itself, so the same raise analysed again — a partition's new owner replaying
// the entries its predecessor left unacknowledged — is stored once. One process, the holder of
// the lease "alerts" (an api process), reads that stream in order from the sequence after the
// last one it applied (kept beside its data) and feeds the cluster's one alert manager.

// Alert message kinds.
const (
	AlertRaise   = "raise"   // a rule raised Alert
	AlertResolve = "resolve" // the condition of the alert with DedupKey cleared at At
)

// AlertMsg is one message of the ALERTS stream.
type AlertMsg struct {
	Kind     string       `json:"kind"`
	Alert    *alert.Alert `json:"alert,omitempty"`
	DedupKey string       `json:"dedup_key,omitempty"`
	At       time.Time    `json:"at,omitzero"`
}

// RaiseMsg is the message of a raised alert.
func RaiseMsg(a alert.Alert) AlertMsg { return AlertMsg{Kind: AlertRaise, Alert: &a} }

// ResolveMsg is the message of a cleared condition (at is when it cleared, in event time).
func ResolveMsg(dedupKey string, at time.Time) AlertMsg {
	return AlertMsg{Kind: AlertResolve, DedupKey: dedupKey, At: at}
}

// ID is the message id: a function of what the rules engine decided (the alert's id — its
// dedup key and the event time it fired at — or the dedup key and the time its condition
// cleared), so the same decision made again from the same entries has the same id.
func (m AlertMsg) ID() string {
	h := sha256.New()
	h.Write([]byte(m.Kind))
	h.Write([]byte{0})
	if m.Kind == AlertRaise && m.Alert != nil {
		h.Write([]byte(m.Alert.DedupKey))
		h.Write([]byte{0})
		h.Write([]byte(m.Alert.ID))
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(m.Alert.StartsAt.UnixNano(), 10)))
	} else {
		h.Write([]byte(m.DedupKey))
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(m.At.UnixNano(), 10)))
	}
	return m.Kind + "-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// MaxAlertMsg bounds one encoded message (NATS refuses more than max_payload anyway).
const MaxAlertMsg = 1 << 20

// DecodeAlertMsg parses and checks one message of the ALERTS stream; the error names the field.
func DecodeAlertMsg(data []byte) (AlertMsg, error) {
	var m AlertMsg
	if len(data) > MaxAlertMsg {
		return m, fmt.Errorf("alert message of %d bytes exceeds %d", len(data), MaxAlertMsg)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return AlertMsg{}, fmt.Errorf("alert message: %w", err)
	}
	if dec.More() {
		return AlertMsg{}, errors.New("alert message: data after the JSON object")
	}
	switch m.Kind {
	case AlertRaise:
		switch {
		case m.Alert == nil:
			return AlertMsg{}, errors.New("alert message: alert: required for kind raise")
		case m.Alert.DedupKey == "":
			return AlertMsg{}, errors.New("alert message: alert.dedup_key: required")
		case !m.Alert.Severity.Valid():
			return AlertMsg{}, fmt.Errorf("alert message: alert.severity: %q is not P1..P4", m.Alert.Severity)
		}
	case AlertResolve:
		if m.DedupKey == "" {
			return AlertMsg{}, errors.New("alert message: dedup_key: required for kind resolve")
		}
	default:
		return AlertMsg{}, fmt.Errorf("alert message: kind: %q is not raise or resolve", m.Kind)
	}
	return m, nil
}

// alertsDuplicates is the ALERTS stream's de-duplication window: long enough to cover a
// partition's take-over (lease TTL + redelivery) and a NATS outage during which a worker could
// not store its state, so the replayed raises after it are still recognised.
const alertsDuplicates = time.Hour

func (b *Bus) setupAlerts(ctx context.Context) error {
	if err := settle(ctx, func() error {
		_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: b.alerts, Subjects: []string{b.prefix + ".alerts"}, Storage: jetstream.FileStorage,
			Replicas: b.opts.Replicas, MaxAge: b.opts.MaxAge, Duplicates: min(alertsDuplicates, b.opts.MaxAge),
			Description: "Warden: alerts raised and resolved by the workers' rules, for the alert manager",
		})
		return err
	}); err != nil {
		return fmt.Errorf("stream %s: %w", b.alerts, err)
	}
	// Earlier versions de-duplicated alerts with claims in a key-value bucket of this name.
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.js.DeleteKeyValue(dctx, b.opts.Stream+"_ALERTS"); err == nil {
		b.log.Info("removed the alert-claim bucket of an earlier version", "bucket", b.opts.Stream+"_ALERTS")
	}
	return nil
}

// PublishAlerts stores msgs in ALERTS, in order, and returns once JetStream acknowledged every
// one. A message stored before (same id, within the de-duplication window) is acknowledged as a
// duplicate and not stored again.
func (b *Bus) PublishAlerts(ctx context.Context, msgs []AlertMsg) error {
	if len(msgs) == 0 {
		return nil
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to %s", ErrUnavailable, b.opts.URL)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		data, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode alert message: %w", err)
		}
		f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: b.prefix + ".alerts", Data: data}, jetstream.WithMsgID(m.ID()))
		if err != nil {
			return fmt.Errorf("%w: publish alerts: %w", ErrUnavailable, err)
		}
		futs = append(futs, f)
	}
	return waitAcks(ctx, futs)
}

// AlertStats count what the alert outboxes of one process did.
type AlertStats struct {
	Published atomic.Uint64 // messages acknowledged by ALERTS
	Failed    atomic.Uint64 // publish attempts that failed (the messages stayed in the outbox)
	Overflow  atomic.Uint64 // messages dropped from a full outbox (re-raised from the replay)
}

// ErrAlertsOverflow means an outbox dropped messages: the partition must resume from its
// stored state, so that the replayed entries raise them again.
var ErrAlertsOverflow = errors.New("jetstream: alert outbox overflowed")

// AlertOutbox holds one partition's alert messages, in order, until ALERTS acknowledged them.
// A worker flushes it after each batch and tick (a failure keeps them for the next try), and
// must flush it successfully before storing the partition's state: entries are acknowledged
// only after their alerts are in the stream, so nothing raised is lost with a worker or while
// NATS is down — at worst it is raised again from the replay and de-duplicated by id.
type AlertOutbox struct {
	b       *Bus
	max     int
	stats   *AlertStats
	mu      sync.Mutex
	pending []AlertMsg
	dropped bool
}

// NewAlertOutbox returns an outbox holding at most max messages (default 10,000); stats may be
// shared by the outboxes of a process.
func (b *Bus) NewAlertOutbox(maxPending int, stats *AlertStats) *AlertOutbox {
	if maxPending <= 0 {
		maxPending = 10_000
	}
	if stats == nil {
		stats = &AlertStats{}
	}
	return &AlertOutbox{b: b, max: maxPending, stats: stats}
}

// Add queues messages; beyond the bound they are dropped and counted, and the next Flush
// fails with ErrAlertsOverflow.
func (o *AlertOutbox) Add(msgs ...AlertMsg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	room := max(o.max-len(o.pending), 0)
	if len(msgs) > room {
		o.stats.Overflow.Add(uint64(len(msgs) - room))
		o.dropped = true
		msgs = msgs[:room]
	}
	o.pending = append(o.pending, msgs...)
}

// Len is the number of messages waiting.
func (o *AlertOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// Flush publishes the waiting messages; on success they leave the outbox. It fails while NATS
// cannot store them, and with ErrAlertsOverflow once messages were dropped.
func (o *AlertOutbox) Flush(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) > 0 {
		if err := o.b.PublishAlerts(ctx, o.pending); err != nil {
			o.stats.Failed.Add(1)
			return err
		}
		o.stats.Published.Add(uint64(len(o.pending)))
		o.pending = o.pending[:0]
	}
	if o.dropped {
		return ErrAlertsOverflow
	}
	return nil
}

// AlertApplierOptions configure an AlertApplier.
type AlertApplierOptions struct {
	// Apply hands one message to the alert manager. An error stops the reading; the message
	// is applied again when it resumes (after a second), so only a failure that may pass
	// (e.g. a disk error) should be returned: a message the manager refuses is logged and
	// skipped by returning nil.
	Apply func(ctx context.Context, m AlertMsg) error
	// PositionFile keeps the last ALERTS sequence applied; it lives beside the alert manager's
	// data, so that they move together.
	PositionFile string
	Node         string // this process, as written into the lease
}

// AlertApplier feeds the alerts the workers raise to the one alert manager of the cluster: it
// runs on every api process, and the one holding the lease "alerts" applies.
type AlertApplier struct {
	r       *singleReader
	opts    AlertApplierOptions
	skipped atomic.Uint64
}

const alertsKey = "alerts"

// NewAlertApplier returns an applier; Run competes for the lease.
func (b *Bus) NewAlertApplier(opts AlertApplierOptions) (*AlertApplier, error) {
	if opts.Apply == nil || opts.PositionFile == "" {
		return nil, errors.New("jetstream: AlertApplierOptions.Apply and PositionFile are required")
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	a := &AlertApplier{opts: opts}
	a.r = &singleReader{
		b: b, key: alertsKey, node: opts.Node, stream: b.alerts, maxBatch: 256,
		posFile: opts.PositionFile, log: b.log.With("role", "alerts", "node", opts.Node),
		handle: a.applyBatch,
	}
	if err := a.r.readPosition(); err != nil {
		return nil, err
	}
	return a, nil
}

// Leader reports whether this process holds the alerts lease (its alert manager is the
// cluster's).
func (a *AlertApplier) Leader() bool { return a.r.leader.Load() }

// Position is the last ALERTS stream sequence applied.
func (a *AlertApplier) Position() uint64 { return a.r.pos.Load() }

// Lag is how many ALERTS messages are not applied yet (0 when NATS cannot say).
func (a *AlertApplier) Lag(ctx context.Context) uint64 { return a.r.lag(ctx) }

// Skipped counts messages that were not alert messages.
func (a *AlertApplier) Skipped() uint64 { return a.skipped.Load() }

// Run competes for the lease until ctx ends; while it holds it, it applies.
func (a *AlertApplier) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(a.opts.PositionFile), 0o700); err != nil {
		return err
	}
	return a.r.run(ctx)
}

// applyBatch applies messages one by one in stream order, recording the position after each,
// so that a restart applies nothing twice but what it was applying.
func (a *AlertApplier) applyBatch(ctx context.Context, batch []jetstream.Msg) error {
	for _, m := range batch {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("ALERTS message metadata: %w", err)
		}
		msg, err := DecodeAlertMsg(m.Data())
		if err != nil {
			a.skipped.Add(1)
			a.r.log.Error("ALERTS message skipped", "stream_seq", md.Sequence.Stream, "err", err)
		} else if err := a.opts.Apply(ctx, msg); err != nil {
			return fmt.Errorf("apply alert message %d: %w", md.Sequence.Stream, err)
		}
		if err := a.r.writePosition(md.Sequence.Stream); err != nil {
			return err
		}
	}
	return nil
}
