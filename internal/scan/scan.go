package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Role says whether a text goes into the model or comes out of it.
type Role string

// The two roles.
const (
	Input  Role = "input"
	Output Role = "output"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == Input || r == Output }

// Context is what the engine knows about the model a text belongs to.
type Context struct {
	Model        string
	SystemPrompt string   // the registered system prompt, used for leakage detection
	Canaries     []string // canary tokens that must never appear in an output
	// Guards names the guard models (Options.Guards) that decide categories for this model;
	// see guard.go for what their verdicts do.
	Guards []string
}

// Canonical finding categories. Policies and rules match on these strings.
const (
	CatPromptInjection   = "prompt_injection"
	CatJailbreak         = "jailbreak"
	CatInvisibleText     = "invisible_text"
	CatEncodedPayload    = "encoded_payload"
	CatIndirectInjection = "indirect_injection"
	CatExfiltration      = "exfiltration"
	CatPII               = "pii"
	CatSecret            = "secret"
	CatHarmful           = "harmful" // harmful content in an output
	// CatHarmfulRequest is an input asking for harmful help. It is a
	// signal about the user, not something the model did, so the default
	// policy flags it but marks its rules Quiet (no paging).
	CatHarmfulRequest   = "harmful_request"
	CatSystemPromptLeak = "system_prompt_leak"
	CatRefusal          = "refusal"
	CatExternal         = "external"
)

// Finding is one detection. Start and End are byte offsets into the
// original text (End exclusive); a finding about the whole text spans it all.
type Finding struct {
	Detector string  `json:"detector"`
	Category string  `json:"category"`
	Score    float64 `json:"score"`
	Start    int     `json:"start"`
	End      int     `json:"end"`
	Evidence string  `json:"evidence,omitempty"`
}

// Action is what a policy decides for a text. Actions are ordered:
// allow < flag < redact < block.
type Action string

// The actions, weakest first.
const (
	ActionAllow  Action = "allow"
	ActionFlag   Action = "flag"
	ActionRedact Action = "redact"
	ActionBlock  Action = "block"
)

func (a Action) rank() int {
	switch a {
	case ActionFlag:
		return 1
	case ActionRedact:
		return 2
	case ActionBlock:
		return 3
	}
	return 0
}

// Stronger returns the stronger of a and b.
func (a Action) Stronger(b Action) Action {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Scanner is one detector. Scan must not modify in and must be safe for
// concurrent use. Spans in the returned findings refer to in.Text.
type Scanner interface {
	Name() string
	Scan(ctx context.Context, in *Doc) ([]Finding, error)
}

// Built-in scanner names, usable in Options.Disable.
const (
	ScannerInvisible = "invisible"
	ScannerInjection = "injection"
	ScannerEncoded   = "encoded"
	ScannerMarkup    = "markup"
	ScannerPII       = "pii"
	ScannerSecret    = "secret"
	ScannerHarmful   = "harmful"
	ScannerLeak      = "leak"
	ScannerRefusal   = "refusal"
)

// Options configure an Engine.
type Options struct {
	// Disable lists built-in scanners (Scanner* names) that are not run.
	Disable []string
	// External, when its URL is set, adds the HTTP classifier hook for every text.
	External ExternalOptions
	// Guards are the named guard models; a scan consults those its Context names.
	Guards []GuardOptions
	// Registerer receives the guard metrics (warden_guard_*); nil registers nowhere.
	Registerer prometheus.Registerer
	// Extra scanners run after the built-ins, in order.
	Extra []Scanner
	// MaxDecodeDepth bounds nested decoding of encoded payloads (default 3).
	MaxDecodeDepth int
	// Logger receives scanner errors (never the scanned text). Nil discards.
	Logger *slog.Logger
	// Weights overrides embedded weight files by name ("injection.wlm",
	// "harmful.wlm"); used by cmd/scantrain to evaluate fresh models.
	Weights map[string][]byte
}

// DefaultOptions enables every built-in scanner and no external hook.
func DefaultOptions() Options {
	return Options{MaxDecodeDepth: 3}
}

func (o Options) validate() error {
	known := []string{ScannerInvisible, ScannerInjection, ScannerEncoded, ScannerMarkup, ScannerPII,
		ScannerSecret, ScannerHarmful, ScannerLeak, ScannerRefusal}
	for _, d := range o.Disable {
		if !slices.Contains(known, d) {
			return fmt.Errorf("scan options: Disable: unknown scanner %q", d)
		}
	}
	if o.MaxDecodeDepth < 0 || o.MaxDecodeDepth > 5 {
		return fmt.Errorf("scan options: MaxDecodeDepth %d out of range 0..5", o.MaxDecodeDepth)
	}
	for i, s := range o.Extra {
		if s == nil {
			return fmt.Errorf("scan options: Extra[%d] is nil", i)
		}
	}
	seen := map[string]bool{}
	for _, g := range o.Guards {
		if err := g.validate(); err != nil {
			return err
		}
		if seen[g.Name] {
			return fmt.Errorf("scan options: guard %q configured twice", g.Name)
		}
		seen[g.Name] = true
	}
	return o.External.validate()
}

// Engine runs a fixed set of scanners over normalized text. It is safe for
// concurrent use.
type Engine struct {
	scanners []Scanner
	log      *slog.Logger
	inj      *injectionScanner
	harm     *harmfulScanner
	guards   map[string]*guard
	depth    int
	pool     sync.Pool // *Doc scratch
}

// New builds an engine with the built-in registry minus opts.Disable, plus
// the external hook and opts.Extra.
func New(opts Options) (*Engine, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log.With("component", "scan"), depth: opts.MaxDecodeDepth}
	models, err := newLearned(opts.Weights, "injection.wlm", "harmful.wlm")
	if err != nil {
		return nil, fmt.Errorf("load learned models: %w", err)
	}
	st, err := loadStage2(opts.Weights)
	if err != nil {
		return nil, fmt.Errorf("load second-stage model: %w", err)
	}
	inj, err := newInjectionScanner(models, st)
	if err != nil {
		return nil, fmt.Errorf("build injection scanner: %w", err)
	}
	e.inj = inj
	harm := newHarmfulScanner(models)
	if harm.stage, err = loadHarmStage2(opts.Weights); err != nil {
		return nil, fmt.Errorf("load harm second-stage model: %w", err)
	}
	e.harm = harm
	// One automaton for the injection signatures, the harm lexicon and the
	// structural cues: all read Doc.Norm, so the text is walked once and
	// the matches cached.
	shared := newMatcher(append(append(append(slices.Clip(inj.pats), harm.lexP...), inj.cpats...), harm.hpats...))
	inj.m, inj.base = shared, 0
	harm.lex, harm.base = shared, len(inj.pats)
	inj.cbase = len(inj.pats) + len(harm.lexP)
	harm.hbase = inj.cbase + len(inj.cpats)
	// The registry of built-ins, in run order.
	builtins := []Scanner{
		invisibleScanner{},
		inj,
		&encodedScanner{inj: inj, depth: opts.MaxDecodeDepth},
		newMarkupScanner(),
		newPIIScanner(),
		newSecretScanner(),
		harm,
		newLeakScanner(),
		newRefusalScanner(),
	}
	for _, s := range builtins {
		if !slices.Contains(opts.Disable, s.Name()) {
			e.scanners = append(e.scanners, s)
		}
	}
	if opts.External.URL != "" {
		x, err := NewExternal(opts.External, e.log)
		if err != nil {
			return nil, err
		}
		e.scanners = append(e.scanners, x)
	}
	e.scanners = append(e.scanners, opts.Extra...)
	if len(opts.Guards) > 0 {
		m := newGuardMetrics(opts.Registerer)
		e.guards = make(map[string]*guard, len(opts.Guards))
		for _, o := range opts.Guards {
			g, err := newGuard(o, m, e.log)
			if err != nil {
				return nil, err
			}
			e.guards[o.Name] = g
		}
	}
	return e, nil
}

// Scanners returns the names of the scanners the engine runs, in order.
func (e *Engine) Scanners() []string {
	names := make([]string, len(e.scanners))
	for i, s := range e.scanners {
		names[i] = s.Name()
	}
	return names
}

// ErrInvalidRole is returned for a role other than Input or Output.
var ErrInvalidRole = errors.New("invalid role")

// Scan normalizes text once and runs every scanner over it, then the guard
// models sc.Guards names (guard.go). Findings are sorted by start offset. A
// scanner error does not stop the others: the findings gathered so far are
// returned with the joined errors; guards that gave no verdict are among
// them as [*GuardError] values ([GuardErrors] separates them).
func (e *Engine) Scan(ctx context.Context, text string, role Role, sc Context) ([]Finding, error) {
	return e.scan(ctx, text, role, sc, nil)
}

// ScanKnown is Scan for a text whose PII and secret findings are already known (k, from
// [Redactor.Scan] over the same text): those two scanners are not run again, their findings
// take their place, and the result is the same as Scan's.
func (e *Engine) ScanKnown(ctx context.Context, text string, role Role, sc Context, k Known) ([]Finding, error) {
	return e.scan(ctx, text, role, sc, &k)
}

func (e *Engine) scan(ctx context.Context, text string, role Role, sc Context, k *Known) ([]Finding, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("scan: %w %q", ErrInvalidRole, role)
	}
	in, _ := e.pool.Get().(*Doc)
	if in == nil {
		in = new(Doc)
	}
	in.reset(text, role, sc)
	defer e.pool.Put(in)
	var out []Finding
	var errs []error
	for _, s := range e.scanners {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("scan: %w", err)
		}
		if k != nil {
			switch s.(type) {
			case *piiScanner:
				out = append(out, k.pii...)
				continue
			case *secretScanner:
				out = append(out, k.secret...)
				continue
			}
		}
		fs, err := s.Scan(ctx, in)
		if err != nil {
			e.log.Warn("scanner failed", "scanner", s.Name(), "err", err)
			errs = append(errs, fmt.Errorf("scanner %s: %w", s.Name(), err))
		}
		out = append(out, fs...)
	}
	if len(sc.Guards) > 0 {
		out, errs = e.runGuards(ctx, in, out, errs)
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Start - b.Start })
	return out, errors.Join(errs...)
}
