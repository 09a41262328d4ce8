package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// TestTextNeverLeavesTheEvent: prompt and response text may be tested by conditions but can
// not be copied into alerts (summary, group and dedup keys, aggregate values), and what the
// stateful helpers remember of it — also in the snapshot on disk — is a hash.
func TestTextNeverLeavesTheEvent(t *testing.T) {
	tests := []struct{ name, rule, wantErr string }{
		{"summary", `summary: "said {request.input}"`, "{request.input} is not a scalar variable"},
		{"group_by", `aggregate: {kind: event_count, group_by: [response.output], timespan: 1m, threshold: "> 1"}`, `"response.output" is not a scalar variable`},
		{"dedup_by", `dedup_by: [request.input]`, `"request.input" is not a scalar variable`},
		{"field", `aggregate: {kind: value_count, field: request.input, timespan: 1m, threshold: "> 1"}`, `"request.input" is not a scalar variable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			body := "rules:\n  - id: t.text\n    severity: P3\n    select: {types: [inference]}\n    condition: request.input.contains('x')\n    " + tt.rule + "\n"
			if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			errs := Check(dir)
			joined := errors.Join(errs...)
			if joined == nil || !strings.Contains(joined.Error(), tt.wantErr) {
				t.Fatalf("errors %v, want one containing %q", joined, tt.wantErr)
			}
		})
	}

	const secret = "my ssn is 219-45-6780"
	rs := loadDir(t, false, map[string]string{"r.yaml": `
rules:
  - id: t.first
    severity: P3
    select: {types: [inference]}
    condition: first_seen(actor.id, request.input)
  - id: t.changed
    severity: P3
    select: {types: [inference]}
    condition: value_changed(actor.id, response.output)
`})
	e, err := New(rs, Options{LearningPeriod: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string, at time.Duration, in, out string) *event.Event {
		return &event.Event{ID: id, Type: event.TypeInference, Time: t0.Add(at), Model: event.Model{Name: "m"}, Actor: event.Actor{User: "alice"},
			Request: &event.Request{Input: in}, Response: &event.Response{Status: "ok", Output: out}}
	}
	e.Observe(ev("1", 0, "hello", secret))
	got := e.Observe(ev("2", time.Hour, secret, "bye"))
	fired := map[string]bool{}
	for _, a := range got {
		fired[a.RuleID] = true
		if strings.Contains(a.Summary, secret) {
			t.Errorf("alert summary quotes the text: %q", a.Summary)
		}
	}
	if !fired["t.first"] || !fired["t.changed"] {
		t.Fatalf("comparisons on hashed values broke: fired %v", fired)
	}
	if got := e.Observe(ev("3", 2*time.Hour, secret, "bye")); len(got) != 0 {
		t.Fatalf("a value seen before counted as new: %+v", got)
	}
	var snap strings.Builder
	if err := e.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(snap.String(), "219-45-6780") || strings.Contains(snap.String(), "hello") {
		t.Fatalf("the snapshot holds text: %s", snap.String())
	}
	// A snapshot from before hashing (raw values) is digested on restore: the same text is
	// still recognised as seen.
	old := strings.Replace(snap.String(), digestValue(secret), secret, 1)
	b, err := New(rs, Options{LearningPeriod: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(strings.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	for _, a := range b.Observe(ev("4", 3*time.Hour, secret, "bye")) {
		if a.RuleID == "t.first" {
			t.Fatal("a raw value restored from an old snapshot was not recognised")
		}
	}
}
