package worker

import (
	"fmt"
	"testing"

	"github.com/warden-ai/warden/internal/scan"
)

// The worker builds a model's scan policy once per configuration, and again when the tier or
// the overrides change (a config reload).
func TestPolicyCachedPerConfiguration(t *testing.T) {
	w := &Worker{}
	f := scan.Finding{Detector: "pii.email", Category: scan.CatPII, Score: 0.9}
	if got, want := fmt.Sprint(w.policy("m", "medium", nil)), fmt.Sprint(scan.ModelPolicy("medium", nil)); got != want {
		t.Fatalf("cached policy differs from ModelPolicy")
	}
	if a := w.policy("m", "medium", nil).Triggers(scan.Output, f); a != scan.ActionFlag {
		t.Fatalf("medium tier: %s, want flag", a)
	}
	if a := w.policy("m", "high", nil).Triggers(scan.Output, f); a != scan.ActionRedact {
		t.Fatalf("after the tier changed to high: %s, want redact", a)
	}
	if a := w.policy("m", "high", map[string]string{"pii": "allow"}).Triggers(scan.Output, f); a != scan.ActionAllow {
		t.Fatalf("after an override pii: allow: %s, want allow", a)
	}
	if len(w.policies) != 1 {
		t.Fatalf("%d cached policies for one model, want 1", len(w.policies))
	}
}
