package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Guard models are named external classifiers (a GPU-served Prompt Guard, Llama Guard, a
// vendor moderation API behind an adapter) that DECIDE some categories for the models that use
// them. They speak the classifier wire contract of [ExternalOptions] (docs/INTEGRATIONS.md,
// "Guard models") and run after the built-in scanners, only for the models whose
// [Context.Guards] name them and only for the roles they cover.
//
// Semantics per scanned text, for a guard that answered:
//   - mode "decide" (default): every finding of the built-in scanners in the guard's categories
//     is dropped and the guard's findings stand in their place — the guard can clear a
//     built-in false positive and raise what the built-ins missed;
//   - mode "add": the built-in findings stay and the guard's findings are added (the policy
//     takes the strongest action, so the guard can only make the verdict stricter).
//
// Guard findings carry detector "guard.<name>" (the classifier's label, when it gives one, is
// the evidence) and are judged by the model's policy like any other finding of their category.
// Findings in categories the guard does not decide are ignored; a finding without a category
// takes the guard's first category.
//
// A guard that gives no verdict (timeout, connection error, non-200, non-JSON, oversized or
// malformed body, open breaker) leaves the built-in findings untouched and is reported as a
// [*GuardError] among the errors [Engine.Scan] returns; [GuardErrors] separates them from the
// errors of the built-in scanners. FailClosed on the error asks inline callers (the gateway) to
// block; the built-in verdict stands otherwise.

// GuardMode says how a guard's verdict combines with the built-in scanners' findings.
type GuardMode string

// Guard modes.
const (
	GuardDecide GuardMode = "decide" // the guard's findings replace the built-ins' in its categories
	GuardAdd    GuardMode = "add"    // the guard's findings are added to the built-ins'
)

// Categories lists the canonical finding categories, the values a guard may decide.
var Categories = []string{CatPromptInjection, CatJailbreak, CatInvisibleText, CatEncodedPayload, CatIndirectInjection,
	CatExfiltration, CatPII, CatSecret, CatHarmful, CatHarmfulRequest, CatSystemPromptLeak, CatRefusal, CatExternal}

// GuardOptions configure one guard model.
type GuardOptions struct {
	// Name identifies the guard in configuration, metrics, logs and detector names.
	Name string
	// Hook is the classifier transport: URL, Timeout, breaker (FailureThreshold, Cooldown),
	// MaxResponseBytes, Header (authentication; never logged) and Client. Its Name and
	// Categories are set from the guard's.
	Hook ExternalOptions
	// Categories the guard decides (at least one; see [Categories]).
	Categories []string
	// Roles the guard is asked about (default both).
	Roles []Role
	// FailClosed: when the guard gives no verdict, inline callers block.
	FailClosed bool
	// Mode: GuardDecide (default) or GuardAdd.
	Mode GuardMode
}

func (o GuardOptions) validate() error {
	at := func(format string, args ...any) error {
		return fmt.Errorf("scan options: guard %q: "+format, append([]any{o.Name}, args...)...)
	}
	if o.Name == "" || strings.ContainsAny(o.Name, " .,:\t\n") {
		return at("name must be non-empty without spaces, dots, commas or colons")
	}
	if o.Hook.URL == "" {
		return at("URL is required")
	}
	if err := o.Hook.validate(); err != nil {
		return at("%w", err)
	}
	if len(o.Categories) == 0 {
		return at("decides no category")
	}
	for _, c := range o.Categories {
		if !slices.Contains(Categories, c) {
			return at("unknown category %q", c)
		}
	}
	for _, r := range o.Roles {
		if !r.Valid() {
			return at("unknown role %q", r)
		}
	}
	if o.Mode != "" && o.Mode != GuardDecide && o.Mode != GuardAdd {
		return at("mode %q is not decide or add", o.Mode)
	}
	return nil
}

// GuardError is a guard that gave no verdict for one text. The message names the guard and the
// reason only (never the URL, credentials, text or response body).
type GuardError struct {
	Guard      string
	Reason     string // one of the Reason* constants
	FailClosed bool
	Err        error
}

func (e *GuardError) Error() string {
	return "guard " + e.Guard + ": " + e.Reason
}

func (e *GuardError) Unwrap() error { return e.Err }

// GuardErrors splits an error returned by [Engine.Scan] into the guards that gave no verdict and
// the remaining (built-in scanner) errors, nil when there are none.
func GuardErrors(err error) (guards []*GuardError, rest error) {
	var others []error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ge, ok := err.(*GuardError); ok { //nolint:errorlint // the tree is walked by hand
			guards = append(guards, ge)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // a Join is walked by hand
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		others = append(others, err)
	}
	walk(err)
	return guards, errors.Join(others...)
}

// guardMetrics are shared by the guards of one engine.
type guardMetrics struct {
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
	verdict *prometheus.CounterVec
}

func newGuardMetrics(reg prometheus.Registerer) *guardMetrics {
	m := &guardMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "warden_guard_request_duration_seconds",
			Help:    "Latency of guard model calls that went out, by guard (includes failed calls).",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, .75, 1, 2, 5}}, []string{"guard"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_guard_errors_total",
			Help: "Guard model calls that gave no verdict, by guard and reason (timeout, unreachable, status, content_type, too_large, malformed, version, circuit_open, canceled)."}, []string{"guard", "reason"}),
		verdict: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_guard_verdicts_total",
			Help: "Guard model verdicts, by guard, role and result (clean: no finding in its categories; findings: at least one)."}, []string{"guard", "role", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.latency, m.errors, m.verdict)
	}
	return m
}

// guard is one configured guard model.
type guard struct {
	o   GuardOptions
	x   *External
	log *slog.Logger
	m   *guardMetrics
}

func newGuard(o GuardOptions, m *guardMetrics, log *slog.Logger) (*guard, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Mode == "" {
		o.Mode = GuardDecide
	}
	if len(o.Roles) == 0 {
		o.Roles = []Role{Input, Output}
	}
	h := o.Hook
	h.Name = "guard." + o.Name
	h.Categories = o.Categories
	lat := m.latency.WithLabelValues(o.Name)
	h.Observe = func(d time.Duration, _ error) { lat.Observe(d.Seconds()) }
	x, err := NewExternal(h, log)
	if err != nil {
		return nil, fmt.Errorf("scan options: guard %q: %w", o.Name, err)
	}
	for _, r := range []string{ReasonTimeout, ReasonUnreachable, ReasonStatus, ReasonContentType, ReasonTooLarge, ReasonMalformed, ReasonCircuitOpen} {
		m.errors.WithLabelValues(o.Name, r)
	}
	return &guard{o: o, x: x, log: log.With("guard", o.Name), m: m}, nil
}

// judge asks the guard about one text and keeps the findings in its categories.
func (g *guard) judge(ctx context.Context, in *Doc) ([]Finding, error) {
	fs, err := g.x.Scan(ctx, in)
	if err != nil {
		reason := ReasonMalformed
		var xe *ExternalError
		if errors.As(err, &xe) {
			reason = xe.Reason
		}
		g.m.errors.WithLabelValues(g.o.Name, reason).Inc()
		switch reason {
		case ReasonCanceled:
		case ReasonCircuitOpen: // the opening was logged once at warn
			g.log.Debug("guard gave no verdict", "reason", reason, "model", in.Context.Model, "role", string(in.Role), "fail_closed", g.o.FailClosed)
		default:
			g.log.Warn("guard gave no verdict", "reason", reason, "model", in.Context.Model, "role", string(in.Role), "fail_closed", g.o.FailClosed, "err", err)
		}
		return nil, &GuardError{Guard: g.o.Name, Reason: reason, FailClosed: g.o.FailClosed, Err: err}
	}
	out := fs[:0]
	for _, f := range fs {
		if f.Category == CatExternal && !slices.Contains(g.o.Categories, CatExternal) {
			f.Category = g.o.Categories[0]
		}
		if !slices.Contains(g.o.Categories, f.Category) {
			continue
		}
		if label, ok := strings.CutPrefix(f.Detector, g.x.o.Name+"."); ok {
			f.Evidence = "label: " + label
		}
		f.Detector = g.x.o.Name
		out = append(out, f)
	}
	result := "clean"
	if len(out) > 0 {
		result = "findings"
	}
	g.m.verdict.WithLabelValues(g.o.Name, string(in.Role), result).Inc()
	return out, nil
}

// runGuards applies the guards of in.Context to the built-in findings out.
func (e *Engine) runGuards(ctx context.Context, in *Doc, out []Finding, errs []error) ([]Finding, []error) {
	var sel []*guard
	for _, name := range in.Context.Guards {
		g := e.guards[name]
		if g == nil {
			errs = append(errs, fmt.Errorf("guard %q is not configured in this engine", name))
			continue
		}
		if slices.Contains(g.o.Roles, in.Role) && !slices.Contains(sel, g) {
			sel = append(sel, g)
		}
	}
	if len(sel) == 0 {
		return out, errs
	}
	type result struct {
		fs  []Finding
		err error
	}
	res := make([]result, len(sel))
	if len(sel) == 1 {
		res[0].fs, res[0].err = sel[0].judge(ctx, in)
	} else {
		var wg sync.WaitGroup
		for i, g := range sel {
			wg.Go(func() { res[i].fs, res[i].err = g.judge(ctx, in) })
		}
		wg.Wait()
	}
	var decided []string
	var add []Finding
	for i, r := range res {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		if sel[i].o.Mode == GuardDecide {
			decided = append(decided, sel[i].o.Categories...)
		}
		add = append(add, r.fs...)
	}
	if len(decided) > 0 {
		out = slices.DeleteFunc(out, func(f Finding) bool { return slices.Contains(decided, f.Category) })
	}
	return append(out, add...), errs
}

// GuardBudget is the longest the named guards may take together (they run concurrently): the
// largest of their timeouts; zero when none is configured. Inline callers add it to their scan
// deadline for models that use guards.
func (e *Engine) GuardBudget(names []string) time.Duration {
	var d time.Duration
	for _, n := range names {
		if g := e.guards[n]; g != nil {
			d = max(d, g.x.o.Timeout)
		}
	}
	return d
}

// Guards returns the names of the configured guards, sorted.
func (e *Engine) Guards() []string {
	names := make([]string, 0, len(e.guards))
	for n := range e.guards {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
