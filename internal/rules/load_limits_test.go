package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadRefusesOverCostExpressions: an expression whose cheapest evaluation is over the CEL
// cost limit is refused at load with file:line (it could never match); one that may be
// expensive only in its worst case loads (it runs with runtime cost tracking).
func TestLoadRefusesOverCostExpressions(t *testing.T) {
	var list strings.Builder
	list.WriteString("[")
	for i := range 200 {
		if i > 0 {
			list.WriteString(",")
		}
		list.WriteString("1")
	}
	list.WriteString("]")
	l := list.String()
	dir := t.TempDir()
	body := "rules:\n  - id: heavy\n    severity: P3\n    select: {types: [inference]}\n    condition: \"" +
		"size(" + l + ".map(x, " + l + ".map(y, " + l + ".map(z, x + y + z)))) > 0\"\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := errors.Join(Check(dir)...)
	if msg == nil || !strings.Contains(msg.Error(), "r.yaml:2:") || !strings.Contains(msg.Error(), "over the limit") {
		t.Fatalf("over-cost rule: %v", msg)
	}
	ok := "rules:\n  - id: fine\n    severity: P3\n    select: {types: [inference]}\n    condition: safety.triggers.exists(t, t.score > 0.5)\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	if errs := Check(dir); len(errs) > 0 {
		t.Fatalf("ordinary rule refused: %v", errs)
	}
}

// TestLoadRefusesWindowsLongerThanRetention: a counting window longer than the retention is
// refused with file:line; LoadWith applies the server's shorter retention.
func TestLoadRefusesWindowsLongerThanRetention(t *testing.T) {
	dir := t.TempDir()
	body := "rules:\n  - id: long\n    severity: P3\n    select: {types: [access]}\n    condition: \"true\"\n" +
		"    aggregate: {kind: event_count, group_by: [actor.id], timespan: 1000h, threshold: \"> 100\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := errors.Join(Check(dir)...)
	if msg == nil || !strings.Contains(msg.Error(), "r.yaml:2:") || !strings.Contains(msg.Error(), "longer than the retention") {
		t.Fatalf("long window: %v", msg)
	}
	body = strings.Replace(body, "1000h", "48h", 1)
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(true, dir); err != nil {
		t.Fatalf("48h window refused by default: %v", err)
	}
	if _, err := LoadWith(LoadOptions{MaxWindow: 24 * time.Hour}, true, dir); err == nil || !strings.Contains(err.Error(), "retention of 24h0m0s") {
		t.Fatalf("48h window with a 24h retention: %v", err)
	}
}
