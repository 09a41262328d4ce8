package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
)

// Options configures an Engine.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Models looks up the model inventory (risk tier, sensitivity, allowed groups). Nil means no
	// inventory is configured: model.registered is false and inventory.configured is false.
	Models func(name string) (config.Model, bool)
	// InventoryConfigured reports whether a model inventory is configured (inventory.configured;
	// the shadow-AI rule needs it). Nil means: configured when Models is set.
	InventoryConfigured func() bool
	// Actions, when set, is called for every firing alert whose rule requests containment.
	// It runs under the engine's lock: hand the work off, do not block.
	Actions func(a alert.Alert, actions []Action)
	// Resolved, when set, is called when the condition of an alert the engine raised has cleared
	// (auto-resolution; see Rule.Resolves): dedupKey is exactly that alert's DedupKey and at the
	// engine time at which the group's window was found back under its threshold. It is called
	// at most once per firing, after the engine's lock is released, at the end of the Observe,
	// ObserveDetection or Tick call that found the condition clear, in the order found, and
	// always from a later call than the one that returned the alert (see the package comment for
	// the ordering this asks of the caller).
	Resolved func(dedupKey string, at time.Time)
	// LearningPeriod is how long first_seen observes a key before reporting new values.
	LearningPeriod time.Duration
	// BaselineMinSamples is how many values above_baseline needs before it compares.
	BaselineMinSamples int
	// MaxKeys caps each stateful helper's memory (keys across all rules); LRU beyond it.
	MaxKeys int
	// MaxGroups caps the windows kept per aggregated rule; LRU beyond it.
	MaxGroups int
}

// DefaultOptions returns the defaults New applies to zero fields.
func DefaultOptions() Options {
	return Options{
		Logger:             slog.New(slog.DiscardHandler),
		LearningPeriod:     24 * time.Hour,
		BaselineMinSamples: 5,
		MaxKeys:            100_000,
		MaxGroups:          10_000,
	}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	if o.LearningPeriod == 0 {
		o.LearningPeriod = d.LearningPeriod
	}
	if o.BaselineMinSamples == 0 {
		o.BaselineMinSamples = d.BaselineMinSamples
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = d.MaxKeys
	}
	if o.MaxGroups == 0 {
		o.MaxGroups = d.MaxGroups
	}
}

func (o *Options) validate() error {
	switch {
	case o.LearningPeriod < 0:
		return errors.New("rules options: LearningPeriod must not be negative")
	case o.BaselineMinSamples < 1:
		return errors.New("rules options: BaselineMinSamples must be ≥ 1")
	case o.MaxKeys < 1:
		return errors.New("rules options: MaxKeys must be ≥ 1")
	case o.MaxGroups < 1:
		return errors.New("rules options: MaxGroups must be ≥ 1")
	}
	return nil
}

// Engine evaluates a RuleSet over events and detections. Its methods are safe for concurrent
// use; they serialise on one mutex.
type Engine struct {
	mu     sync.Mutex
	opts   Options
	log    *slog.Logger
	rules  []*compiled
	lists  map[string][]string // the rule set's lists (Reload compares them)
	byType map[string][]*compiled
	st     *funcState
	clock  time.Time
	m      metrics
	ctx    evalCtx // reused under mu: the activation must not escape per event
	keyBuf []byte
	// resolved queues the conditions found clear under mu; they are reported after unlocking.
	resolved []Resolution
	// onResolved, when set, also receives every resolution (Replay records them with its lines).
	onResolved func(Resolution)
}

// Resolution is one auto-resolution: the condition of the alert with DedupKey, raised by RuleID,
// was found clear at At (engine time).
type Resolution struct {
	RuleID   string
	DedupKey string
	At       time.Time
}

type metrics struct {
	events     prometheus.Counter
	detections prometheus.Counter
	alerts     *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	errs       *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	resolved   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	f := promauto.With(reg)
	return metrics{
		events:     f.NewCounter(prometheus.CounterOpts{Name: "warden_rules_events_total", Help: "Events evaluated by the rules engine."}),
		detections: f.NewCounter(prometheus.CounterOpts{Name: "warden_rules_detections_total", Help: "Analysis detections evaluated by the rules engine."}),
		alerts:     f.NewCounterVec(prometheus.CounterOpts{Name: "warden_rules_alerts_total", Help: "Alerts raised, by rule and severity."}, []string{"rule", "severity"}),
		suppressed: f.NewCounterVec(prometheus.CounterOpts{Name: "warden_rules_suppressed_total", Help: "Firings suppressed by a rule's dedup window."}, []string{"rule"}),
		errs:       f.NewCounterVec(prometheus.CounterOpts{Name: "warden_rules_eval_errors_total", Help: "CEL evaluation errors (treated as no match)."}, []string{"rule"}),
		dropped:    f.NewCounterVec(prometheus.CounterOpts{Name: "warden_rules_state_dropped_total", Help: "State entries evicted by memory caps."}, []string{"store"}),
		resolved:   f.NewCounterVec(prometheus.CounterOpts{Name: "warden_rules_resolved_total", Help: "Alert conditions found clear (auto-resolutions), by rule."}, []string{"rule"}),
	}
}

type compiled struct {
	*Rule
	cond, sev  cel.Program
	exc, steps []cel.Program
	groupBy    []int
	field      int
	agg        *aggSpec
	minCount   int
	groups     *lru[*group]
	suppressed *lru[time.Time]
	supCount   prometheus.Counter
	// open holds, per group key, the groups whose alert fired and whose condition has not cleared
	// yet (resolving rules only).
	open     *lru[*openEntry]
	resCount prometheus.Counter
	// detOpen holds the dedup keys of alerts a resolving detection rule raised, until the
	// detector reports the condition recovered, with the figures of the last detection that
	// met the condition.
	detOpen *lru[*detRaise]
}

// detRaise is what a resolving detection rule remembers of the detection behind an open alert:
// the figures it was raised on (refreshed by every later detection that meets the condition).
// A recovery resolves the alert only if the rule's condition, given the recovered identity
// (kind, model, feature, statistic …) with these figures, would have raised it: a recovery of
// one fairness metric does not resolve the alert of another metric on the same model.
type detRaise struct {
	at        time.Time
	known     bool // false for entries restored from snapshots written before the figures were kept
	value     float64
	threshold float64
	values    map[string]float64
}

func raiseOf(at time.Time, d *Detection) *detRaise {
	return &detRaise{at: at, known: true, value: d.Value, threshold: d.Threshold, values: maps.Clone(d.Values)}
}

// openEntry is a group whose alert fired and has not cleared.
type openEntry struct {
	at time.Time // when it last raised an alert
	// notBefore: the window is being rebuilt (after Restore, or after the group was evicted and
	// recreated) and does not show the whole timespan before this time; clearing waits for it.
	notBefore time.Time
}

// New compiles rs into an Engine.
func New(rs *RuleSet, opts Options) (*Engine, error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, log: opts.Logger.With("component", "rules"), m: newMetrics(opts.Registerer)}
	e.st = newFuncState(opts.LearningPeriod, opts.BaselineMinSamples, opts.MaxKeys, func(store string) { e.m.dropped.WithLabelValues(store).Inc() })
	var err error
	if e.rules, e.byType, err = e.compile(rs); err != nil {
		return nil, err
	}
	e.lists = rs.lists
	return e, nil
}

// compile builds the programs and the empty state of every rule of rs. It reads only e's
// options, metrics and the stateful helpers' store (which the CEL bindings close over).
func (e *Engine) compile(rs *RuleSet) ([]*compiled, map[string][]*compiled, error) {
	opts := e.opts
	var out []*compiled
	byType := map[string][]*compiled{}
	env, err := newEnv(rs.lists, e.st)
	if err != nil {
		return nil, nil, fmt.Errorf("rules environment: %w", err)
	}
	prog := func(r *Rule, ast *cel.Ast) (cel.Program, error) {
		if ast == nil {
			return nil, nil
		}
		opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
		if est, err := env.EstimateCost(ast, sizeEstimator{}); err != nil || est.Max > celCostLimit {
			// The worst case is not provably small: pay for runtime cost tracking.
			opts = append(opts, cel.CostLimit(celCostLimit))
			r.tracked++
		}
		p, err := env.Program(ast, opts...)
		if err != nil {
			return nil, fmt.Errorf("rule %s (%s:%d): %w", r.ID, r.File, r.Line, err)
		}
		return p, nil
	}
	for _, r := range rs.Rules {
		c := &compiled{Rule: r, agg: r.spec.Aggregate, field: -1}
		if c.cond, err = prog(r, r.condition); err != nil {
			return nil, nil, err
		}
		if c.sev, err = prog(r, r.severityExpr); err != nil {
			return nil, nil, err
		}
		for _, a := range r.exceptions {
			p, err := prog(r, a)
			if err != nil {
				return nil, nil, err
			}
			c.exc = append(c.exc, p)
		}
		for _, a := range r.steps {
			p, err := prog(r, a)
			if err != nil {
				return nil, nil, err
			}
			c.steps = append(c.steps, p)
		}
		if c.agg != nil {
			for _, g := range c.agg.GroupBy {
				c.groupBy = append(c.groupBy, varIndex[g])
			}
			if c.agg.Field != "" {
				c.field = varIndex[c.agg.Field]
			}
			c.minCount = c.agg.MinCount
			if c.minCount == 0 && r.threshold.Percent {
				c.minCount = 10
			}
			ruleID := r.ID
			c.groups = newLRU[*group](opts.MaxGroups, func() { e.m.dropped.WithLabelValues("window:" + ruleID).Inc() })
			if r.resolve {
				c.open = newLRU[*openEntry](opts.MaxGroups, func() { e.m.dropped.WithLabelValues("open:" + ruleID).Inc() })
				c.resCount = e.m.resolved.WithLabelValues(ruleID)
			}
		}
		if c.agg == nil && r.resolve {
			ruleID := r.ID
			c.detOpen = newLRU[*detRaise](opts.MaxGroups, func() { e.m.dropped.WithLabelValues("open:" + ruleID).Inc() })
			c.resCount = e.m.resolved.WithLabelValues(ruleID)
		}
		c.suppressed = newLRU[time.Time](opts.MaxGroups, nil)
		c.supCount = e.m.suppressed.WithLabelValues(r.ID)
		out = append(out, c)
		for _, t := range r.types {
			byType[t] = append(byType[t], c)
		}
	}
	return out, byType, nil
}

// Rules lists the engine's rules in load order.
func (e *Engine) Rules() []*Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Rule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.Rule
	}
	return out
}

func (e *Engine) newCtx() evalCtx {
	if e.opts.InventoryConfigured != nil {
		return evalCtx{inventory: e.opts.InventoryConfigured()}
	}
	return evalCtx{inventory: e.opts.Models != nil}
}

func (e *Engine) lookup(c *evalCtx) {
	if e.opts.Models != nil {
		if name := c.modelName(); name != "" {
			c.model, c.modelOK = e.opts.Models(name)
		}
	}
}

// Observe evaluates one (validated, normalized) event against every rule that selects its type
// and returns the alerts it raises. Conditions it finds clear go to Options.Resolved.
func (e *Engine) Observe(ev *event.Event) []alert.Alert {
	if ev == nil {
		return nil
	}
	out, res := e.observe(ev)
	e.report(res)
	return out
}

func (e *Engine) observe(ev *event.Event) ([]alert.Alert, []Resolution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m.events.Inc()
	if ev.Time.After(e.clock) {
		e.clock = ev.Time
	}
	rules := e.byType[string(ev.Type)]
	if len(rules) == 0 {
		return nil, nil
	}
	c := &e.ctx
	*c = e.newCtx()
	c.ev = ev
	e.lookup(c)
	out := e.evalAll(rules, c)
	*c = evalCtx{}
	return out, e.takeResolved()
}

// takeResolved hands over the queued resolutions; it runs under mu.
func (e *Engine) takeResolved() []Resolution {
	if len(e.resolved) == 0 {
		return nil
	}
	res := e.resolved
	e.resolved = nil
	return res
}

// report calls Options.Resolved for res; it runs without mu held.
func (e *Engine) report(res []Resolution) {
	for _, r := range res {
		if e.onResolved != nil {
			e.onResolved(r)
		}
		if e.opts.Resolved != nil {
			e.opts.Resolved(r.DedupKey, r.At)
		}
	}
}

// ObserveDetection evaluates one analysis detection against the rules selecting "detection".
// A detection marked Recovered fires nothing: it resolves the open alert that a resolving
// detection rule raised for the same identity (see Rule.Resolves), reported through
// Options.Resolved.
func (e *Engine) ObserveDetection(d Detection) []alert.Alert {
	out, res := e.observeDetection(d)
	e.report(res)
	return out
}

func (e *Engine) observeDetection(d Detection) ([]alert.Alert, []Resolution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m.detections.Inc()
	if d.Time.IsZero() {
		d.Time = e.clock
	}
	if d.Time.After(e.clock) {
		e.clock = d.Time
	}
	if d.Environment == "" {
		d.Environment = "prod"
	}
	c := &e.ctx
	*c = e.newCtx()
	c.det = &d
	e.lookup(c)
	out := e.evalAll(e.byType[TypeDetection], c)
	*c = evalCtx{}
	return out, e.takeResolved()
}

func (e *Engine) evalAll(rules []*compiled, c *evalCtx) []alert.Alert {
	var out []alert.Alert
	for _, r := range rules {
		if !r.selects(c) {
			continue
		}
		if c.det != nil && len(r.spec.Select.Kinds) > 0 && !slices.Contains(r.spec.Select.Kinds, c.det.Kind) {
			continue
		}
		if c.det != nil && c.det.Recovered {
			// An all-clear resolves what the detection raised; it never fires.
			if r.detOpen != nil {
				e.recovered(r, c)
			}
			continue
		}
		out = append(out, e.evalRule(r, c)...)
	}
	e.st.cur = nil
	return out
}

func (r *compiled) selects(c *evalCtx) bool {
	s := &r.spec.Select
	if len(s.Models) > 0 && !slices.Contains(s.Models, c.modelName()) {
		return false
	}
	if len(s.Environments) > 0 && !slices.Contains(s.Environments, c.environment()) {
		return false
	}
	if len(s.RiskTiers) > 0 && (!c.modelOK || !slices.Contains(s.RiskTiers, c.model.RiskTier)) {
		return false
	}
	return true
}

func (e *Engine) evalBool(r *compiled, p cel.Program, c *evalCtx) bool {
	out, _, err := p.Eval(c)
	if err != nil {
		e.m.errs.WithLabelValues(r.ID).Inc()
		e.log.Debug("rule evaluation failed", "rule", r.ID, "err", err)
		return false
	}
	return out == types.True
}

func (e *Engine) evalRule(r *compiled, c *evalCtx) []alert.Alert {
	e.st.cur, e.st.ruleID = c, r.ID
	matched := r.cond == nil || e.evalBool(r, r.cond, c)
	if matched {
		for _, x := range r.exc {
			if e.evalBool(r, x, c) {
				matched = false
				break
			}
		}
	}
	now := c.time()
	if r.agg == nil {
		if !matched {
			return nil
		}
		b := e.keyBuf[:0]
		for i, vi := range r.dedupBy {
			if i > 0 {
				b = append(b, '|')
			}
			b = append(b, scalarString(vars[vi].get(c))...)
		}
		e.keyBuf = b
		key := string(b)
		vals := eventValues(c)
		ids := []string(nil)
		if id := c.id(); id != "" {
			ids = []string{id}
		} else if c.det != nil {
			ids = c.det.EventIDs
		}
		out := e.fire(r, c, nil, key, vals, ids, now, now, 1)
		if r.detOpen != nil && c.det != nil {
			if len(out) > 0 {
				r.detOpen.put(out[0].DedupKey, raiseOf(now, c.det))
			} else if o, ok := r.detOpen.get(r.ID + "|" + key); ok {
				// Suppressed or merged into the open alert: its recovery is judged on these figures.
				*o = *raiseOf(o.at, c.det)
			}
		}
		return out
	}
	switch r.agg.Kind {
	case KindEventCount:
		if !matched && !r.threshold.Percent {
			return nil
		}
		g := e.group(r, c)
		g.count(r, now, matched, c.id())
		return e.checkCount(r, g, c, now)
	case KindValueCount:
		if !matched {
			return nil
		}
		v := scalarString(vars[r.field].get(c))
		if v == "" {
			return nil
		}
		g := e.group(r, c)
		distinct := g.distinct(r, now, v, c.id())
		if r.threshold.Holds(float64(distinct)) {
			vals := map[string]float64{"distinct": float64(distinct), "threshold": r.threshold.Value}
			ids, first := g.evidence(r, now)
			// The window is kept after firing (suppression dedups repeats): clearing is judged on it.
			a := e.fire(r, c, g, g.key, vals, ids, first, now, distinct)
			if len(a) > 0 {
				e.opened(r, g, now)
			}
			return a
		}
		if e.judgeClear(g, now) {
			e.clear(r, g.key, g, now)
		}
	default: // temporal, temporal_ordered
		if !matched {
			return nil
		}
		var g *group
		for i, p := range r.steps {
			if !e.evalBool(r, p, c) {
				continue
			}
			if g == nil {
				g = e.group(r, c)
			}
			g.step(r, i, now, c.id())
		}
		if g != nil && g.sequenceDone(r, now) {
			vals := map[string]float64{}
			n := 0
			for i, s := range r.agg.Steps {
				name := s.Name
				if name == "" {
					name = "step" + strconv.Itoa(i)
				}
				vals[name] = float64(len(g.steps[i]))
				n += len(g.steps[i])
			}
			ids, first := g.evidence(r, now)
			a := e.fire(r, c, g, g.key, vals, ids, first, now, n)
			g.reset()
			return a
		}
	}
	return nil
}

func (e *Engine) checkCount(r *compiled, g *group, c *evalCtx, now time.Time) []alert.Alert {
	matched, total := g.sum(r, now)
	if e.judgeClear(g, now) && !r.threshold.Holds(countValue(r, matched, total)) {
		e.clear(r, g.key, g, now)
	}
	if r.agg.BaselineFactor > 0 && now.Sub(g.sampled) >= r.agg.Timespan {
		// Learn the group's ordinary level once per timespan: every window until minBaselineSamples
		// are in, then only windows within the factor, so a burst does not teach its own level.
		if v := countValue(r, matched, total); g.baseN < minBaselineSamples || v <= r.agg.BaselineFactor*g.baseMean {
			g.baseN++
			g.baseMean += (v - g.baseMean) / float64(g.baseN)
		}
		g.sampled = now
	}
	x := float64(matched)
	if r.threshold.Percent {
		if total < r.minCount || total == 0 {
			g.pending = time.Time{}
			return nil
		}
		x = float64(matched) / float64(total)
	} else if matched < r.minCount {
		g.pending = time.Time{}
		return nil
	}
	if !r.threshold.Holds(x) {
		g.pending = time.Time{}
		return nil
	}
	if r.agg.BaselineFactor > 0 && g.baseN >= minBaselineSamples && x <= r.agg.BaselineFactor*g.baseMean {
		g.pending = time.Time{}
		return nil // at the group's own usual level
	}
	if r.agg.For > 0 {
		if g.pending.IsZero() {
			g.pending = now
		}
		if now.Sub(g.pending) < r.agg.For {
			return nil
		}
	}
	vals := map[string]float64{"count": float64(matched), "threshold": r.threshold.Value}
	if r.agg.BaselineFactor > 0 && g.baseN >= minBaselineSamples {
		vals["baseline"] = g.baseMean
	}
	if r.threshold.Percent {
		vals["total"] = float64(total)
		vals["ratio"] = x
	}
	if r.agg.For > 0 {
		vals["for_seconds"] = now.Sub(g.pending).Seconds()
	}
	ids, first := g.evidence(r, now)
	a := e.fire(r, c, g, g.key, vals, ids, first, now, matched)
	if len(a) > 0 {
		e.opened(r, g, now)
	}
	return a
}

// countValue is the value an event_count threshold is compared with when judging whether a fired
// condition cleared: the match count, or the ratio of matches to selected events. min_count does
// not apply (it guards firing on too little traffic, not clearing), and an empty window reads as
// 0 — no matches seen — which clears "more than" thresholds and keeps "less than" ones.
func countValue(r *compiled, matched, total int) float64 {
	if !r.threshold.Percent {
		return float64(matched)
	}
	if total == 0 {
		return 0
	}
	return float64(matched) / float64(total)
}

// judgeClear reports whether g fired and whether its window at now tells whether it cleared: the
// window is whole (see openEntry.notBefore) and ends at the engine's newest time — a late event
// evaluates the window as it was before, which says nothing about whether the condition cleared.
func (e *Engine) judgeClear(g *group, now time.Time) bool {
	return g.open != nil && !now.Before(g.open.notBefore) && !now.Before(e.clock)
}

// opened records that g raised an alert whose condition has not cleared yet.
func (e *Engine) opened(r *compiled, g *group, now time.Time) {
	if r.open == nil {
		return
	}
	if g.open == nil {
		g.open = &openEntry{}
	}
	g.open.at = now
	r.open.put(g.key, g.open)
}

// clear reports that the condition of the alert raised for group key of r cleared. It also ends
// the suppression window of that alert's dedup key, so that a new breach raises a new alert.
func (e *Engine) clear(r *compiled, key string, g *group, now time.Time) {
	r.open.delete(key)
	if g != nil {
		g.open = nil
	}
	dedup := r.ID + "|" + key
	r.suppressed.delete(dedup)
	r.resCount.Inc()
	e.resolved = append(e.resolved, Resolution{RuleID: r.ID, DedupKey: dedup, At: now})
}

// recovered resolves the alert a resolving detection rule raised for the identity of the
// recovered detection in c (the rule's dedup key), and lifts its suppression so that a new
// breach alerts again.
func (e *Engine) recovered(r *compiled, c *evalCtx) {
	b := e.keyBuf[:0]
	for i, vi := range r.dedupBy {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, scalarString(vars[vi].get(c))...)
	}
	e.keyBuf = b
	dedup := r.ID + "|" + string(b)
	o, ok := r.detOpen.get(dedup)
	if !ok || !e.recoveryConcerns(r, c, o) {
		return
	}
	r.detOpen.delete(dedup)
	r.suppressed.delete(dedup)
	r.resCount.Inc()
	e.resolved = append(e.resolved, Resolution{RuleID: r.ID, DedupKey: dedup, At: c.time()})
}

// recoveryConcerns reports whether the recovered detection in c clears the condition of r's open
// alert o: whether r's condition holds for the recovered identity with the figures the alert was
// raised on. Exceptions are not applied (they keep an alert from firing, not from clearing).
func (e *Engine) recoveryConcerns(r *compiled, c *evalCtx, o *detRaise) bool {
	if !o.known || r.cond == nil {
		return true
	}
	d := *c.det
	d.Recovered, d.Value, d.Threshold, d.Values = false, o.value, o.threshold, o.values
	rc := e.newCtx()
	rc.det = &d
	e.lookup(&rc)
	e.st.cur, e.st.ruleID = &rc, r.ID
	ok := e.evalBool(r, r.cond, &rc)
	e.st.cur = c
	return ok
}

// Tick advances the engine clock to now (event time: pass the wall clock in production) and
// evaluates the timers of aggregated rules ("for" durations, windows whose events aged out,
// fired conditions that cleared as their window slid). Conditions it finds clear go to
// Options.Resolved.
func (e *Engine) Tick(now time.Time) []alert.Alert {
	out, res := e.tick(now)
	e.report(res)
	return out
}

func (e *Engine) tick(now time.Time) ([]alert.Alert, []Resolution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.After(e.clock) {
		e.clock = now
	}
	now = e.clock
	var out []alert.Alert
	for _, r := range e.rules {
		if r.agg == nil {
			continue
		}
		if r.agg.Kind == KindEventCount && r.agg.For > 0 {
			var gs []*group
			r.groups.each(func(_ string, g *group) { gs = append(gs, g) })
			for _, g := range gs {
				out = append(out, e.checkCount(r, g, nil, now)...)
			}
		}
		if r.open != nil && r.open.len() > 0 {
			e.tickOpen(r, now)
		}
	}
	return out, e.takeResolved()
}

// tickOpen judges, as time passes, whether the fired groups of r still meet its threshold.
func (e *Engine) tickOpen(r *compiled, now time.Time) {
	type entry struct {
		key string
		o   *openEntry
	}
	var open []entry
	r.open.each(func(k string, o *openEntry) { open = append(open, entry{k, o}) })
	for _, x := range open {
		if now.Before(x.o.notBefore) {
			continue
		}
		g, ok := r.groups.get(x.key)
		if !ok {
			// The window was evicted, or not rebuilt since Restore, and nothing arrived for the
			// group since: once a whole timespan has passed since it fired, no match is left in it.
			if !now.Before(x.o.at.Add(r.agg.Timespan)) {
				e.clear(r, x.key, nil, now)
			}
			continue
		}
		var v float64
		if r.agg.Kind == KindValueCount {
			v = float64(g.distinctAt(r, now))
		} else {
			matched, total := g.sum(r, now)
			v = countValue(r, matched, total)
		}
		if !r.threshold.Holds(v) {
			e.clear(r, x.key, g, now)
		}
	}
}

func (e *Engine) group(r *compiled, c *evalCtx) *group {
	b := e.keyBuf[:0]
	for i, vi := range r.groupBy {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, scalarString(vars[vi].get(c))...)
	}
	e.keyBuf = b
	if g, ok := r.groups.getBytes(b); ok {
		return g
	}
	labels := make([]string, len(r.groupBy))
	for i, vi := range r.groupBy {
		labels[i] = scalarString(vars[vi].get(c))
	}
	key := string(b)
	g := &group{key: key, labels: labels, model: c.modelName(), env: c.environment(), actor: scalarString(vars[actorID].get(c))}
	if r.open != nil && r.open.len() > 0 {
		if o, ok := r.open.get(key); ok {
			// The group fired before its window was lost (eviction, restart): the new window shows
			// the whole timespan only once that much time has passed.
			g.open = o
			if nb := c.time().Add(r.agg.Timespan); nb.After(o.notBefore) {
				o.notBefore = nb
			}
		}
	}
	r.groups.put(key, g)
	return g
}

func eventValues(c *evalCtx) map[string]float64 {
	vals := map[string]float64{}
	if c.det != nil {
		vals["value"] = c.det.Value
		if c.det.Threshold != 0 {
			vals["threshold"] = c.det.Threshold
		}
		for k, v := range c.det.Values {
			vals[k] = v
		}
		return vals
	}
	if c.ev.Safety != nil {
		for _, t := range c.ev.Safety.Triggers {
			k := "trigger." + t.Category
			vals[k] = max(vals[k], t.Score)
			vals["score"] = max(vals["score"], t.Score)
		}
	}
	return vals
}

func (e *Engine) fire(r *compiled, c *evalCtx, g *group, key string, vals map[string]float64, ids []string, first, now time.Time, count int) []alert.Alert {
	dedup := r.ID + "|" + key
	window := r.Suppress
	if window == 0 && r.agg != nil {
		window = r.agg.Timespan
	}
	if window > 0 {
		if until, ok := r.suppressed.get(dedup); ok && now.Before(until) {
			r.supCount.Inc()
			return nil
		}
		r.suppressed.put(dedup, now.Add(window))
	}
	sev := r.Severity
	if r.sev != nil && c != nil {
		out, _, err := r.sev.Eval(c)
		if err != nil {
			e.m.errs.WithLabelValues(r.ID).Inc()
		} else if s, ok := out.Value().(string); ok && alert.Severity(s).Valid() {
			sev = alert.Severity(s)
		}
	}
	a := alert.Alert{
		RuleID: r.ID, RuleName: r.Name, RuleVersion: r.Version, Severity: sev, State: alert.Firing,
		Description: r.Description, DedupKey: dedup, Tags: r.Tags, Runbook: r.Runbook,
		EventIDs: ids, Values: vals, FirstEvent: first, StartsAt: now, UpdatedAt: now, Count: count,
		Labels: map[string]string{"rule": r.ID},
	}
	if g != nil {
		a.Model, a.Environment, a.Actor = g.model, g.env, g.actor
		for i, name := range r.agg.GroupBy {
			a.Labels[name] = g.labels[i]
		}
	} else {
		a.Model, a.Environment, a.Actor = c.modelName(), c.environment(), scalarString(vars[actorID].get(c))
	}
	if a.Model != "" {
		a.Labels["model"] = a.Model
	}
	if a.Environment != "" {
		a.Labels["environment"] = a.Environment
	}
	a.GroupKey = r.ID + "|" + a.Model + "|" + a.Environment
	a.Summary = r.render(c, g, a, vals)
	for _, act := range r.Actions {
		a.Actions = append(a.Actions, act.String())
	}
	sum := sha256.Sum256([]byte(dedup + "|" + strconv.FormatInt(now.UnixNano(), 10)))
	a.ID = hex.EncodeToString(sum[:12])
	e.m.alerts.WithLabelValues(r.ID, string(sev)).Inc()
	if len(r.Actions) > 0 && e.opts.Actions != nil {
		e.opts.Actions(a, r.Actions)
	}
	return []alert.Alert{a}
}

// summaryPart is literal text or a {placeholder}.
type summaryPart struct {
	text string
	name string
}

func parseSummary(s string) ([]summaryPart, error) {
	var parts []summaryPart
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			parts = append(parts, summaryPart{text: s})
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", s)
		}
		name := s[i+1 : i+j]
		if strings.Contains(name, ".") {
			if v, ok := varIndex[name]; !ok || !vars[v].scalar {
				return nil, fmt.Errorf("{%s} is not a scalar variable", name)
			}
		} else if !identRE.MatchString(name) {
			return nil, fmt.Errorf("{%s}: placeholders are variables (actor.id) or window values (count, ratio)", name)
		}
		parts = append(parts, summaryPart{text: s[:i]}, summaryPart{name: name})
		s = s[i+j+1:]
	}
	return parts, nil
}

func (r *compiled) render(c *evalCtx, g *group, a alert.Alert, vals map[string]float64) string {
	if len(r.summary) == 0 {
		s := r.Name
		if a.Model != "" {
			s += " on " + a.Model
		}
		if a.Actor != "" {
			s += " by " + a.Actor
		}
		return s
	}
	var b strings.Builder
	for _, p := range r.summary {
		if p.name == "" {
			b.WriteString(p.text)
			continue
		}
		if v, ok := vals[p.name]; ok {
			if p.name == "ratio" {
				b.WriteString(strconv.FormatFloat(v*100, 'f', 1, 64) + "%")
			} else {
				b.WriteString(formatValue(v))
			}
			continue
		}
		if g != nil {
			if i := slices.Index(r.agg.GroupBy, p.name); i >= 0 {
				b.WriteString(g.labels[i])
				continue
			}
		}
		switch p.name {
		case "event.model":
			b.WriteString(a.Model)
			continue
		case "actor.id":
			b.WriteString(a.Actor)
			continue
		}
		if c != nil {
			if vi, ok := varIndex[p.name]; ok {
				v := vars[vi].get(c)
				if d, ok := v.(types.Double); ok {
					b.WriteString(formatValue(float64(d)))
				} else {
					b.WriteString(scalarString(v))
				}
			}
		}
	}
	return b.String()
}

// formatValue writes a number for people: integers as they are, other values rounded to four
// significant digits (0.6027568922305764 → 0.6028, 1.4251191720137342 → 1.425).
func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	scale := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return strconv.FormatFloat(math.Round(v*scale)/scale, 'f', -1, 64)
}

// group is one window of an aggregated rule.
type group struct {
	key, model, env, actor string
	labels                 []string
	first                  time.Time
	pending                time.Time
	open                   *openEntry // fired and not cleared (resolving rules)
	// baseline_factor: the mean of baseN per-timespan values, last sampled at sampled.
	baseN    int
	baseMean float64
	sampled  time.Time

	buckets []bucket
	values  map[string]time.Time
	steps   [][]time.Time
	ids     []string
	idTimes []time.Time
}

type bucket struct {
	idx            int64
	matched, total int
}

// minBaselineSamples is how many per-timespan values a group learns before baseline_factor applies.
const minBaselineSamples = 10

const (
	nBuckets  = 60
	maxIDs    = 20
	maxValues = 1024
)

func width(r *compiled) int64 { return max(int64(r.agg.Timespan)/nBuckets, 1) }

func (g *group) note(t time.Time, id string) {
	if g.first.IsZero() || t.Before(g.first) {
		g.first = t
	}
	if id == "" {
		return
	}
	if len(g.ids) >= maxIDs {
		copy(g.ids, g.ids[1:])
		copy(g.idTimes, g.idTimes[1:])
		g.ids, g.idTimes = g.ids[:maxIDs-1], g.idTimes[:maxIDs-1]
	}
	g.ids = append(g.ids, id)
	g.idTimes = append(g.idTimes, t)
}

// evidence returns the ids of the (last maxIDs) matching events inside the window ending at now,
// and the time of the earliest of them (or of the window's first match when no id is known).
func (g *group) evidence(r *compiled, now time.Time) ([]string, time.Time) {
	cutoff := now.Add(-r.agg.Timespan)
	var ids []string
	var first time.Time
	for i, id := range g.ids {
		if t := g.idTimes[i]; t.After(cutoff) {
			ids = append(ids, id)
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
	}
	if first.IsZero() {
		first = g.first
	}
	return ids, first
}

func (g *group) reset() {
	g.first, g.pending = time.Time{}, time.Time{}
	g.ids, g.idTimes = g.ids[:0], g.idTimes[:0]
	g.buckets = nil
	clear(g.values)
	for i := range g.steps {
		g.steps[i] = g.steps[i][:0]
	}
}

func (g *group) count(r *compiled, t time.Time, matched bool, id string) {
	if g.buckets == nil {
		g.buckets = make([]bucket, nBuckets)
	}
	w := width(r)
	bi := t.UnixNano() / w
	b := &g.buckets[int(((bi%nBuckets)+nBuckets)%nBuckets)]
	if b.idx != bi {
		if b.idx > bi {
			return // older than the window this slot now holds
		}
		*b = bucket{idx: bi}
	}
	b.total++
	if matched {
		b.matched++
		g.note(t, id)
	}
}

func (g *group) sum(r *compiled, now time.Time) (matched, total int) {
	cur := now.UnixNano() / width(r)
	for _, b := range g.buckets {
		if b.idx > cur-nBuckets && b.idx <= cur {
			matched += b.matched
			total += b.total
		}
	}
	return matched, total
}

func (g *group) distinct(r *compiled, now time.Time, v, id string) int {
	if g.values == nil {
		g.values = map[string]time.Time{}
	}
	g.distinctAt(r, now)
	if _, ok := g.values[v]; !ok && len(g.values) >= maxValues {
		return len(g.values)
	}
	if prev, ok := g.values[v]; !ok || now.After(prev) {
		g.values[v] = now
	}
	g.note(now, id)
	return len(g.values)
}

// distinctAt is the number of distinct values in the window ending at now.
func (g *group) distinctAt(r *compiled, now time.Time) int {
	cutoff := now.Add(-r.agg.Timespan)
	for k, t := range g.values {
		if !t.After(cutoff) {
			delete(g.values, k)
		}
	}
	return len(g.values)
}

func (g *group) step(r *compiled, i int, t time.Time, id string) {
	if g.steps == nil {
		g.steps = make([][]time.Time, len(r.steps))
	}
	limit := max(r.agg.Steps[i].Count, 1) * 4
	s := g.steps[i]
	if len(s) >= limit {
		copy(s, s[1:])
		s = s[:len(s)-1]
	}
	g.steps[i] = append(s, t)
	g.note(t, id)
}

func (g *group) sequenceDone(r *compiled, now time.Time) bool {
	cutoff := now.Add(-r.agg.Timespan)
	for i := range g.steps {
		g.steps[i] = slices.DeleteFunc(g.steps[i], func(t time.Time) bool { return t.Before(cutoff) })
		sort.Slice(g.steps[i], func(a, b int) bool { return g.steps[i][a].Before(g.steps[i][b]) })
	}
	if len(g.steps) < len(r.steps) {
		return false
	}
	cursor := cutoff
	for i, s := range r.agg.Steps {
		need := max(s.Count, 1)
		n := 0
		var at time.Time
		for _, t := range g.steps[i] {
			if r.agg.Kind == KindTemporalOrdered && i > 0 && !t.After(cursor) {
				continue
			}
			n++
			if n == need {
				at = t
				break
			}
		}
		if n < need {
			return false
		}
		if r.agg.Kind == KindTemporalOrdered {
			cursor = at
		}
	}
	return true
}
