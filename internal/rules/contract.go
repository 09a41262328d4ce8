package rules

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/warden-ai/warden/internal/detection"
)

// detectionRefs are the parts of the detection contract a rule's expressions read: keys of
// detection.values and the statistic names compared with detection.statistic.
type detectionRefs struct {
	values     []string
	statistics []string
}

// collectRefs walks a checked expression for detection.values['k'], 'k' in detection.values,
// detection.values.k, has(detection.values.k), detection.statistic == 's' and
// detection.statistic in ['s', ...].
func collectRefs(a *cel.Ast, refs *detectionRefs) {
	if a == nil {
		return
	}
	isVar := func(e ast.Expr, name string) bool {
		switch e.Kind() {
		case ast.IdentKind:
			return e.AsIdent() == name
		case ast.SelectKind:
			s := e.AsSelect()
			op := s.Operand()
			return !s.IsTestOnly() && op.Kind() == ast.IdentKind && op.AsIdent()+"."+s.FieldName() == name
		}
		return false
	}
	strLit := func(e ast.Expr) (string, bool) {
		if e.Kind() != ast.LiteralKind {
			return "", false
		}
		s, ok := e.AsLiteral().(types.String)
		return string(s), ok
	}
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.SelectKind:
			if s := e.AsSelect(); isVar(s.Operand(), "detection.values") {
				refs.values = append(refs.values, s.FieldName())
			}
		case ast.CallKind:
			c := e.AsCall()
			args := c.Args()
			if len(args) != 2 {
				return
			}
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex:
				if k, ok := strLit(args[1]); ok && isVar(args[0], "detection.values") {
					refs.values = append(refs.values, k)
				}
			case operators.In:
				if k, ok := strLit(args[0]); ok && isVar(args[1], "detection.values") {
					refs.values = append(refs.values, k)
				}
				if isVar(args[0], "detection.statistic") && args[1].Kind() == ast.ListKind {
					for _, el := range args[1].AsList().Elements() {
						if s, ok := strLit(el); ok {
							refs.statistics = append(refs.statistics, s)
						}
					}
				}
			case operators.Equals, operators.NotEquals:
				for i := range 2 {
					if s, ok := strLit(args[1-i]); ok && isVar(args[i], "detection.statistic") {
						refs.statistics = append(refs.statistics, s)
					}
				}
			}
		}
	}))
}

// windowPlaceholders are the summary names an aggregated rule provides besides variables.
var windowPlaceholders = []string{"count", "ratio", "total", "distinct", "threshold", "value", "score"}

// checkContract validates a rule that selects detections against the detection registry: every
// selected kind is registered, and every value key and statistic the rule's expressions and
// summary read exists in at least one selected kind.
func checkContract(r *Rule, s ruleSpec, bad func(string, ...any)) {
	if !slices.Contains(s.Select.Types, TypeDetection) {
		return
	}
	var schemas []detection.Schema
	for _, k := range s.Select.Kinds {
		sc, ok := detection.Lookup(k)
		if !ok {
			bad("select.kinds: %q is not a detection kind any detector emits (known: %s)", k, strings.Join(detection.Kinds(), ", "))
			continue
		}
		schemas = append(schemas, sc)
	}
	if len(s.Select.Kinds) == 0 {
		schemas = detection.Schemas()
	}
	if len(schemas) == 0 {
		return
	}
	var refs detectionRefs
	for _, a := range append([]*cel.Ast{r.condition, r.severityExpr}, append(r.exceptions, r.steps...)...) {
		collectRefs(a, &refs)
	}
	kinds := func() string {
		ks := make([]string, 0, len(schemas))
		for _, sc := range schemas {
			ks = append(ks, sc.Kind)
		}
		return strings.Join(ks, ", ")
	}
	for _, k := range uniq(refs.values) {
		if !slices.ContainsFunc(schemas, func(sc detection.Schema) bool { return sc.HasValue(k) }) {
			bad("detection.values[%q]: no selected kind (%s) has this value (%s)", k, kinds(), valuesOf(schemas))
		}
	}
	for _, st := range uniq(refs.statistics) {
		if !slices.ContainsFunc(schemas, func(sc detection.Schema) bool { return slices.Contains(sc.Statistics, st) }) {
			bad("detection.statistic %q: no selected kind (%s) reports this statistic (%s)", st, kinds(), statisticsOf(schemas))
		}
	}
	// Summary placeholders of a detection-only, per-detection rule read the detection's values.
	if s.Aggregate != nil || len(s.Select.Types) != 1 {
		return
	}
	for _, p := range r.summary {
		if p.name == "" || strings.Contains(p.name, ".") || slices.Contains(windowPlaceholders, p.name) {
			continue
		}
		if !slices.ContainsFunc(schemas, func(sc detection.Schema) bool { return sc.HasValue(p.name) }) {
			bad("summary: {%s} is not a value of the selected kinds (%s): %s", p.name, kinds(), valuesOf(schemas))
		}
	}
}

func uniq(xs []string) []string {
	sort.Strings(xs)
	return slices.Compact(xs)
}

func valuesOf(schemas []detection.Schema) string {
	var parts []string
	for _, sc := range schemas {
		parts = append(parts, fmt.Sprintf("%s: %s", sc.Kind, strings.Join(sc.ValueNames(), " ")))
	}
	return "values " + strings.Join(parts, "; ")
}

func statisticsOf(schemas []detection.Schema) string {
	var parts []string
	for _, sc := range schemas {
		parts = append(parts, fmt.Sprintf("%s: %s", sc.Kind, strings.Join(sc.Statistics, " ")))
	}
	return "statistics " + strings.Join(parts, "; ")
}

// recovers reports whether a per-input rule selecting sel can auto-resolve: it selects only
// detections, of named kinds that all report Recovered when their condition clears.
func recovers(sel selectSpec) bool {
	if len(sel.Types) != 1 || sel.Types[0] != TypeDetection || len(sel.Kinds) == 0 {
		return false
	}
	for _, k := range sel.Kinds {
		if sc, ok := detection.Lookup(k); !ok || !sc.Recovers {
			return false
		}
	}
	return true
}
