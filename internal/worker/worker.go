// Package worker is the analysis stage: a follower of the audit log that takes each accepted
// event, scans its text when nobody did inline (events from the ingest API and OpenTelemetry),
// feeds the stream analyzers (baselines, drift, usage, extraction) and the rules engine, and
// hands the alerts they raise to the response layer. It reads from the log, so nothing accepted
// is skipped; its position and the analyzers' state are snapshotted so a restart resumes where
// it stopped. Scanning runs in parallel; analysis and rules see events in log order.
package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/analyze/extraction"
	"github.com/warden-ai/warden/internal/bus"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/follow"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/scan"
)

// Log is the audit log as the worker reads it.
type Log interface {
	Size() uint64
	Read(from uint64, fn func(i uint64, id string, leaf, blob []byte) error) error
}

// Scanner scans text (scan.Engine).
type Scanner interface {
	Scan(ctx context.Context, text string, role scan.Role, sc scan.Context) ([]scan.Finding, error)
}

// Analyzer is the stream analyzer (analyze.Analyzer).
type Analyzer interface {
	Observe(ev *event.Event, findings []analyze.Finding) []analyze.Detection
	Tick(now time.Time) []analyze.Detection
	// TickActive is Tick for the models with events since the last tick only.
	TickActive(now time.Time) []analyze.Detection
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Extraction is the model-extraction detector.
type Extraction interface {
	Observe(ev *event.Event) []extraction.Finding
	Flush(now time.Time) []extraction.Finding
}

// Rules is the rules engine.
type Rules interface {
	Observe(ev *event.Event) []alert.Alert
	ObserveDetection(d rules.Detection) []alert.Alert
	Tick(now time.Time) []alert.Alert
}

// Assessor turns the events of active assessment — probe verdicts and feedback (the quality
// judge's scores, users' ratings) — into detections: probe regressions, low pass rates, newly
// failing families, quality and rating drops. Its state is snapshotted with the analyzer.
type Assessor interface {
	Observe(ev *event.Event) []rules.Detection
	Snapshotter
}

// Snapshotter persists and restores learned state.
type Snapshotter interface {
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Options configure a Worker.
type Options struct {
	Log        Log
	Scanner    Scanner
	Analyzer   Analyzer
	Extraction Extraction
	Rules      Rules
	// RulesState, when set, is snapshotted and restored with the analyzer (first-seen values,
	// learned baselines, suppression windows).
	RulesState Snapshotter
	// Assess, when set, observes probe and feedback events.
	Assess Assessor
	// Sample, when set, is offered every analysed inference event with its text (not Warden's
	// own probe traffic), for output-quality judging; it must not block.
	Sample func(ev *event.Event)
	// Alerts receives every alert raised; it must not block for long.
	Alerts func(ctx context.Context, alerts []alert.Alert)
	// Resolve, when set, receives the dedup keys of alerts whose rule condition cleared; the
	// worker delivers them after the alerts of the same batch, so a clear never overtakes its alert.
	Resolve func(ctx context.Context, dedupKeys []string)
	// Detections, when set, receives every analysis detection (for the detections stream).
	Detections func(ds []rules.Detection)
	Models     func(name string) (config.Model, bool)
	// Ephemeral returns text of store_text:none events that never reached disk.
	Ephemeral    func(id string) (event.Text, bool)
	Wake         func() <-chan struct{}
	StateDir     string // snapshots; "" disables them
	SnapshotEach time.Duration
	// TickEach is the cadence of the periodic evaluations (analyzer windows, rule timers) when
	// nothing arrives (default 1s).
	TickEach time.Duration
	// TickAfter bounds how long analysed events wait for the periodic evaluations (default
	// 200ms): while events arrive, a tick of the models that had events (Analyzer.TickActive,
	// ~50 µs for one model, then the rules' timers) runs at most this often, so a detection
	// judged on a window (latency, error and refusal rate, fairness) reaches the rules well
	// within a second of the event's acceptance.
	TickAfter  time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Worker is the analysis follower.
type Worker struct {
	opts Options
	log  *slog.Logger
	pos  atomic.Uint64

	resMu    sync.Mutex
	resolved []string

	polMu    sync.Mutex
	policies map[string]cachedPolicy // by model name

	processed prometheus.Counter
	alerts    prometheus.Counter
	scanErrs  prometheus.Counter
	// probeTraffic counts events of Warden's own probe traffic kept out of the analysis.
	probeTraffic prometheus.Counter
}

// snapshot is the worker's persisted state.
type snapshot struct {
	Position uint64          `json:"position"`
	Analyzer json.RawMessage `json:"analyzer,omitempty"`
	Rules    json.RawMessage `json:"rules,omitempty"`
	Assess   json.RawMessage `json:"assess,omitempty"`
}

// New returns a Worker, restored from its last snapshot when there is one.
func New(opts Options) (*Worker, error) {
	if opts.Log == nil || opts.Scanner == nil || opts.Analyzer == nil || opts.Rules == nil || opts.Alerts == nil {
		return nil, errors.New("worker: Log, Scanner, Analyzer, Rules and Alerts are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SnapshotEach <= 0 {
		opts.SnapshotEach = 30 * time.Second
	}
	if opts.TickEach <= 0 {
		opts.TickEach = time.Second
	}
	if opts.TickAfter <= 0 {
		opts.TickAfter = min(200*time.Millisecond, opts.TickEach)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Models == nil {
		opts.Models = func(string) (config.Model, bool) { return config.Model{}, false }
	}
	w := &Worker{opts: opts, log: opts.Logger.With("component", "worker")}
	w.processed = prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_analysis_events_total", Help: "Events through the analysis stage."})
	w.alerts = prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_analysis_alerts_total", Help: "Alerts raised by the analysis stage."})
	w.scanErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_analysis_scan_errors_total", Help: "Scanner errors on ingested events (the event is still analysed)."})
	w.probeTraffic = prometheus.NewCounter(prometheus.CounterOpts{Name: "warden_analysis_probe_traffic_total", Help: "Events of Warden's own probe traffic kept out of baselines, drift, usage, cost and rules."})
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "warden_analysis_lag_entries", Help: "Audit-log entries not yet analysed."}, func() float64 { return float64(w.Lag()) })
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{w.processed, w.alerts, w.scanErrs, w.probeTraffic, lag} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register worker metrics: %w", err)
			}
		}
	}
	if err := w.restore(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Worker) snapPath() string { return filepath.Join(w.opts.StateDir, "analysis.snapshot") }

func (w *Worker) restore() error {
	if w.opts.StateDir == "" {
		return nil
	}
	b, err := os.ReadFile(w.snapPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read analysis snapshot: %w", err)
	}
	return w.RestoreState(b)
}

// RestoreState loads state written by State: the position and what the analyzers learned. An
// unreadable snapshot is logged and ignored (the analysis starts afresh); empty is no state.
func (w *Worker) RestoreState(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		w.log.Warn("analysis snapshot unreadable; replaying the whole log", "err", err)
		return nil
	}
	if len(s.Analyzer) > 0 {
		if err := w.opts.Analyzer.Restore(bytes.NewReader(s.Analyzer)); err != nil {
			w.log.Warn("analyzer snapshot rejected; replaying the whole log", "err", err)
			return nil
		}
	}
	if len(s.Rules) > 0 && w.opts.RulesState != nil {
		if err := w.opts.RulesState.Restore(bytes.NewReader(s.Rules)); err != nil {
			w.log.Warn("rules snapshot rejected; rules relearn from the stream", "err", err)
		}
	}
	if len(s.Assess) > 0 && w.opts.Assess != nil {
		if err := w.opts.Assess.Restore(bytes.NewReader(s.Assess)); err != nil {
			w.log.Warn("assessment snapshot rejected; probe and quality history relearn from the stream", "err", err)
		}
	}
	w.pos.Store(s.Position)
	w.log.Info("analysis state restored", "position", s.Position)
	return nil
}

// Snapshot persists the position and analyzer state atomically.
func (w *Worker) Snapshot() error {
	if w.opts.StateDir == "" {
		return nil
	}
	b, err := w.State()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.opts.StateDir, 0o700); err != nil {
		return err
	}
	tmp := w.snapPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write analysis snapshot: %w", err)
	}
	return os.Rename(tmp, w.snapPath())
}

// State encodes the position and what the analyzers learned (baselines, windows, extraction,
// rule state), for RestoreState here or in another process.
func (w *Worker) State() ([]byte, error) {
	var buf bytes.Buffer
	if err := w.opts.Analyzer.Snapshot(&buf); err != nil {
		return nil, fmt.Errorf("snapshot analyzer: %w", err)
	}
	snap := snapshot{Position: w.pos.Load(), Analyzer: buf.Bytes()}
	if w.opts.RulesState != nil {
		var rb bytes.Buffer
		if err := w.opts.RulesState.Snapshot(&rb); err != nil {
			return nil, fmt.Errorf("snapshot rules: %w", err)
		}
		snap.Rules = rb.Bytes()
	}
	if w.opts.Assess != nil {
		var pb bytes.Buffer
		if err := w.opts.Assess.Snapshot(&pb); err != nil {
			return nil, fmt.Errorf("snapshot assessment: %w", err)
		}
		snap.Assess = pb.Bytes()
	}
	return json.Marshal(snap)
}

// Position is the next log index to analyse.
func (w *Worker) Position() uint64 { return w.pos.Load() }

// Lag is how many log entries are not yet analysed.
func (w *Worker) Lag() uint64 {
	size, pos := w.opts.Log.Size(), w.pos.Load()
	if size < pos {
		return 0
	}
	return size - pos
}

// Run follows the log until ctx ends, ticking the analyzers every TickEach and writing a
// snapshot every SnapshotEach and when it stops.
func (w *Worker) Run(ctx context.Context) error {
	return follow.Run(ctx, workerFollower{w}, follow.Options{
		Grown: w.opts.Wake, Logger: w.log, Name: "analysis",
		Tasks: []follow.Task{
			{Every: w.opts.TickEach, Do: w.Tick},
			{After: w.opts.TickAfter, Do: w.tickActive},
			{Every: w.opts.SnapshotEach, Do: func(context.Context) {
				if err := w.Snapshot(); err != nil {
					w.log.Error("analysis snapshot failed", "err", err)
				}
			}},
		},
	})
}

type workerFollower struct{ w *Worker }

func (f workerFollower) CatchUp(ctx context.Context) (int, error) {
	before := f.w.pos.Load()
	err := f.w.CatchUp(ctx)
	return int(f.w.pos.Load() - before), err
}

func (f workerFollower) Stop() error { return f.w.Snapshot() }

// Tick lets time-driven detections fire (windows closing, extraction flushes); Run calls it
// every TickEach, a caller of Analyze calls it itself.
func (w *Worker) Tick(ctx context.Context) {
	now := w.opts.Now()
	var dets []rules.Detection
	for _, d := range w.opts.Analyzer.Tick(now) {
		dets = append(dets, d) // one type: internal/detection
	}
	w.tickRest(ctx, now, dets)
}

// tickActive is the tick owed to newly analysed events: the analyzer judges the windows of the
// models that had events (TickActive), then the rules' timers run as in tick.
func (w *Worker) tickActive(ctx context.Context) {
	now := w.opts.Now()
	var dets []rules.Detection
	for _, d := range w.opts.Analyzer.TickActive(now) {
		dets = append(dets, d)
	}
	w.tickRest(ctx, now, dets)
}

func (w *Worker) tickRest(ctx context.Context, now time.Time, dets []rules.Detection) {
	if w.opts.Extraction != nil {
		for _, f := range w.opts.Extraction.Flush(now) {
			dets = append(dets, f.Detection())
		}
	}
	alerts := w.opts.Rules.Tick(now)
	alerts = append(alerts, w.detect(dets)...)
	w.emit(ctx, alerts)
}

func (w *Worker) detect(dets []rules.Detection) []alert.Alert {
	if len(dets) == 0 {
		return nil
	}
	if w.opts.Detections != nil {
		w.opts.Detections(dets)
	}
	var out []alert.Alert
	for _, d := range dets {
		out = append(out, w.opts.Rules.ObserveDetection(d)...)
	}
	return out
}

// QueueResolved records that the condition of the alert with dedupKey cleared; it is delivered
// with the next batch's alerts (the rules engine calls this while the worker analyses).
func (w *Worker) QueueResolved(dedupKey string) {
	w.resMu.Lock()
	w.resolved = append(w.resolved, dedupKey)
	w.resMu.Unlock()
}

func (w *Worker) emit(ctx context.Context, alerts []alert.Alert) {
	if len(alerts) > 0 {
		w.alerts.Add(float64(len(alerts)))
		w.opts.Alerts(ctx, alerts)
	}
	w.resMu.Lock()
	keys := w.resolved
	w.resolved = nil
	w.resMu.Unlock()
	if len(keys) > 0 && w.opts.Resolve != nil {
		w.opts.Resolve(ctx, keys)
	}
}

type item struct {
	i        uint64
	ev       *event.Event
	findings []scan.Finding
}

const batchSize = 256

func (w *Worker) ephemeral(id string) (event.Text, bool) {
	if w.opts.Ephemeral == nil {
		return event.Text{}, false
	}
	return w.opts.Ephemeral(id)
}

// CatchUp analyses every entry appended so far.
func (w *Worker) CatchUp(ctx context.Context) error {
	if w.Lag() == 0 {
		return nil
	}
	batch := make([]item, 0, batchSize)
	var readErr error
	err := w.opts.Log.Read(w.pos.Load(), func(i uint64, _ string, leaf, blob []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := event.ParseLeaf(leaf)
		if err != nil {
			w.log.Error("unreadable audit entry skipped by analysis", "index", i, "err", err)
			return nil
		}
		// The raw text kept in memory comes first: the blob holds at most the redacted text.
		if t, ok := w.ephemeral(ev.ID); ok {
			ev.SetText(t)
		} else if len(blob) > 0 {
			if t, err := event.ParseText(blob); err == nil {
				ev.SetText(t)
			}
		}
		batch = append(batch, item{i: i, ev: ev})
		if len(batch) == batchSize {
			w.process(ctx, batch)
			batch = batch[:0]
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		readErr = fmt.Errorf("analysis read from %d: %w", w.pos.Load(), err)
	}
	if len(batch) > 0 {
		w.process(ctx, batch)
	}
	return readErr
}

// process scans a batch in parallel, then analyses it in order.
func (w *Worker) process(ctx context.Context, batch []item) {
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(batch))
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(batch) {
					return
				}
				w.scan(ctx, &batch[k])
			}
		}()
	}
	wg.Wait()
	var alerts []alert.Alert
	for k := range batch {
		it := &batch[k]
		if it.ev.IsProbeTraffic() {
			// Warden's own probe traffic: its verdicts arrive as probe events; the attack
			// prompts themselves stay out of baselines, drift, usage, cost and the rules.
			w.probeTraffic.Inc()
			w.pos.Store(it.i + 1)
			continue
		}
		var dets []rules.Detection
		if w.opts.Assess != nil && (it.ev.Type == event.TypeProbe || it.ev.Type == event.TypeFeedback) {
			dets = append(dets, w.opts.Assess.Observe(it.ev)...)
		}
		if w.opts.Sample != nil && it.ev.Type == event.TypeInference {
			w.opts.Sample(it.ev)
		}
		for _, d := range w.opts.Analyzer.Observe(it.ev, it.findings) {
			dets = append(dets, d) // one type: internal/detection
		}
		if w.opts.Extraction != nil {
			for _, f := range w.opts.Extraction.Observe(it.ev) {
				dets = append(dets, f.Detection())
			}
		}
		alerts = append(alerts, w.opts.Rules.Observe(it.ev)...)
		alerts = append(alerts, w.detect(dets)...)
		w.pos.Store(it.i + 1)
	}
	w.processed.Add(float64(len(batch)))
	w.emit(ctx, alerts)
}

// scan runs the scanners over an event's text unless the gateway already did (Safety set), and
// records the findings as the event's safety triggers for the rules. The model's guard models
// (config.Model.Guards, the same resolution the gateway uses) are consulted unless the gateway
// already asked them (attribute warden.guards).
func (w *Worker) scan(ctx context.Context, it *item) {
	ev := it.ev
	if ev.Type != event.TypeInference {
		return
	}
	if ev.Safety != nil {
		for _, t := range ev.Safety.Triggers {
			it.findings = append(it.findings, scan.Finding{Detector: t.Detector, Category: t.Category, Score: t.Score, Start: t.Start, End: t.End})
		}
		return
	}
	m, _ := w.opts.Models(ev.Model.Name)
	sc := scan.Context{Model: ev.Model.Name, SystemPrompt: m.SystemPrompt, Canaries: m.Canaries, Guards: m.Guards}
	if _, asked := ev.Attributes["warden.guards"]; asked {
		sc.Guards = nil // the gateway consulted the model's guard models inline already
	}
	tier := m.RiskTier
	if tier == "" {
		tier = "medium"
	}
	policy := w.policy(ev.Model.Name, tier, m.Scanning)
	var triggers []event.Trigger
	for _, part := range []struct {
		text string
		role scan.Role
	}{{textOf(ev, true), scan.Input}, {textOf(ev, false), scan.Output}} {
		if part.text == "" {
			continue
		}
		fs, err := w.opts.Scanner.Scan(ctx, part.text, part.role, sc)
		// A guard model that gave no verdict is counted and logged by the scanner
		// (warden_guard_errors_total); the built-in findings stand, fail-open or closed alike:
		// analysis happens after the fact and has nothing to block.
		if _, err := scan.GuardErrors(err); err != nil {
			w.scanErrs.Inc()
		}
		for _, f := range fs {
			it.findings = append(it.findings, f) // the analyzer tracks every score
			if policy.Triggers(part.role, f) == scan.ActionAllow {
				continue // below every threshold: not a safety trigger
			}
			triggers = append(triggers, event.Trigger{Detector: f.Detector, Category: f.Category, Score: f.Score, Role: string(part.role), Start: f.Start, End: f.End})
		}
	}
	if len(triggers) > 0 {
		ev.Safety = &event.Safety{Triggers: triggers, Action: "flag"}
	}
}

// maxPolicies bounds the cached scan policies (one per model name seen).
const maxPolicies = 1024

type cachedPolicy struct {
	tier      string
	overrides map[string]string
	policy    scan.Policy
}

// policy returns the model's scan policy, built once per model and configuration rather than
// for every event (building one allocates a map of some forty rules).
func (w *Worker) policy(model, tier string, overrides map[string]string) scan.Policy {
	w.polMu.Lock()
	defer w.polMu.Unlock()
	if c, ok := w.policies[model]; ok && c.tier == tier && maps.Equal(c.overrides, overrides) {
		return c.policy
	}
	p := scan.ModelPolicy(tier, overrides)
	if w.policies == nil || len(w.policies) >= maxPolicies {
		w.policies = map[string]cachedPolicy{}
	}
	w.policies[model] = cachedPolicy{tier: tier, overrides: maps.Clone(overrides), policy: p}
	return p
}

func textOf(ev *event.Event, input bool) string {
	if input && ev.Request != nil {
		return ev.Request.Input
	}
	if !input && ev.Response != nil {
		return ev.Response.Output
	}
	return ""
}

// Analyze analyses entries handed over by the cluster bus (the worker role of the distributed
// mode) instead of read from the local log: the same scanning, analyzers and rules, batch by
// batch in the order given. Entries that cannot be parsed are logged and skipped, and so are
// entries before the position: a partition's entries come in log order, so an earlier one is a
// redelivery of an entry whose effect is already in the (restored) state.
func (w *Worker) Analyze(ctx context.Context, entries []bus.Entry) {
	batch := make([]item, 0, min(batchSize, len(entries)))
	for _, e := range entries {
		if e.Index < w.pos.Load() {
			continue
		}
		ev, err := event.ParseLeaf(e.Leaf)
		if err != nil {
			w.log.Error("unreadable entry skipped by analysis", "index", e.Index, "err", err)
			continue
		}
		if len(e.Blob) > 0 {
			if t, err := event.ParseText(e.Blob); err == nil {
				ev.SetText(t)
			}
		}
		batch = append(batch, item{i: e.Index, ev: ev})
		if len(batch) == batchSize {
			w.process(ctx, batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		w.process(ctx, batch)
	}
}
