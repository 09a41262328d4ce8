package rules

import (
	"reflect"
	"slices"
	"time"
)

// ReloadResult says what a Reload changed, by rule id.
type ReloadResult struct {
	Rules   int      `json:"rules"`             // rules in force after the reload
	Added   []string `json:"added,omitempty"`   // ids new in this set
	Removed []string `json:"removed,omitempty"` // ids no longer in the set
	Changed []string `json:"changed,omitempty"` // ids whose definition changed
}

// Reload replaces the engine's rules with rs, a set that LoadWith has already checked. It
// compiles rs first and swaps only when every rule compiled, so on any error the engine keeps
// running the rules it had.
//
// What the engine learned survives: the stateful helpers' memory (first-seen values, actor
// baselines, hour-of-week histories) is shared by all rules. A rule whose definition is
// unchanged keeps its windows, suppressions and open alerts as they were. A rule whose
// definition changed keeps its suppressions and its open alerts (so they can still
// auto-resolve), but starts its windows afresh: an open group of such a rule is judged for
// clearing only after a whole timespan of the new window has been seen. Open alerts of removed
// rules are left to an analyst.
func (e *Engine) Reload(rs *RuleSet) (ReloadResult, error) {
	rules, byType, err := e.compile(rs)
	if err != nil {
		return ReloadResult{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := make(map[string]*compiled, len(e.rules))
	for _, c := range e.rules {
		old[c.ID] = c
	}
	res := ReloadResult{Rules: len(rules)}
	for _, c := range rules {
		prev, ok := old[c.ID]
		if !ok {
			res.Added = append(res.Added, c.ID)
			continue
		}
		delete(old, c.ID)
		if sameSpec(prev.Rule, c.Rule) && sameLists(e.lists, rs.lists, c.Rule) {
			c.groups, c.suppressed, c.open, c.detOpen = prev.groups, prev.suppressed, prev.open, prev.detOpen
			continue
		}
		res.Changed = append(res.Changed, c.ID)
		e.carryOver(prev, c)
	}
	for _, c := range e.rules {
		if _, gone := old[c.ID]; gone {
			res.Removed = append(res.Removed, c.ID)
		}
	}
	e.rules, e.byType, e.lists = rules, byType, rs.lists
	return res, nil
}

// carryOver moves the suppressions and open alerts of a changed rule into its new definition;
// it runs under mu.
func (e *Engine) carryOver(prev, c *compiled) {
	prev.suppressed.each(func(k string, until time.Time) {
		if until.After(e.clock) {
			c.suppressed.put(k, until)
		}
	})
	if c.open != nil && prev.open != nil {
		prev.open.each(func(k string, o *openEntry) {
			c.open.put(k, &openEntry{at: o.at, notBefore: e.clock.Add(c.agg.Timespan)})
		})
	}
	if c.detOpen != nil && prev.detOpen != nil {
		prev.detOpen.each(func(k string, o *detRaise) { c.detOpen.put(k, o) })
	}
}

// sameSpec reports whether two loaded rules have the same definition (file and line aside)
// and the same expressions once macros are expanded.
func sameSpec(a, b *Rule) bool {
	return reflect.DeepEqual(a.spec, b.spec) && slices.Equal(a.expanded, b.expanded)
}

// sameLists reports whether every list r's expressions name has the same items in both sets.
func sameLists(before, after map[string][]string, r *Rule) bool {
	same := true
	for _, x := range r.expanded {
		scanIdents(x, func(tok string, ident bool) {
			if !ident || !same {
				return
			}
			b, inB := before[tok]
			a, inA := after[tok]
			if inA != inB || !slices.Equal(a, b) {
				same = false
			}
		})
	}
	return same
}
