package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/witness"
)

const (
	// witnessShutdownWait bounds the submission of the final checkpoint at shutdown.
	witnessShutdownWait = 5 * time.Second
	// witnessBackoffFirst and witnessBackoffLimit bound the wait before a witness that failed is
	// tried again (doubling per consecutive failure).
	witnessBackoffFirst = time.Second
	witnessBackoffLimit = 5 * time.Minute
)

// witnessState is what the server knows of one configured witness.
type witnessState struct {
	c *witness.Client

	failures  int       // consecutive failures
	nextTry   time.Time // zero: now
	lastErr   string
	refused   bool   // the last failure was a refusal (tampering suspected), not unreachability
	cosigned  uint64 // size of the checkpoint it cosigned last (this process)
	sig       []byte // its cosignature of the checkpoint of size cosigned
	alertedAt uint64 // size of the checkpoint whose refusal raised the last detection
}

// witnessing submits the audit log's checkpoints to the configured witnesses.
type witnessing struct {
	submit sync.Mutex // one round at a time
	// written is the checkpoint last stored in DATA/log/witnessed, with writtenSigs cosignatures.
	written     []byte
	writtenSigs int

	mu sync.Mutex // the fields of ws
	ws []*witnessState

	up       *prometheus.GaugeVec
	size     *prometheus.GaugeVec
	failures *prometheus.CounterVec
}

// buildWitnessing creates a client per configured witness (audit.witnesses).
func (a *App) buildWitnessing() error {
	hc := &http.Client{Timeout: 10 * time.Second}
	wi := &witnessing{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_witness_up",
			Help: "1 when the witness cosigned the last checkpoint submitted to it, 0 while it is failing"}, []string{"witness"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_witness_cosigned_size",
			Help: "size of the latest audit-log checkpoint the witness cosigned"}, []string{"witness"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_witness_failures_total",
			Help: "failed checkpoint submissions by witness and kind (unreachable, refused, error)"}, []string{"witness", "kind"}),
	}
	for i, w := range a.cfg.Audit.Witnesses {
		c, err := witness.NewClient(w.URL, w.Key, hc)
		if err != nil {
			return fmt.Errorf("audit.witnesses[%d]: %w", i, err)
		}
		wi.ws = append(wi.ws, &witnessState{c: c})
		wi.up.WithLabelValues(c.Name()).Set(0)
		wi.size.WithLabelValues(c.Name()).Set(0)
		for _, k := range []string{"unreachable", "refused", "error"} {
			wi.failures.WithLabelValues(c.Name(), k)
		}
	}
	if len(wi.ws) > 0 {
		a.reg.MustRegister(wi.up, wi.size, wi.failures)
	}
	a.witnessing = wi
	return nil
}

// runWitnessing submits each new checkpoint to the configured witnesses and stores the
// checkpoint with the cosignatures that came back (DATA/log/witnessed), for
// `warden audit verify --witness-key`. A witness that fails is tried again after a backoff
// (1 s doubling to 5 min); a witness that refuses raises an audit_tamper_suspected detection.
func (a *App) runWitnessing(ctx context.Context) error {
	if len(a.witnessing.ws) == 0 {
		return nil
	}
	t := time.NewTicker(min(a.cfg.Audit.WitnessInterval, witnessBackoffFirst))
	defer t.Stop()
	last := time.Time{}
	for {
		now := time.Now()
		// A new checkpoint every witness_interval; failed witnesses on their backoff in between.
		if now.Sub(last) >= a.cfg.Audit.WitnessInterval || a.witnessing.retryDue(now) {
			last = now
			if err := a.witnessOnce(ctx, false); err != nil && ctx.Err() == nil {
				a.log.Warn("witnessing", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// retryDue reports whether a failed witness's backoff has expired.
func (wi *witnessing) retryDue(now time.Time) bool {
	wi.mu.Lock()
	defer wi.mu.Unlock()
	for _, w := range wi.ws {
		if w.failures > 0 && !now.Before(w.nextTry) {
			return true
		}
	}
	return false
}

// witnessOnce signs a checkpoint of everything appended so far and submits it, in parallel, to
// every witness that has not cosigned it and is not backing off (all of them when final: the
// last checkpoint at shutdown). DATA/log/witnessed is rewritten with the checkpoint and every
// cosignature of it.
func (a *App) witnessOnce(ctx context.Context, final bool) error {
	wi := a.witnessing
	wi.submit.Lock()
	defer wi.submit.Unlock()
	if wi.allCosigned(a.audit.Size()) {
		return nil
	}
	cp, err := a.audit.CheckpointNow()
	if err != nil {
		return err
	}
	size, err := checkpointSize(cp)
	if err != nil || size == 0 {
		return err
	}
	now := time.Now()
	var wg sync.WaitGroup
	for _, w := range wi.ws {
		wi.mu.Lock()
		skip := w.cosigned == size || (!final && w.failures > 0 && now.Before(w.nextTry))
		wi.mu.Unlock()
		if skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sig, err := w.c.Cosign(ctx, cp, size, a.audit.ConsistencyProof)
			if err != nil {
				if ctx.Err() == nil || final {
					a.witnessFailed(ctx, w, size, err, now, final)
				}
				return
			}
			wi.mu.Lock()
			if w.failures > 0 {
				a.log.Info("witness cosigning again", "witness", w.c.Name(), "size", size, "after_failures", w.failures)
			}
			w.failures, w.nextTry, w.lastErr, w.refused = 0, time.Time{}, "", false
			w.cosigned, w.sig = size, sig
			wi.mu.Unlock()
			wi.up.WithLabelValues(w.c.Name()).Set(1)
			wi.size.WithLabelValues(w.c.Name()).Set(float64(size))
		}()
	}
	wg.Wait()
	var sigs [][]byte
	var failed []string
	wi.mu.Lock()
	for _, w := range wi.ws {
		if w.cosigned == size {
			sigs = append(sigs, w.sig)
		} else {
			failed = append(failed, w.c.Name())
		}
	}
	wi.mu.Unlock()
	if len(sigs) > 0 && (!bytes.Equal(wi.written, cp) || len(sigs) != wi.writtenSigs) {
		out := append(bytes.TrimRight(cp, "\n"), '\n')
		out = append(out, bytes.Join(sigs, nil)...)
		if err := a.audit.SetWitnessed(out); err != nil {
			return err
		}
		wi.written, wi.writtenSigs = cp, len(sigs)
		a.log.Debug("checkpoint witnessed", "size", size, "witnesses", len(sigs), "final", final)
	}
	if len(failed) > 0 {
		return fmt.Errorf("checkpoint of size %d not cosigned by %s", size, strings.Join(failed, ", "))
	}
	return nil
}

// allCosigned reports whether every witness cosigned a checkpoint of size n.
func (wi *witnessing) allCosigned(n uint64) bool {
	wi.mu.Lock()
	defer wi.mu.Unlock()
	for _, w := range wi.ws {
		if w.cosigned != n {
			return false
		}
	}
	return true
}

// witnessFailed records a failed submission: backoff, metrics, log, and for a refusal a
// detection through the rules (warden.audit.tamper_suspected), once per refused size (while
// running; at shutdown only the error log).
func (a *App) witnessFailed(ctx context.Context, w *witnessState, size uint64, err error, now time.Time, final bool) {
	wi := a.witnessing
	wi.mu.Lock()
	w.failures++
	w.nextTry = now.Add(min(witnessBackoffFirst<<min(w.failures-1, 20), witnessBackoffLimit))
	w.lastErr = err.Error()
	failures, retryIn := w.failures, w.nextTry.Sub(now).Round(time.Millisecond)
	wi.up.WithLabelValues(w.c.Name()).Set(0)
	var ref *witness.RefusedError
	if !errors.As(err, &ref) {
		w.refused = false
		kind := "unreachable"
		if strings.Contains(err.Error(), "cosignature does not verify") || strings.Contains(err.Error(), "not one signature line") {
			kind = "error"
		}
		wi.mu.Unlock()
		wi.failures.WithLabelValues(w.c.Name(), kind).Inc()
		a.log.Warn("witness unreachable; retrying", "witness", w.c.Name(), "size", size, "failures", failures, "retry_in", retryIn.String(), "err", err)
		return
	}
	w.refused = true
	alerted := w.alertedAt == size
	w.alertedAt = size
	wi.mu.Unlock()
	wi.failures.WithLabelValues(w.c.Name(), "refused").Inc()
	a.log.Error("AUDIT TAMPER SUSPECTED: witness refused the audit log's checkpoint", "witness", w.c.Name(), "size", size, "witness_size", ref.WitnessSize, "status", ref.Status, "reason", ref.Reason)
	if alerted || final { // at shutdown the rules and alerts have stopped: the log line is the alert
		return
	}
	a.raiseDetection(ctx, rules.Detection{
		Kind: detection.KindAuditTamper, Time: now, Feature: w.c.Name(), Statistic: "witness_refused",
		Value: float64(size), Threshold: float64(ref.WitnessSize),
		Values:  map[string]float64{"witness_size": float64(ref.WitnessSize), "http_status": float64(ref.Status)},
		Message: fmt.Sprintf("witness %s refused the checkpoint of size %d: %s", w.c.Name(), size, ref.Reason),
	})
}

// raiseDetection hands a detection raised outside the analysis stream to the rules engine and
// records it like the analysis detections.
func (a *App) raiseDetection(ctx context.Context, d rules.Detection) {
	if a.rules == nil {
		return
	}
	a.recordDetections([]rules.Detection{d})
	if als := a.rules.ObserveDetection(d); len(als) > 0 {
		a.receiveAlerts(ctx, als)
	}
}

// witnessFinal submits the checkpoint written at shutdown to every witness, waiting at most
// witnessShutdownWait; it runs after every stage stopped and before the audit log closes.
func (a *App) witnessFinal() error {
	if a.witnessing == nil || len(a.witnessing.ws) == 0 {
		return nil
	}
	select {
	case <-a.ready:
	default:
		return nil // never started
	}
	ctx, cancel := context.WithTimeout(context.Background(), witnessShutdownWait)
	defer cancel()
	if err := a.witnessOnce(ctx, true); err != nil {
		a.log.Error("final checkpoint not witnessed", "err", err)
	}
	return nil
}

// witnessView is one witness in the /readyz detail.
type witnessView struct {
	Name         string    `json:"name"`
	OK           bool      `json:"ok"`
	CosignedSize uint64    `json:"cosigned_size"`
	Failures     int       `json:"consecutive_failures,omitempty"`
	Refused      bool      `json:"refused,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	NextRetry    time.Time `json:"next_retry,omitzero"`
}

// status reports every witness (for /readyz, to a caller with a token).
func (wi *witnessing) status() []witnessView {
	wi.mu.Lock()
	defer wi.mu.Unlock()
	out := make([]witnessView, 0, len(wi.ws))
	for _, w := range wi.ws {
		v := witnessView{Name: w.c.Name(), OK: w.failures == 0 && w.cosigned > 0, CosignedSize: w.cosigned, Failures: w.failures, Refused: w.refused, LastError: w.lastErr}
		if w.failures > 0 {
			v.NextRetry = w.nextTry.UTC()
		}
		out = append(out, v)
	}
	return out
}

// checkpointSize reads the tree size (second line) of a signed checkpoint.
func checkpointSize(cp []byte) (uint64, error) {
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("malformed checkpoint")
	}
	return strconv.ParseUint(lines[1], 10, 64)
}

// AuditSize is the number of entries in the audit log.
func (a *App) AuditSize() uint64 { return a.audit.Size() }
