package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/tsa"
)

// timestamping has checkpoints of the audit log time-stamped by RFC 3161 TSAs
// (audit.timestamp_authorities): every audit.timestamp_interval, the checkpoint of what was
// appended gets a token from the first TSA that answers, stored beside it
// (DATA/log/timestamps/<size>.tst).
type timestamping struct {
	submit  sync.Mutex // one round at a time
	mu      sync.Mutex // the fields below
	clients []*tsa.Client
	done    uint64 // size of the checkpoint stamped last
	fails   int    // consecutive rounds without a token
	next    time.Time
	lastErr string

	size     prometheus.Gauge
	failures *prometheus.CounterVec
}

func (a *App) buildTimestamping() {
	ts := &timestamping{
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "warden_timestamp_size",
			Help: "size of the latest audit-log checkpoint with an RFC 3161 time-stamp token"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_timestamp_failures_total",
			Help: "failed RFC 3161 time-stamp requests by TSA"}, []string{"tsa"}),
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, u := range a.cfg.Audit.TimestampAuthorities {
		ts.clients = append(ts.clients, &tsa.Client{URL: u, HTTP: hc})
		ts.failures.WithLabelValues(u)
	}
	if len(ts.clients) > 0 {
		a.reg.MustRegister(ts.size, ts.failures)
	}
	a.timestamping = ts
}

// runTimestamping stamps a new checkpoint every timestamp_interval; after a round in which no
// TSA answered it tries again after a backoff (1 s doubling, at most the interval).
func (a *App) runTimestamping(ctx context.Context) error {
	ts := a.timestamping
	if len(ts.clients) == 0 {
		return nil
	}
	t := time.NewTicker(min(a.cfg.Audit.TimestampInterval, witnessBackoffFirst))
	defer t.Stop()
	var last time.Time
	for {
		now := time.Now()
		ts.mu.Lock()
		retry := ts.fails > 0 && !now.Before(ts.next)
		ts.mu.Unlock()
		if now.Sub(last) >= a.cfg.Audit.TimestampInterval || retry {
			last = now
			if err := a.timestampOnce(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("time-stamping", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// timestampOnce signs a checkpoint of everything appended so far and, if it is larger than the
// one stamped last, obtains a token over it from the first TSA that answers.
func (a *App) timestampOnce(ctx context.Context) error {
	ts := a.timestamping
	ts.submit.Lock()
	defer ts.submit.Unlock()
	ts.mu.Lock()
	done := ts.done
	ts.mu.Unlock()
	if a.audit.Size() == done {
		return nil
	}
	cp, err := a.audit.CheckpointNow()
	if err != nil {
		return err
	}
	size, err := checkpointSize(cp)
	if err != nil || size <= done {
		return err
	}
	digest := audit.CheckpointDigest(cp)
	var errs []error
	for _, c := range ts.clients {
		tok, err := c.Stamp(ctx, digest)
		if err != nil {
			ts.failures.WithLabelValues(c.URL).Inc()
			errs = append(errs, err)
			continue
		}
		if err := a.audit.AddTimestamp(size, tok.Raw); err != nil {
			return err
		}
		ts.mu.Lock()
		if ts.fails > 0 {
			a.log.Info("time-stamping again", "size", size, "after_failures", ts.fails)
		}
		ts.done, ts.fails, ts.lastErr = size, 0, ""
		ts.mu.Unlock()
		ts.size.Set(float64(size))
		a.log.Debug("checkpoint time-stamped", "size", size, "tsa", c.URL, "time", tok.Time)
		return nil
	}
	ts.mu.Lock()
	ts.fails++
	ts.next = time.Now().Add(min(witnessBackoffFirst<<min(ts.fails-1, 20), a.cfg.Audit.TimestampInterval))
	ts.lastErr = errors.Join(errs...).Error()
	retryIn := time.Until(ts.next).Round(time.Millisecond)
	ts.mu.Unlock()
	return fmt.Errorf("no TSA time-stamped the checkpoint of size %d (retry in %s): %w", size, retryIn, errors.Join(errs...))
}

// timestampFinal stamps the checkpoint written at shutdown, waiting at most witnessShutdownWait.
func (a *App) timestampFinal() error {
	if a.timestamping == nil || len(a.timestamping.clients) == 0 {
		return nil
	}
	select {
	case <-a.ready:
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), witnessShutdownWait)
	defer cancel()
	if err := a.timestampOnce(ctx); err != nil {
		a.log.Error("final checkpoint not time-stamped", "err", err)
	}
	return nil
}

// timestampView is the time-stamping block of /readyz (to a caller with a token).
type timestampView struct {
	Size      uint64    `json:"timestamped_size"`
	Failures  int       `json:"consecutive_failures,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	NextRetry time.Time `json:"next_retry,omitzero"`
}

func (ts *timestamping) status() timestampView {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	v := timestampView{Size: ts.done, Failures: ts.fails, LastError: ts.lastErr}
	if ts.fails > 0 {
		v.NextRetry = ts.next.UTC()
	}
	return v
}
