package rules

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinPackLoads(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatalf("Load(builtin): %v", err)
	}
	if len(rs.Rules) < 20 {
		t.Fatalf("built-in pack has %d rules, want ≥ 20", len(rs.Rules))
	}
	for _, r := range rs.Rules {
		var atlas, owasp bool
		for _, tag := range r.Tags {
			atlas = atlas || strings.HasPrefix(tag, "atlas:AML.T")
			owasp = owasp || strings.HasPrefix(tag, "owasp-llm:LLM")
		}
		if !atlas || !owasp {
			t.Errorf("%s: tags %v lack an ATLAS and an OWASP LLM id", r.ID, r.Tags)
		}
		if r.Runbook == "" || r.Description == "" {
			t.Errorf("%s: runbook and description are required in the built-in pack", r.ID)
		}
	}
	if _, err := New(rs, Options{}); err != nil {
		t.Fatalf("New: %v", err)
	}
}

// TestScenarios replays, for every built-in rule, testdata/scenarios/<rule id>/fire.jsonl (the
// rule must fire) and miss.jsonl (a near miss: the rule must not fire), through the whole pack.
// A built-in rule without both files fails the test. An optional resolve.jsonl must make the
// rule fire and then auto-resolve. In every file, each resolution must follow a firing with the
// same dedup key, once per firing, and only resolving rules may resolve.
func TestScenarios(t *testing.T) {
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := os.ReadDir("testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, d := range dirs {
		have[d.Name()] = true
	}
	for _, r := range rs.Rules {
		if !have[r.ID] {
			t.Errorf("rule %s has no scenario directory testdata/scenarios/%s", r.ID, r.ID)
		}
	}
	for _, d := range dirs {
		id := d.Name()
		if !slices.ContainsFunc(rs.Rules, func(r *Rule) bool { return r.ID == id }) {
			t.Errorf("scenario %s names no built-in rule", id)
			continue
		}
		cases := []struct {
			file          string
			fire, resolve bool
		}{{"fire.jsonl", true, false}, {"miss.jsonl", false, false}}
		if _, err := os.Stat(filepath.Join("testdata/scenarios", id, "resolve.jsonl")); err == nil {
			cases = append(cases, struct {
				file          string
				fire, resolve bool
			}{"resolve.jsonl", true, true})
		}
		for _, tc := range cases {
			t.Run(id+"/"+tc.file, func(t *testing.T) {
				f, err := os.Open(filepath.Join("testdata/scenarios", id, tc.file))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				res, err := ReplayAll(context.Background(), rs, Options{}, f)
				if err != nil {
					t.Fatalf("replay: %v", err)
				}
				fired := res.Firings
				checkResolutions(t, rs, res)
				if tc.resolve && !slices.ContainsFunc(res.Cleared, func(c Cleared) bool { return c.RuleID == id }) {
					t.Errorf("%s did not resolve", id)
				}
				var got []Firing
				for _, f := range fired {
					if f.Alert.RuleID == id {
						got = append(got, f)
					}
				}
				if tc.fire && len(got) == 0 {
					t.Fatalf("%s did not fire; alerts: %v", id, ruleIDs(fired))
				}
				if !tc.fire && len(got) > 0 {
					t.Fatalf("%s fired on the near miss at line %d: %s", id, got[0].Line, got[0].Alert.Summary)
				}
				for _, f := range got {
					a := f.Alert
					if a.RuleVersion == "" || len(a.Tags) == 0 || a.DedupKey == "" || a.ID == "" || !a.Severity.Valid() || a.Summary == "" {
						t.Errorf("alert lacks evidence fields: %+v", a)
					}
					if strings.Contains(a.Summary, "{") {
						t.Errorf("summary has an unrendered placeholder: %q", a.Summary)
					}
				}
			})
		}
	}
}

// checkResolutions asserts that every resolution in res follows a firing with its dedup key (at
// most one resolution per firing) and comes from a rule that resolves.
func checkResolutions(t *testing.T, rs *RuleSet, res Replayed) {
	t.Helper()
	open := map[string]int{}
	fi := 0
	for _, c := range res.Cleared {
		for ; fi < len(res.Firings) && res.Firings[fi].Line <= c.Line; fi++ {
			open[res.Firings[fi].Alert.DedupKey]++
		}
		if open[c.DedupKey] == 0 {
			t.Errorf("line %d: %s resolved with no firing before it", c.Line, c.DedupKey)
		}
		open[c.DedupKey] = 0
		if i := slices.IndexFunc(rs.Rules, func(r *Rule) bool { return r.ID == c.RuleID }); i < 0 || !rs.Rules[i].Resolves() {
			t.Errorf("line %d: rule %s resolved but does not resolve", c.Line, c.RuleID)
		}
		if !strings.HasPrefix(c.DedupKey, c.RuleID+"|") {
			t.Errorf("line %d: dedup key %s is not rule %s's", c.Line, c.DedupKey, c.RuleID)
		}
	}
}

func ruleIDs(fs []Firing) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Alert.RuleID)
	}
	return out
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", `rules:
  - id: good
    severity: P3
    select: {types: [inference]}
    condition: event.model == 'x'
    tags: [atlas:AML.T0051, owasp-llm:LLM01:2025]
  - id: bad-cel
    severity: P2
    select: {types: [inference]}
    condition: event.modle == 'x'
  - id: bad-sev
    severity: P9
    select: {types: [inference]}
    condition: "true"
  - id: bad-agg
    severity: P2
    select: {types: [access]}
    condition: "true"
    aggregate: {kind: event_count, timespan: 1m, threshold: "about 5"}
  - id: unknown-key
    severity: P2
    colour: red
    select: {types: [access]}
    condition: "true"
  - id: not-bool
    severity: P2
    select: {types: [access]}
    condition: event.model
`)
	errs := Check(dir)
	want := []string{
		"a.yaml:7: rule \"bad-cel\": condition:",
		"a.yaml:11: rule \"bad-sev\": severity \"P9\"",
		"a.yaml:15: rule \"bad-agg\": aggregate.threshold",
		"a.yaml:22: unknown field \"colour\"",
		"a.yaml:25: rule \"not-bool\": condition: must evaluate to bool",
	}
	joined := errors.Join(errs...).Error()
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("errors lack %q:\n%s", w, joined)
		}
	}
	for _, err := range errs {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%v does not wrap ErrInvalid", err)
		}
	}
}

func TestDocsListEveryBuiltinRule(t *testing.T) {
	doc, err := os.ReadFile("../../docs/RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Load(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Rules {
		if !strings.Contains(string(doc), "| `"+r.ID+"` | "+string(r.Severity)) {
			t.Errorf("docs/RULES.md lacks a pack table row for %s (%s)", r.ID, r.Severity)
		}
	}
	for _, v := range Variables() {
		if !strings.Contains(string(doc), "`"+v[0]+"`") {
			t.Errorf("docs/RULES.md does not document variable %s", v[0])
		}
	}
}
