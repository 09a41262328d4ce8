package rules

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/warden-ai/warden/internal/alert"
)

//go:embed pack/*.yaml
var builtinPack embed.FS

// Aggregation kinds.
const (
	KindEventCount      = "event_count"
	KindValueCount      = "value_count"
	KindTemporal        = "temporal"
	KindTemporalOrdered = "temporal_ordered"
)

// TypeDetection is the selector type that matches analysis detections instead of events.
const TypeDetection = "detection"

// Action types a rule may request besides the alert itself.
var actionTypes = []string{"block", "suspend_key", "pause_model", "rate_limit"}

var (
	knownTypes = []string{"inference", "access", "pipeline", "feedback", "probe", TypeDetection}
	riskTiers  = []string{"critical", "high", "medium", "low"}
)

// Limits that keep a rule set and its evaluation bounded.
const (
	maxFileBytes  = 1 << 20
	maxRules      = 2000
	maxExprLen    = 8192
	celCostLimit  = 100_000
	maxMacroDepth = 16
)

// ErrInvalid is wrapped by every rule loading error.
var ErrInvalid = errors.New("invalid rule")

// LoadError names the file and line of a problem in a rule file.
type LoadError struct {
	File string
	Line int
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *LoadError) Unwrap() error { return ErrInvalid }

// fileSpec is one rule file.
type fileSpec struct {
	Lists  map[string][]string `yaml:"lists"`
	Macros map[string]string   `yaml:"macros"`
	Rules  []ruleSpec          `yaml:"rules"`
}

type ruleSpec struct {
	ID           string          `yaml:"id"`
	Name         string          `yaml:"name"`
	Description  string          `yaml:"description"`
	Version      string          `yaml:"version"`
	Enabled      *bool           `yaml:"enabled"`
	Replace      bool            `yaml:"replace"`
	Severity     string          `yaml:"severity"`
	SeverityExpr string          `yaml:"severity_expr"`
	Select       selectSpec      `yaml:"select"`
	Condition    string          `yaml:"condition"`
	Aggregate    *aggSpec        `yaml:"aggregate"`
	Suppress     time.Duration   `yaml:"suppress"`
	DedupBy      []string        `yaml:"dedup_by"`
	Exceptions   []exceptionSpec `yaml:"exceptions"`
	Summary      string          `yaml:"summary"`
	Tags         []string        `yaml:"tags"`
	Runbook      string          `yaml:"runbook"`
	Actions      []actionSpec    `yaml:"actions"`
	// Resolve: false opts an aggregated rule out of auto-resolution (default true where the
	// condition can clear: event_count and value_count).
	Resolve *bool `yaml:"resolve"`
}

type selectSpec struct {
	Types        []string `yaml:"types"`
	Kinds        []string `yaml:"kinds"`
	Models       []string `yaml:"models"`
	Environments []string `yaml:"environments"`
	RiskTiers    []string `yaml:"risk_tiers"`
}

type aggSpec struct {
	Kind      string        `yaml:"kind"`
	GroupBy   []string      `yaml:"group_by"`
	Timespan  time.Duration `yaml:"timespan"`
	Threshold string        `yaml:"threshold"`
	For       time.Duration `yaml:"for"`
	MinCount  int           `yaml:"min_count"`
	// BaselineFactor (event_count): fire only when the window value is also above this multiple
	// of the group's own learned baseline (the mean of its earlier per-timespan values, once 10
	// have been sampled) — a model that always sees some findings does not page for them.
	BaselineFactor float64    `yaml:"baseline_factor"`
	Field          string     `yaml:"field"`
	Steps          []stepSpec `yaml:"steps"`
}

type stepSpec struct {
	Name      string `yaml:"name"`
	Condition string `yaml:"condition"`
	Count     int    `yaml:"count"`
}

type exceptionSpec struct {
	Name      string `yaml:"name"`
	Condition string `yaml:"condition"`
}

type actionSpec struct {
	Type string        `yaml:"type"`
	TTL  time.Duration `yaml:"ttl"`
	RPM  int           `yaml:"rpm"`
}

// Action is a containment step a rule requests when it fires (besides the alert itself).
type Action struct {
	Type string        // block | suspend_key | pause_model | rate_limit
	TTL  time.Duration // how long the containment lasts; 0 = until a human lifts it
	RPM  int           // rate_limit only: requests per minute allowed
}

// String renders the action for alert.Alert.Actions, e.g. "suspend_key ttl=1h0m0s".
func (a Action) String() string {
	s := a.Type
	if a.TTL > 0 {
		s += " ttl=" + a.TTL.String()
	}
	if a.RPM > 0 {
		s += " rpm=" + strconv.Itoa(a.RPM)
	}
	return s
}

// Threshold is a comparison such as "> 10", ">= 95%" or "< 0.8".
type Threshold struct {
	Op      string
	Value   float64
	Percent bool
}

var thresholdRE = regexp.MustCompile(`^\s*(>=|<=|>|<|==)\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*$`)

// ParseThreshold parses a threshold expression.
func ParseThreshold(s string) (Threshold, error) {
	m := thresholdRE.FindStringSubmatch(s)
	if m == nil {
		return Threshold{}, fmt.Errorf("threshold %q: want an operator (>, >=, <, <=, ==), a number and an optional %%", s)
	}
	v, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return Threshold{}, fmt.Errorf("threshold %q: %w", s, err)
	}
	t := Threshold{Op: m[1], Value: v, Percent: m[3] == "%"}
	if t.Percent {
		t.Value /= 100
	}
	return t, nil
}

// Holds reports whether x satisfies the threshold.
func (t Threshold) Holds(x float64) bool {
	switch t.Op {
	case ">":
		return x > t.Value
	case ">=":
		return x >= t.Value
	case "<":
		return x < t.Value
	case "<=":
		return x <= t.Value
	case "==":
		return x == t.Value
	}
	return false
}

func (t Threshold) String() string {
	if t.Percent {
		return fmt.Sprintf("%s %g%%", t.Op, t.Value*100)
	}
	return fmt.Sprintf("%s %g", t.Op, t.Value)
}

// Rule is a loaded, checked rule.
type Rule struct {
	ID          string
	Name        string
	Description string
	Version     string
	Severity    alert.Severity
	Tags        []string
	Runbook     string
	Actions     []Action
	Suppress    time.Duration
	File        string
	Line        int

	spec         ruleSpec
	types        []string
	condition    *cel.Ast
	severityExpr *cel.Ast
	exceptions   []*cel.Ast
	steps        []*cel.Ast
	threshold    Threshold
	summary      []summaryPart
	tracked      int      // programs that run with runtime cost tracking
	dedupBy      []int    // variables keying suppression of per-event rules
	resolve      bool     // auto-resolve: report when a fired group's condition clears
	expanded     []string // every expression after macro expansion (Reload compares them)
}

// Aggregated reports whether the rule fires on windows rather than single events.
func (r *Rule) Aggregated() bool { return r.spec.Aggregate != nil }

// Resolves reports whether the engine reports, through Options.Resolved, when a group this rule
// fired for no longer meets its condition: event_count and value_count rules unless they set
// resolve: false. Per-event and temporal rules have no state that clears.
func (r *Rule) Resolves() bool { return r.resolve }

// Types lists the event types (and "detection") the rule selects.
func (r *Rule) Types() []string { return r.types }

// RuleSet is a checked set of rules, ready for New.
type RuleSet struct {
	Rules []*Rule
	lists map[string][]string
}

type source struct {
	name string
	data []byte
}

// Load reads the embedded built-in pack (when builtin is true) and every *.yaml / *.yml file in
// dirs, in name order. Lists and macros are shared across files. A rule id may appear once,
// unless the later definition sets replace: true (to change a built-in rule) or enabled: false.
// Errors name file:line; all of them are returned, joined.
func Load(builtin bool, dirs ...string) (*RuleSet, error) {
	return LoadWith(LoadOptions{}, builtin, dirs...)
}

// DefaultMaxWindow is the longest aggregation window (timespan + for) a rule may use unless
// LoadOptions say otherwise: the shortest default retention of detailed data (low-tier models,
// 30 days). A rule that counts over a longer span would count events the store no longer keeps.
const DefaultMaxWindow = 30 * 24 * time.Hour

// LoadOptions bound what LoadWith accepts.
type LoadOptions struct {
	// MaxWindow refuses rules whose aggregate timespan + for is longer (zero: DefaultMaxWindow).
	// The server passes its shortest configured retention.
	MaxWindow time.Duration
}

// LoadWith is Load with limits.
func LoadWith(o LoadOptions, builtin bool, dirs ...string) (*RuleSet, error) {
	if o.MaxWindow <= 0 {
		o.MaxWindow = DefaultMaxWindow
	}
	var srcs []source
	if builtin {
		s, err := builtinSources()
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s...)
	}
	for _, dir := range dirs {
		s, err := dirSources(dir)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s...)
	}
	return loadSources(srcs, o.MaxWindow)
}

// Check validates every rule file in dir together with the built-in pack (so user rules may use
// its macros and lists) and returns every problem found, each naming file:line. It is what
// `warden rules check DIR` reports.
func Check(dir string) []error {
	_, err := Load(true, dir)
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func builtinSources() ([]source, error) {
	names, err := fs.Glob(builtinPack, "pack/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("built-in pack: %w", err)
	}
	sort.Strings(names)
	out := make([]source, 0, len(names))
	for _, n := range names {
		b, err := builtinPack.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("built-in pack: %w", err)
		}
		out = append(out, source{name: "builtin:" + path.Base(n), data: b})
	}
	return out, nil
}

func dirSources(dir string) ([]source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("rules dir: %w", err)
	}
	var out []source
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("rules dir: %w", err)
		}
		if info.Size() > maxFileBytes {
			return nil, &LoadError{File: p, Msg: fmt.Sprintf("file larger than %d bytes", maxFileBytes)}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rules dir: %w", err)
		}
		out = append(out, source{name: p, data: b})
	}
	return out, nil
}

// parsed is one decoded file with the line of every rule.
type parsed struct {
	name  string
	spec  fileSpec
	lines []int // rule index → line
	node  *yaml.Node
}

func parseFile(src source) (*parsed, []error) {
	if len(src.data) > maxFileBytes {
		return nil, []error{&LoadError{File: src.name, Msg: fmt.Sprintf("file larger than %d bytes", maxFileBytes)}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, errEOF) || err.Error() == "EOF" {
			return &parsed{name: src.name}, nil
		}
		return nil, []error{yamlError(src.name, err)}
	}
	p := &parsed{name: src.name, node: &doc}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, []error{&LoadError{File: src.name, Line: root.Line, Msg: "a rule file is a mapping with lists, macros and rules"}}
	}
	var errs []error
	if err := checkKeys(src.name, root, fileSpec{}); err != nil {
		errs = append(errs, err...)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "rules" {
			continue
		}
		seq := root.Content[i+1]
		if seq.Kind != yaml.SequenceNode {
			errs = append(errs, &LoadError{File: src.name, Line: seq.Line, Msg: "rules: must be a list"})
			continue
		}
		for _, r := range seq.Content {
			p.lines = append(p.lines, r.Line)
			errs = append(errs, checkKeys(src.name, r, ruleSpec{})...)
			for j := 0; j+1 < len(r.Content); j += 2 {
				k, v := r.Content[j].Value, r.Content[j+1]
				switch k {
				case "select":
					errs = append(errs, checkKeys(src.name, v, selectSpec{})...)
				case "aggregate":
					errs = append(errs, checkKeys(src.name, v, aggSpec{})...)
					for a := 0; a+1 < len(v.Content); a += 2 {
						if v.Content[a].Value == "steps" {
							for _, s := range v.Content[a+1].Content {
								errs = append(errs, checkKeys(src.name, s, stepSpec{})...)
							}
						}
					}
				case "exceptions":
					for _, s := range v.Content {
						errs = append(errs, checkKeys(src.name, s, exceptionSpec{})...)
					}
				case "actions":
					for _, s := range v.Content {
						errs = append(errs, checkKeys(src.name, s, actionSpec{})...)
					}
				}
			}
		}
	}
	// Unknown keys are reported but do not stop the rest of the file from being checked.
	if err := root.Decode(&p.spec); err != nil {
		return nil, append(errs, yamlError(src.name, err))
	}
	return p, errs
}

var errEOF = errors.New("EOF")

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		var errs []error
		for _, m := range te.Errors {
			errs = append(errs, lineMsg(file, m))
		}
		return errors.Join(errs...)
	}
	return lineMsg(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func lineMsg(file, msg string) error {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &LoadError{File: file, Line: n, Msg: m[2]}
	}
	return &LoadError{File: file, Msg: msg}
}

// checkKeys reports mapping keys that the target struct does not know, with their line.
func checkKeys(file string, n *yaml.Node, target any) []error {
	if n.Kind != yaml.MappingNode {
		return nil // the typed decode reports the kind mismatch
	}
	known := yamlKeys(target)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			errs = append(errs, &LoadError{File: file, Line: k.Line, Msg: fmt.Sprintf("unknown field %q (known: %s)", k.Value, strings.Join(known, ", "))})
		}
	}
	return errs
}
