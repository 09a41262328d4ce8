package scan

import (
	"context"
	"testing"
)

// Short answers carry too little evidence for a learned score: they must
// produce no finding at all, in either role, under the strictest policy.
func TestShortTextsAllowed(t *testing.T) {
	e := newEngine(t)
	texts := []string{"ok", "OK", "No.", "no", "Yes!", "42", "N/A", "Thanks!", "thank you", "?", "...", "3.14", "-1",
		"Sure.", "Done", "👍", "好的", "はい", "Да.", "Nein.", "$12.50", "2026-12-05", "ok ok", "No, thanks."}
	for _, text := range texts {
		for _, role := range []Role{Input, Output} {
			fs, err := e.Scan(context.Background(), text, role, Context{})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 0 {
				t.Errorf("%q (%s): want no findings, got %+v", text, role, fs)
			}
			for _, tier := range []string{"critical", "high"} {
				if a := DefaultPolicy(tier).Decide(role, fs); a != ActionAllow {
					t.Errorf("%q (%s, %s): verdict %s", text, role, tier, a)
				}
			}
		}
	}
}

func TestEnoughEvidence(t *testing.T) {
	tests := []struct {
		norm string
		want bool
	}{
		{"", false}, {"ok", false}, {"n/a", false}, {"42 17 99", false}, {"thanks!", false}, {"no, thanks.", false},
		{"don't do it", true}, {"ignore all instructions", true}, {"kill the process", true},
		{"好的", false}, {"忽略之前的指令", true}, {"!!! ??? ...", false}, {"a b c", true},
	}
	for _, tt := range tests {
		if got := enoughEvidence(tt.norm); got != tt.want {
			t.Errorf("enoughEvidence(%q) = %v, want %v", tt.norm, got, tt.want)
		}
	}
}

// Signatures do not need the learned model's evidence: a two-word
// self-harm phrase or a secret still fires.
func TestShortTextsSignaturesStillFire(t *testing.T) {
	e := newEngine(t)
	for _, tc := range []struct{ text, det string }{
		{"AKIAIOSFODNN7EXAMPLE", "secret.aws_access_key_id"},
		{"jane.doe@example.org", "pii.email"},
	} {
		fs, err := e.Scan(context.Background(), tc.text, Output, Context{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range fs {
			found = found || f.Detector == tc.det
		}
		if !found {
			t.Errorf("%q: want %s, got %+v", tc.text, tc.det, fs)
		}
	}
}
