// Package rollup keeps the long-term tier of Warden's data: daily aggregates per model —
// event volumes, errors and blocks, tokens and cost, a latency sketch (DDSketch, so quantiles
// stay accurate to 1% and days can be merged), safety findings by category and drift
// detections — kept for years (retention.aggregates) while detail text expires per tier.
//
// It is a follower of the audit log, like the index: it reads entries from its position, so a
// restart resumes without loss. Each day is one JSON file (DIR/YYYY-MM-DD.json, 0600) that
// records the log position it has counted through; entries below it are skipped on replay, so
// a crash between writing day files and the position never counts an event twice. Drift
// detections arrive live (ObserveDetections) and are kept with the day they occurred in.
package rollup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/warden-ai/warden/internal/atomicfile"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/follow"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/stats"
)

// Log is the audit log as the follower reads it.
type Log interface {
	Size() uint64
	Read(from uint64, fn func(i uint64, id string, leaf, blob []byte) error) error
}

// leafReader is a Log that can skip the blobs, which the aggregates never use (audit.Log).
type leafReader interface {
	ReadLeaves(from uint64, fn func(i uint64, id string, leaf []byte) error) error
}

// Options configure a Rollup.
type Options struct {
	Dir       string        // day files and the position (0700)
	Log       Log           // required for Run
	Retention time.Duration // day files older than this are deleted; 0 keeps them
	Flush     time.Duration // how often dirty days are written (default 5 s)
	Wake      func() <-chan struct{}
	Logger    *slog.Logger
	Now       func() time.Time
}

// Rollup builds and serves the daily aggregates.
type Rollup struct {
	opts Options
	log  *slog.Logger
	pos  atomic.Uint64

	mu    sync.Mutex
	days  map[string]*day // loaded days (dirty or recently read)
	dirty map[string]bool
}

// day is one day file.
type day struct {
	Date    string               `json:"date"`
	Through uint64               `json:"through"` // log entries below this index are counted
	Models  map[string]*modelDay `json:"models"`
	// Access counts access decisions (every access event, with or without a model). Nil in day
	// files written before it was counted; Totals then tells its caller to ask the index.
	Access *AccessTotal `json:"access,omitempty"`
}

// AccessTotal counts access decisions; Compliant were allowed without elevated privilege, or
// with it and an approval (the index store's definition).
type AccessTotal struct {
	Total     int64 `json:"total"`
	Allowed   int64 `json:"allowed"`
	Denied    int64 `json:"denied"`
	Compliant int64 `json:"compliant"`
}

// modelDay is one model's aggregates for a day.
type modelDay struct {
	Events       map[string]int64 `json:"events"` // by event type
	Errors       int64            `json:"errors"`
	Blocked      int64            `json:"blocked"`
	Flagged      int64            `json:"flagged"` // inference events with safety findings
	InputTokens  int64            `json:"input_tokens"`
	OutputTokens int64            `json:"output_tokens"`
	CostUSD      float64          `json:"cost_usd"`
	Latency      sketch           `json:"latency_ms"`
	Safety       map[string]int64 `json:"safety,omitempty"` // findings by category
	Drift        map[string]drift `json:"drift,omitempty"`  // detections by kind
	// Probe counts the inference events of Warden's own probes (included in the figures
	// above), so reports on production traffic can leave them out.
	Probe *probeDay `json:"probe,omitempty"`
}

// probeDay is the probe traffic within a model's day.
type probeDay struct {
	Inference int64   `json:"inference"`
	Errors    int64   `json:"errors"`
	Blocked   int64   `json:"blocked"`
	CostUSD   float64 `json:"cost_usd"`
}

// drift summarises one kind of detection on a day.
type drift struct {
	Count int64   `json:"count"`
	Max   float64 `json:"max"` // largest statistic value seen
}

// sketch is a DDSketch that marshals as base64 of its protobuf encoding.
type sketch struct{ *ddsketch.DDSketch }

func (s sketch) MarshalJSON() ([]byte, error) {
	if s.DDSketch == nil {
		return []byte("null"), nil
	}
	var b []byte
	s.Encode(&b, false)
	return json.Marshal(b)
}

func (s *sketch) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	if raw == nil {
		return nil
	}
	d := stats.NewSketch()
	if err := d.DecodeAndMergeWith(raw); err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	s.DDSketch = d
	return nil
}

const positionFile = "position"

// New opens the aggregates in opts.Dir.
func New(opts Options) (*Rollup, error) {
	if opts.Dir == "" {
		return nil, errors.New("rollup: Dir is required")
	}
	if opts.Flush <= 0 {
		opts.Flush = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("rollup: %w", err)
	}
	r := &Rollup{opts: opts, log: opts.Logger.With("component", "rollup"), days: map[string]*day{}, dirty: map[string]bool{}}
	b, err := os.ReadFile(filepath.Join(opts.Dir, positionFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("rollup: %w", err)
	default:
		p, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("rollup: position file: %w", err)
		}
		r.pos.Store(p)
	}
	return r, nil
}

// Position is the next log index the rollup will read.
func (r *Rollup) Position() uint64 { return r.pos.Load() }

// Run follows the log until ctx ends, writing dirty days every Flush and applying retention
// at start and once an hour. It writes what it has before returning.
func (r *Rollup) Run(ctx context.Context) error {
	if r.opts.Log == nil {
		return errors.New("rollup: Log is required")
	}
	r.prune(ctx)
	return follow.Run(ctx, rollupFollower{r}, follow.Options{
		Grown: r.opts.Wake, Logger: r.log, Name: "aggregates",
		Tasks: []follow.Task{
			{Every: r.opts.Flush, Do: func(context.Context) {
				if err := r.Flush(); err != nil {
					r.log.Error("rollup flush", "err", err)
				}
			}},
			{Every: time.Hour, Do: r.prune},
		},
	})
}

func (r *Rollup) prune(context.Context) {
	if n, err := r.Prune(); err != nil {
		r.log.Error("rollup retention", "err", err)
	} else if n > 0 {
		r.log.Info("rollup retention deleted day files", "days", n)
	}
}

type rollupFollower struct{ r *Rollup }

func (f rollupFollower) CatchUp(ctx context.Context) (int, error) {
	before := f.r.pos.Load()
	err := f.r.catchUp(ctx)
	return int(f.r.pos.Load() - before), err
}

func (f rollupFollower) Stop() error { return f.r.Flush() }

func (r *Rollup) catchUp(ctx context.Context) error {
	from := r.pos.Load()
	if from >= r.opts.Log.Size() {
		return nil
	}
	stop := errors.New("stop")
	each := func(i uint64, _ string, leaf []byte) error {
		if ctx.Err() != nil {
			return stop
		}
		ev, err := event.ParseLeaf(leaf)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		r.observe(i, ev)
		r.pos.Store(i + 1)
		return nil
	}
	var err error
	if lr, ok := r.opts.Log.(leafReader); ok {
		err = lr.ReadLeaves(from, each)
	} else {
		err = r.opts.Log.Read(from, func(i uint64, id string, leaf, _ []byte) error { return each(i, id, leaf) })
	}
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// dateOf is the UTC day of t.
func dateOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// loadLocked returns the day, reading its file when it is not in memory.
func (r *Rollup) loadLocked(date string) (*day, error) {
	if d, ok := r.days[date]; ok {
		return d, nil
	}
	d := &day{Date: date, Models: map[string]*modelDay{}}
	b, err := os.ReadFile(filepath.Join(r.opts.Dir, date+".json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.Access = &AccessTotal{} // a day started by this version counts access decisions
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, d); err != nil {
			return nil, fmt.Errorf("day file %s: %w", date, err)
		}
		if d.Models == nil {
			d.Models = map[string]*modelDay{}
		}
	}
	r.days[date] = d
	return d, nil
}

func (d *day) model(name string) *modelDay {
	m := d.Models[name]
	if m == nil {
		m = &modelDay{Events: map[string]int64{}}
		d.Models[name] = m
	}
	return m
}

func (r *Rollup) observe(i uint64, ev *event.Event) {
	if ev.Time.IsZero() || (ev.Model.Name == "" && ev.Type != event.TypeAccess) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	date := dateOf(ev.Time)
	d, err := r.loadLocked(date)
	if err != nil {
		r.log.Error("rollup: load day", "date", date, "err", err)
		return
	}
	if i < d.Through {
		return // counted before a crash
	}
	if ev.Type == event.TypeAccess && d.Access != nil && !ev.IsProbeTraffic() {
		a := d.Access
		a.Total++
		switch ev.Decision {
		case "allow":
			a.Allowed++
			if ev.Privilege != "elevated" || ev.ApprovalID != "" {
				a.Compliant++
			}
		case "deny":
			a.Denied++
		}
		r.dirty[date] = true
	}
	if ev.Model.Name == "" {
		return
	}
	m := d.model(ev.Model.Name)
	if ev.Type == event.TypeInference && ev.IsProbeTraffic() {
		if m.Probe == nil {
			m.Probe = &probeDay{}
		}
		m.Probe.Inference++
		if rs := ev.Response; rs != nil {
			switch rs.Status {
			case "error":
				m.Probe.Errors++
			case "blocked":
				m.Probe.Blocked++
			}
		}
		if ev.CostUSD != nil {
			m.Probe.CostUSD += *ev.CostUSD
		}
	}
	m.Events[string(ev.Type)]++
	if ev.Request != nil && ev.Request.InputTokens != nil {
		m.InputTokens += *ev.Request.InputTokens
	}
	if rs := ev.Response; rs != nil {
		switch rs.Status {
		case "error":
			m.Errors++
		case "blocked":
			m.Blocked++
		}
		if rs.OutputTokens != nil {
			m.OutputTokens += *rs.OutputTokens
		}
		if rs.LatencyMS != nil && *rs.LatencyMS >= 0 {
			if m.Latency.DDSketch == nil {
				m.Latency.DDSketch = stats.NewSketch()
			}
			_ = m.Latency.Add(*rs.LatencyMS)
		}
	}
	if ev.CostUSD != nil {
		m.CostUSD += *ev.CostUSD
	}
	if s := ev.Safety; s != nil && len(s.Triggers) > 0 {
		m.Flagged++
		if m.Safety == nil {
			m.Safety = map[string]int64{}
		}
		for _, t := range s.Triggers {
			m.Safety[t.Category]++
		}
	}
	r.dirty[date] = true
}

// ObserveDetections adds analysis detections (drift, fairness, latency, …) to the day and
// model they concern.
func (r *Rollup) ObserveDetections(ds []rules.Detection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, det := range ds {
		if det.Model == "" || det.Time.IsZero() {
			continue
		}
		date := dateOf(det.Time)
		d, err := r.loadLocked(date)
		if err != nil {
			r.log.Error("rollup: load day", "date", date, "err", err)
			continue
		}
		m := d.model(det.Model)
		if m.Drift == nil {
			m.Drift = map[string]drift{}
		}
		x := m.Drift[det.Kind]
		x.Count++
		x.Max = max(x.Max, det.Value)
		m.Drift[det.Kind] = x
		r.dirty[date] = true
	}
}

// Flush writes every changed day (with the position it counts through), then the position.
func (r *Rollup) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	pos := r.pos.Load()
	var errs []error
	for date := range r.dirty {
		d := r.days[date]
		d.Through = max(d.Through, pos)
		b, err := json.Marshal(d)
		if err == nil {
			err = atomicfile.Write(filepath.Join(r.opts.Dir, date+".json"), b)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(r.dirty, date)
	}
	if len(errs) == 0 {
		if err := atomicfile.Write(filepath.Join(r.opts.Dir, positionFile), []byte(strconv.FormatUint(pos, 10)+"\n")); err != nil {
			errs = append(errs, err)
		}
	}
	// Keep memory bounded: clean days other than today and yesterday are dropped.
	today := r.opts.Now()
	keep := map[string]bool{dateOf(today): true, dateOf(today.Add(-24 * time.Hour)): true}
	for date := range r.days {
		if !r.dirty[date] && !keep[date] {
			delete(r.days, date)
		}
	}
	return errors.Join(errs...)
}

// Prune deletes day files older than the retention.
func (r *Rollup) Prune() (int, error) {
	if r.opts.Retention <= 0 {
		return 0, nil
	}
	cut := dateOf(r.opts.Now().Add(-r.opts.Retention))
	des, err := os.ReadDir(r.opts.Dir)
	if err != nil {
		return 0, err
	}
	n := 0
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, de := range des {
		date, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || len(date) != len(time.DateOnly) || date >= cut {
			continue
		}
		if err := os.Remove(filepath.Join(r.opts.Dir, de.Name())); err != nil {
			return n, err
		}
		delete(r.days, date)
		delete(r.dirty, date)
		n++
	}
	return n, nil
}

// Summary is one model's aggregates for one day, as the API returns them.
type Summary struct {
	Date         string           `json:"date"`
	Model        string           `json:"model"`
	Events       map[string]int64 `json:"events"`
	Errors       int64            `json:"errors"`
	Blocked      int64            `json:"blocked"`
	Flagged      int64            `json:"flagged"`
	InputTokens  int64            `json:"input_tokens"`
	OutputTokens int64            `json:"output_tokens"`
	CostUSD      float64          `json:"cost_usd"`
	Latency      *Quantiles       `json:"latency_ms,omitempty"`
	Safety       map[string]int64 `json:"safety,omitempty"`
	Drift        map[string]drift `json:"drift,omitempty"`
}

// Quantiles of a day's latency (1% relative accuracy).
type Quantiles struct {
	Count float64 `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// MaxDays bounds one Days query.
const MaxDays = 3660

// Days returns the aggregates of every day in [from, to] (dates, UTC), of one model or all,
// oldest first, including what is counted but not yet written.
func (r *Rollup) Days(from, to time.Time, model string) ([]Summary, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	if to.Before(from) {
		return nil, errors.New("rollup: to is before from")
	}
	if to.Sub(from) > MaxDays*24*time.Hour {
		return nil, fmt.Errorf("rollup: at most %d days per query", MaxDays)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Summary
	for t := from; !t.After(to); t = t.Add(24 * time.Hour) {
		date := dateOf(t)
		d, ok := r.days[date]
		if !ok {
			if _, err := os.Stat(filepath.Join(r.opts.Dir, date+".json")); err != nil {
				continue
			}
			var err error
			if d, err = r.loadLocked(date); err != nil {
				return nil, err
			}
		}
		names := make([]string, 0, len(d.Models))
		for name := range d.Models {
			if model == "" || name == model {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			m := d.Models[name]
			s := Summary{Date: date, Model: name, Events: m.Events, Errors: m.Errors, Blocked: m.Blocked, Flagged: m.Flagged,
				InputTokens: m.InputTokens, OutputTokens: m.OutputTokens, CostUSD: m.CostUSD, Safety: m.Safety, Drift: m.Drift}
			if sk := m.Latency.DDSketch; sk != nil && !sk.IsEmpty() {
				q := &Quantiles{Count: sk.GetCount()}
				vs, err := sk.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
				if err == nil {
					q.P50, q.P95, q.P99 = vs[0], vs[1], vs[2]
				}
				q.Max, _ = sk.GetMaxValue()
				s.Latency = q
			}
			out = append(out, s)
		}
	}
	return out, nil
}
