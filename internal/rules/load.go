package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/warden-ai/warden/internal/alert"
)

func yamlKeys(target any) []string {
	t := reflect.TypeOf(target)
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func loadSources(srcs []source, maxWindow time.Duration) (*RuleSet, error) {
	var (
		errs   []error
		files  []*parsed
		lists  = map[string][]string{}
		macros = map[string]string{}
		where  = map[string]string{}
	)
	for _, src := range srcs {
		p, perrs := parseFile(src)
		errs = append(errs, perrs...)
		if p == nil {
			continue
		}
		files = append(files, p)
		for name, items := range p.spec.Lists {
			if !identRE.MatchString(name) {
				errs = append(errs, &LoadError{File: p.name, Msg: fmt.Sprintf("list name %q: use lower-case letters, digits and _", name)})
				continue
			}
			lists[name] = append(lists[name], items...) // later files extend a list (Falco's append)
		}
		for name, expr := range p.spec.Macros {
			if !identRE.MatchString(name) {
				errs = append(errs, &LoadError{File: p.name, Msg: fmt.Sprintf("macro name %q: use lower-case letters, digits and _", name)})
				continue
			}
			if _, isVar := varIndex[name]; isVar {
				errs = append(errs, &LoadError{File: p.name, Msg: fmt.Sprintf("macro name %q shadows a variable", name)})
				continue
			}
			if prev, dup := where[name]; dup {
				errs = append(errs, &LoadError{File: p.name, Msg: fmt.Sprintf("macro %q already defined in %s", name, prev)})
				continue
			}
			where[name] = p.name
			macros[name] = expr
		}
	}
	for name := range lists {
		if _, dup := macros[name]; dup {
			errs = append(errs, fmt.Errorf("%w: %q is both a list and a macro", ErrInvalid, name))
		}
	}
	env, err := newEnv(lists, nil)
	if err != nil {
		return nil, fmt.Errorf("rules environment: %w", err)
	}
	x := &expander{lists: lists, macros: macros}
	rs := &RuleSet{lists: lists}
	index := map[string]int{}
	for _, p := range files {
		for i := range p.spec.Rules {
			line := 0
			if i < len(p.lines) {
				line = p.lines[i]
			}
			if sp := p.spec.Rules[i]; sp.Enabled != nil && !*sp.Enabled {
				// enabled: false switches an earlier rule (e.g. a built-in one) off; nothing else is needed.
				if j, ok := index[sp.ID]; ok {
					rs.Rules[j] = &Rule{ID: sp.ID, spec: sp}
				} else {
					errs = append(errs, &LoadError{File: p.name, Line: line, Msg: fmt.Sprintf("rule %q: enabled: false names no earlier rule", sp.ID)})
				}
				continue
			}
			r, rerrs := compileRule(env, x, p.name, line, p.spec.Rules[i], maxWindow)
			if len(rerrs) > 0 {
				errs = append(errs, rerrs...)
				continue
			}
			if j, dup := index[r.ID]; dup {
				if !r.spec.Replace && (r.spec.Enabled == nil || *r.spec.Enabled) {
					prev := rs.Rules[j]
					errs = append(errs, &LoadError{File: p.name, Line: line, Msg: fmt.Sprintf("rule id %q already defined at %s:%d (set replace: true to override it)", r.ID, prev.File, prev.Line)})
					continue
				}
				rs.Rules[j] = r
				continue
			}
			if len(rs.Rules) >= maxRules {
				errs = append(errs, &LoadError{File: p.name, Line: line, Msg: fmt.Sprintf("more than %d rules", maxRules)})
				continue
			}
			index[r.ID] = len(rs.Rules)
			rs.Rules = append(rs.Rules, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rs.Rules = slices.DeleteFunc(rs.Rules, func(r *Rule) bool { return r.spec.Enabled != nil && !*r.spec.Enabled })
	return rs, nil
}

func compileRule(env *cel.Env, x *expander, file string, line int, s ruleSpec, maxWindow time.Duration) (*Rule, []error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, &LoadError{File: file, Line: line, Msg: fmt.Sprintf("rule %q: ", s.ID) + fmt.Sprintf(format, args...)})
	}
	if s.ID == "" {
		bad("id is required")
	}
	if s.Name == "" {
		s.Name = s.ID
	}
	if s.Version == "" {
		s.Version = "1"
	}
	r := &Rule{ID: s.ID, Name: s.Name, Description: s.Description, Version: s.Version, Severity: alert.Severity(s.Severity),
		Tags: s.Tags, Runbook: s.Runbook, Suppress: s.Suppress, File: file, Line: line, spec: s}
	if !r.Severity.Valid() {
		bad("severity %q: must be P1, P2, P3 or P4 (severity_expr may refine it per event)", s.Severity)
	}
	if len(s.Select.Types) == 0 {
		bad("select.types is required (one or more of %s)", strings.Join(knownTypes, ", "))
	}
	for _, t := range s.Select.Types {
		if !slices.Contains(knownTypes, t) {
			bad("select.types: %q is not one of %s", t, strings.Join(knownTypes, ", "))
		}
	}
	if len(s.Select.Kinds) > 0 && !slices.Contains(s.Select.Types, TypeDetection) {
		bad("select.kinds needs %q in select.types", TypeDetection)
	}
	for _, t := range s.Select.RiskTiers {
		if !slices.Contains(riskTiers, t) {
			bad("select.risk_tiers: %q is not one of %s", t, strings.Join(riskTiers, ", "))
		}
	}
	r.types = s.Select.Types
	if s.Suppress < 0 {
		bad("suppress must not be negative")
	}
	for _, a := range s.Actions {
		if a.Type == "alert" {
			continue // always implied
		}
		if !slices.Contains(actionTypes, a.Type) {
			bad("actions: %q is not one of alert, %s", a.Type, strings.Join(actionTypes, ", "))
			continue
		}
		if a.TTL < 0 || a.RPM < 0 {
			bad("actions: ttl and rpm must not be negative")
		}
		if a.Type == "rate_limit" && a.RPM == 0 {
			bad("actions: rate_limit needs rpm")
		}
		r.Actions = append(r.Actions, Action(a))
	}
	compile := func(what, expr string, want *cel.Type) *cel.Ast {
		if len(expr) > maxExprLen {
			bad("%s: longer than %d characters", what, maxExprLen)
			return nil
		}
		full, err := x.expand(expr)
		if err != nil {
			bad("%s: %v", what, err)
			return nil
		}
		r.expanded = append(r.expanded, full)
		ast, iss := env.Compile(full)
		if iss.Err() != nil {
			bad("%s: %s", what, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
			return nil
		}
		if est, err := env.EstimateCost(ast, sizeEstimator{}); err == nil && est.Min > celCostLimit {
			// Even its cheapest evaluation would be cut off at the limit: it could never match.
			bad("%s: costs at least %d to evaluate, over the limit of %d (fewer or smaller nested comprehensions)", what, est.Min, celCostLimit)
			return nil
		}
		if !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
			bad("%s: must evaluate to %s, not %s", what, want, ast.OutputType())
			return nil
		}
		return ast
	}
	if s.Condition != "" {
		r.condition = compile("condition", s.Condition, cel.BoolType)
	}
	if s.SeverityExpr != "" {
		r.severityExpr = compile("severity_expr", s.SeverityExpr, cel.StringType)
	}
	for i, ex := range s.Exceptions {
		if ex.Condition == "" {
			bad("exceptions[%d] (%s): condition is required", i, ex.Name)
			continue
		}
		r.exceptions = append(r.exceptions, compile(fmt.Sprintf("exceptions[%d]", i), ex.Condition, cel.BoolType))
	}
	dedup := s.DedupBy
	if len(dedup) == 0 {
		dedup = []string{"event.model", "actor.id"}
	}
	for _, d := range dedup {
		if v, ok := varIndex[d]; !ok || !vars[v].scalar {
			bad("dedup_by: %q is not a scalar variable", d)
		} else {
			r.dedupBy = append(r.dedupBy, v)
		}
	}
	if len(s.DedupBy) > 0 && s.Aggregate != nil {
		bad("dedup_by applies to per-event rules; aggregated rules dedup by aggregate.group_by")
	}
	r.resolve = s.Aggregate != nil && (s.Aggregate.Kind == KindEventCount || s.Aggregate.Kind == KindValueCount) ||
		s.Aggregate == nil && recovers(s.Select)
	if s.Resolve != nil {
		if *s.Resolve && !r.resolve {
			bad("resolve: true applies to event_count and value_count rules, and to detection rules whose kinds all report recovery (per-event and temporal rules have no condition that clears)")
		}
		r.resolve = r.resolve && *s.Resolve
	}
	if a := s.Aggregate; a != nil {
		if a.Timespan+a.For > maxWindow {
			bad("aggregate.timespan %s (+ for %s) is longer than the retention of %s: the window would count events no longer kept", a.Timespan, a.For, maxWindow)
		}
		errs = append(errs, checkAggregate(r, a, bad, compile)...)
	} else if s.Condition == "" {
		bad("condition is required (or an aggregate with steps)")
	}
	if parts, err := parseSummary(s.Summary); err != nil {
		bad("summary: %v", err)
	} else {
		r.summary = parts
	}
	if len(errs) == 0 {
		checkContract(r, s, bad)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

func checkAggregate(r *Rule, a *aggSpec, bad func(string, ...any), compile func(string, string, *cel.Type) *cel.Ast) []error {
	switch a.Kind {
	case KindEventCount, KindValueCount, KindTemporal, KindTemporalOrdered:
	default:
		bad("aggregate.kind %q: must be one of event_count, value_count, temporal, temporal_ordered", a.Kind)
		return nil
	}
	if a.Timespan <= 0 {
		bad("aggregate.timespan is required and positive")
	}
	if a.For < 0 {
		bad("aggregate.for must not be negative")
	}
	for _, g := range a.GroupBy {
		if v, ok := varIndex[g]; !ok || !vars[v].scalar {
			bad("aggregate.group_by: %q is not a scalar variable (e.g. actor.id, event.model)", g)
		}
	}
	switch a.Kind {
	case KindEventCount, KindValueCount:
		if a.Threshold == "" {
			bad("aggregate.threshold is required for %s", a.Kind)
			break
		}
		t, err := ParseThreshold(a.Threshold)
		if err != nil {
			bad("aggregate.threshold: %v", err)
			break
		}
		if t.Percent && a.Kind != KindEventCount {
			bad("aggregate.threshold: a percentage only applies to event_count")
		}
		r.threshold = t
		if len(a.Steps) > 0 {
			bad("aggregate.steps only apply to temporal and temporal_ordered")
		}
		if r.spec.Condition == "" {
			bad("condition is required for %s", a.Kind)
		}
	case KindTemporal, KindTemporalOrdered:
		if len(a.Steps) < 2 {
			bad("aggregate.steps: %s needs at least two steps", a.Kind)
		}
		if a.Threshold != "" || a.For != 0 {
			bad("aggregate.threshold and for do not apply to %s (use steps[].count)", a.Kind)
		}
		for i, s := range a.Steps {
			if s.Count < 0 || s.Count > 1000 {
				bad("aggregate.steps[%d].count must be between 1 and 1000", i)
			}
			r.steps = append(r.steps, compile(fmt.Sprintf("aggregate.steps[%d].condition", i), s.Condition, cel.BoolType))
		}
	}
	if a.Kind == KindValueCount {
		if v, ok := varIndex[a.Field]; !ok || !vars[v].scalar {
			bad("aggregate.field: %q is not a scalar variable", a.Field)
		}
	} else if a.Field != "" {
		bad("aggregate.field only applies to value_count")
	}
	if a.MinCount < 0 {
		bad("aggregate.min_count must not be negative")
	}
	if a.BaselineFactor < 0 || a.BaselineFactor > 0 && a.Kind != KindEventCount {
		bad("aggregate.baseline_factor applies to event_count and must not be negative")
	}
	return nil
}

// expander substitutes macros (as parenthesised expressions) into a condition. Lists are CEL
// constants and need no substitution.
type expander struct {
	lists  map[string][]string
	macros map[string]string
}

// maxExpanded bounds a condition after macro expansion (macros that use each other twice per
// level would otherwise grow exponentially).
const maxExpanded = 4 * maxExprLen

func (x *expander) expand(expr string) (string, error) {
	return x.expandDepth(expr, 0)
}

func (x *expander) expandDepth(expr string, depth int) (string, error) {
	if depth > maxMacroDepth {
		return "", fmt.Errorf("macros nested deeper than %d (a cycle?)", maxMacroDepth)
	}
	if len(x.macros) == 0 {
		return expr, nil
	}
	var b strings.Builder
	var err error
	scanIdents(expr, func(tok string, ident bool) {
		if err != nil {
			return
		}
		if m, ok := x.macros[tok]; ok && ident {
			var sub string
			sub, err = x.expandDepth(m, depth+1)
			b.WriteString("(" + sub + ")")
		} else {
			b.WriteString(tok)
		}
		if err == nil && b.Len() > maxExpanded {
			err = fmt.Errorf("longer than %d characters once macros are expanded", maxExpanded)
		}
	})
	return b.String(), err
}

// scanIdents splits expr into tokens, reporting bare identifiers (not after a dot, not inside
// string literals) with ident=true; everything else passes through unchanged.
func scanIdents(expr string, emit func(tok string, ident bool)) {
	i := 0
	prevDot := false
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			if j < len(expr) {
				j++
			}
			emit(expr[i:min(j, len(expr))], false)
			i = min(j, len(expr))
			prevDot = false
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(expr) && (expr[j] == '_' || expr[j] >= 'a' && expr[j] <= 'z' || expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			// An identifier followed by '.' is the head of a qualified name (event.model): not a macro.
			nextDot := j < len(expr) && expr[j] == '.'
			emit(expr[i:j], !prevDot && !nextDot)
			i = j
			prevDot = false
		default:
			emit(expr[i:i+1], false)
			if c != ' ' && c != '\t' && c != '\n' {
				prevDot = c == '.'
			}
			i++
		}
	}
}
