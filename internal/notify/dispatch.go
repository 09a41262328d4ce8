package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ErrUnknownReceiver is returned for a receiver name the dispatcher was not built with.
var ErrUnknownReceiver = errors.New("unknown receiver")

// Options configure a [Dispatcher]. Start from [DefaultOptions].
type Options struct {
	// Logger receives one record per failed attempt and per dead letter; never secrets.
	Logger *slog.Logger
	// Registerer gets the warden_notify_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// MaxAttempts bounds the attempts per delivery (including the first).
	MaxAttempts int
	// MaxElapsed bounds the time from the first attempt to giving up, waits included.
	MaxElapsed time.Duration
	// AttemptTimeout bounds one attempt.
	AttemptTimeout time.Duration
	// InitialBackoff is the wait before the second attempt; each later wait doubles, up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Jitter spreads each wait uniformly over [wait·(1−Jitter), wait·(1+Jitter)]; 0..1.
	Jitter float64
	// MaxRetryAfter caps a receiver's Retry-After; a longer request ends the delivery early.
	MaxRetryAfter time.Duration
	// DeadLetters receives deliveries that failed for good; nil keeps none.
	DeadLetters DeadLetterSink
	// Status records per-alert delivery status; nil creates a book of 10,000 alerts.
	Status *StatusBook
	// Now returns the current time (tests inject a clock).
	Now func() time.Time
}

// DefaultOptions returns 6 attempts within 5 minutes, waits 1 s, 2 s, 4 s … up to 1 min with
// ±20 % jitter, 15 s per attempt, Retry-After honoured up to 2 min.
func DefaultOptions() Options {
	return Options{
		Logger:         slog.New(slog.DiscardHandler),
		MaxAttempts:    6,
		MaxElapsed:     5 * time.Minute,
		AttemptTimeout: 15 * time.Second,
		InitialBackoff: time.Second,
		MaxBackoff:     time.Minute,
		Jitter:         0.2,
		MaxRetryAfter:  2 * time.Minute,
		Now:            time.Now,
	}
}

func (o *Options) validate() error {
	switch {
	case o.Logger == nil:
		return errors.New("notify options: Logger is nil")
	case o.MaxAttempts < 1:
		return fmt.Errorf("notify options: MaxAttempts %d: must be at least 1", o.MaxAttempts)
	case o.MaxElapsed <= 0:
		return fmt.Errorf("notify options: MaxElapsed %v: must be positive", o.MaxElapsed)
	case o.AttemptTimeout <= 0:
		return fmt.Errorf("notify options: AttemptTimeout %v: must be positive", o.AttemptTimeout)
	case o.InitialBackoff <= 0 || o.MaxBackoff < o.InitialBackoff:
		return fmt.Errorf("notify options: InitialBackoff %v, MaxBackoff %v: want 0 < initial <= max", o.InitialBackoff, o.MaxBackoff)
	case o.Jitter < 0 || o.Jitter > 1:
		return fmt.Errorf("notify options: Jitter %v: want 0..1", o.Jitter)
	case o.MaxRetryAfter < 0:
		return fmt.Errorf("notify options: MaxRetryAfter %v: must not be negative", o.MaxRetryAfter)
	case o.Now == nil:
		return errors.New("notify options: Now is nil")
	}
	return nil
}

// Dispatcher delivers notifications to named receivers through the retry pipeline.
// Safe for concurrent use; it owns no goroutines beyond the calls in flight.
type Dispatcher struct {
	receivers map[string]Notifier
	opts      Options
	log       *slog.Logger
	status    *StatusBook
	m         metrics
}

type metrics struct {
	attempts    *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
}

// NewDispatcher returns a dispatcher over receivers (name → notifier).
func NewDispatcher(receivers map[string]Notifier, opts Options) (*Dispatcher, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	for name, n := range receivers {
		if name == "" || n == nil {
			return nil, fmt.Errorf("notify: receiver %q: empty name or nil notifier", name)
		}
	}
	if opts.Status == nil {
		opts.Status = NewStatusBook(0)
	}
	f := promauto.With(opts.Registerer)
	d := &Dispatcher{
		receivers: receivers,
		opts:      opts,
		log:       opts.Logger.With("component", "notify"),
		status:    opts.Status,
		m: metrics{
			attempts: f.NewCounterVec(prometheus.CounterOpts{
				Name: "warden_notify_attempts_total",
				Help: "Delivery attempts per receiver and result (ok, error).",
			}, []string{"receiver", "result"}),
			deliveries: f.NewCounterVec(prometheus.CounterOpts{
				Name: "warden_notify_deliveries_total",
				Help: "Finished deliveries per receiver, kind and outcome (sent, failed).",
			}, []string{"receiver", "kind", "outcome"}),
			deadLetters: f.NewCounterVec(prometheus.CounterOpts{
				Name: "warden_notify_dead_letters_total",
				Help: "Deliveries given up and dead-lettered, per receiver.",
			}, []string{"receiver"}),
			duration: f.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "warden_notify_delivery_duration_seconds",
				Help:    "Time from first attempt to sent or given up, retries included.",
				Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
			}, []string{"receiver"}),
			inFlight: f.NewGauge(prometheus.GaugeOpts{
				Name: "warden_notify_in_flight",
				Help: "Deliveries in progress, waits between retries included.",
			}),
		},
	}
	return d, nil
}

// Receivers returns the receiver names, sorted.
func (d *Dispatcher) Receivers() []string {
	names := make([]string, 0, len(d.receivers))
	for name := range d.receivers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Status returns the book of delivery statuses.
func (d *Dispatcher) Status() *StatusBook { return d.status }

// Send delivers n to every named receiver concurrently and waits. The error joins one error
// per receiver that failed for good (each already dead-lettered).
func (d *Dispatcher) Send(ctx context.Context, receivers []string, n *Notification) error {
	errs := make([]error, len(receivers))
	var wg sync.WaitGroup
	for i, name := range receivers {
		wg.Go(func() { errs[i] = d.Deliver(ctx, name, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Deliver sends n to one receiver, retrying until it is sent, an error is permanent, the
// attempts or time run out, or ctx ends. On failure it writes a dead letter and returns an
// error naming the receiver (never a secret). Status is updated at every step.
func (d *Dispatcher) Deliver(ctx context.Context, receiver string, n *Notification) error {
	notifier, ok := d.receivers[receiver]
	if !ok {
		return fmt.Errorf("deliver to %q: %w", receiver, ErrUnknownReceiver)
	}
	if err := n.Validate(); err != nil {
		return fmt.Errorf("deliver to %q: %w", receiver, err)
	}
	d.m.inFlight.Inc()
	defer d.m.inFlight.Dec()

	start := d.opts.Now()
	deadline := start.Add(d.opts.MaxElapsed)
	log := d.log.With("receiver", receiver, "kind", string(n.Kind), "level", n.Level, "alerts", len(n.Alerts))
	d.record(n, receiver, StatePending, 0, "")

	var (
		lastErr  error
		attempts int
		backoff  = d.opts.InitialBackoff
	)
	for attempts < d.opts.MaxAttempts {
		attempts++
		actx, cancel := context.WithTimeout(ctx, min(d.opts.AttemptTimeout, max(deadline.Sub(d.opts.Now()), time.Millisecond)))
		err := notifier.Notify(actx, n)
		cancel()
		if err == nil {
			d.m.attempts.WithLabelValues(receiver, "ok").Inc()
			d.m.deliveries.WithLabelValues(receiver, string(n.Kind), "sent").Inc()
			d.m.duration.WithLabelValues(receiver).Observe(d.opts.Now().Sub(start).Seconds())
			d.record(n, receiver, StateSent, attempts, "")
			if attempts > 1 {
				log.Info("notification sent after retries", "attempts", attempts)
			}
			return nil
		}
		d.m.attempts.WithLabelValues(receiver, "error").Inc()
		lastErr = err
		d.record(n, receiver, StatePending, attempts, err.Error())
		log.Warn("notification attempt failed", "attempt", attempts, "err", err.Error())
		if IsPermanent(err) || ctx.Err() != nil || attempts >= d.opts.MaxAttempts {
			break
		}
		wait := d.jitter(backoff)
		backoff = min(backoff*2, d.opts.MaxBackoff)
		if ra, ok := RetryAfter(err); ok {
			if ra > d.opts.MaxRetryAfter {
				lastErr = fmt.Errorf("%w (receiver asked to wait %v, more than the %v allowed)", err, ra, d.opts.MaxRetryAfter)
				break
			}
			wait = max(wait, ra)
		}
		if d.opts.Now().Add(wait).After(deadline) {
			lastErr = fmt.Errorf("%w (giving up: next retry would pass the %v limit)", err, d.opts.MaxElapsed)
			break
		}
		if err := sleep(ctx, wait); err != nil {
			break
		}
	}
	if ctx.Err() != nil && !IsPermanent(lastErr) {
		lastErr = fmt.Errorf("%w (delivery cancelled: %w)", lastErr, ctx.Err())
	}
	d.m.deliveries.WithLabelValues(receiver, string(n.Kind), "failed").Inc()
	d.m.duration.WithLabelValues(receiver).Observe(d.opts.Now().Sub(start).Seconds())
	d.record(n, receiver, StateFailed, attempts, lastErr.Error())
	if d.opts.DeadLetters != nil {
		dl := DeadLetter{Time: d.opts.Now(), Receiver: receiver, Attempts: attempts, Error: lastErr.Error(), Notification: n}
		// The sink is written even when ctx ended: losing the record is worse than a late write.
		if err := d.opts.DeadLetters.Put(context.WithoutCancel(ctx), dl); err != nil {
			log.Error("dead letter not stored", "err", err.Error())
		} else {
			d.m.deadLetters.WithLabelValues(receiver).Inc()
		}
	}
	log.Error("notification failed", "attempts", attempts, "err", lastErr.Error())
	return fmt.Errorf("deliver to %q after %d attempt(s): %w", receiver, attempts, lastErr)
}

func (d *Dispatcher) record(n *Notification, receiver string, state DeliveryState, attempts int, lastErr string) {
	now := d.opts.Now()
	for i := range n.Alerts {
		s := Status{
			AlertID: n.Alerts[i].ID, Receiver: receiver, Kind: n.Kind, Level: n.Level,
			State: state, Attempts: attempts, LastError: lastErr, UpdatedAt: now,
		}
		if state == StateSent {
			s.SentAt = &now
		}
		d.status.put(s)
	}
}

func (d *Dispatcher) jitter(wait time.Duration) time.Duration {
	if d.opts.Jitter == 0 {
		return wait
	}
	f := 1 + d.opts.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(wait) * f)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
