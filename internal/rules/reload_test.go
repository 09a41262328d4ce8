package rules

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

const reloadSafetyYAML = `
rules:
  - id: t.safety
    severity: P1
    select: {types: [inference]}
    condition: size(safety.triggers) > 0
    aggregate: {kind: event_count, group_by: [event.model], timespan: 1m, threshold: "> %d"}
    suppress: 10m
`

// TestReloadKeepsStateOfUnchangedRules: a reload that leaves a rule as it was keeps its window
// and its open alert (which still auto-resolves); a changed rule keeps its open alert but
// counts afresh; an added rule fires; a removed rule stops.
func TestReloadKeepsStateOfUnchangedRules(t *testing.T) {
	extra := `
  - id: t.err
    severity: P2
    select: {types: [inference]}
    condition: response.status == 'error'
`
	h := newResolveHarness(t, loadDir(t, false, map[string]string{"r.yaml": fmt.Sprintf(reloadSafetyYAML, 3) + extra}))
	for i := range 3 {
		h.inference(time.Duration(i)*time.Second, "a", "ok", 1)
	}
	if got := h.firedKeys("t.safety"); len(got) != 0 {
		t.Fatalf("fired before the threshold: %v", got)
	}

	// Unchanged t.safety, t.err removed, t.new added: the window of t.safety keeps its 3 matches.
	added := `
  - id: t.new
    severity: P3
    select: {types: [inference]}
    condition: response.status == 'blocked'
`
	res, err := h.e.Reload(loadDir(t, false, map[string]string{"r.yaml": fmt.Sprintf(reloadSafetyYAML, 3) + added}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Added, []string{"t.new"}) || !slices.Equal(res.Removed, []string{"t.err"}) || len(res.Changed) != 0 || res.Rules != 2 {
		t.Fatalf("reload result = %+v", res)
	}
	h.inference(4*time.Second, "a", "ok", 1)
	if got := h.firedKeys("t.safety"); !slices.Equal(got, []string{"t.safety|a"}) {
		t.Fatalf("the 4th match after a reload should fire with the 3 counted before it; fired %v", got)
	}
	h.inference(5*time.Second, "a", "error", 0)
	if got := h.firedKeys("t.err"); len(got) != 0 {
		t.Fatalf("a removed rule fired: %v", got)
	}
	h.inference(6*time.Second, "a", "blocked", 0)
	if got := h.firedKeys("t.new"); len(got) != 1 {
		t.Fatalf("an added rule did not fire: %v", got)
	}

	// Changed threshold: the open alert survives and resolves once the new window shows the
	// condition clear (not before a whole timespan has passed).
	if _, err := h.e.Reload(loadDir(t, false, map[string]string{"r.yaml": fmt.Sprintf(reloadSafetyYAML, 5)})); err != nil {
		t.Fatal(err)
	}
	h.ticks(10*time.Second, 3*time.Minute)
	if got := h.clearedKeys("t.safety"); !slices.Equal(got, []string{"t.safety|a"}) {
		t.Fatalf("the open alert of a changed rule should still resolve; cleared %v", got)
	}
	if got := h.clears[0].At.Sub(t0); got < 70*time.Second {
		t.Fatalf("cleared at %s, before a whole new window was seen", got)
	}
}
