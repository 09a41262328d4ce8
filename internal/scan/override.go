package scan

import "strings"

// ModelPolicy is the policy in force for one model: the tier default with the model's
// per-category overrides (config `scanning:`), category → action. An override applies to the
// category in both roles from a score of 0.5 unless the tier already set a threshold for that
// key; role-qualified keys ("output:pii") and detector names ("pii.email") may be given too.
// A category override also sets the action of the category's detector-keyed rules (second
// stages such as injection.structure, phrase lists, rule detectors such as
// indirect.response_order), keeping their thresholds, unless the configuration names those
// itself: `prompt_injection: allow` silences every prompt-injection detector.
// Harmful-request rules stay quiet (never page) whatever the action.
// The gateway, the worker and incident snapshots all resolve a model's policy here, so they
// cannot disagree on what a model's configuration means.
func ModelPolicy(riskTier string, overrides map[string]string) Policy {
	base := DefaultPolicy(riskTier)
	p := DefaultPolicy(riskTier)
	for key, act := range overrides {
		// Harmful requests stay quiet whatever their action: a user's
		// request is a signal for review, not a model failure to page on.
		role, bare := splitRoleKey(key)
		r := Rule{Threshold: 0.5, Action: Action(act), Quiet: bare == CatHarmfulRequest || strings.HasPrefix(bare, CatHarmfulRequest+".")}
		if old, ok := base.Rules[key]; ok {
			r.Threshold, r.FPR, r.Quiet = old.Threshold, old.FPR, old.Quiet || r.Quiet
		}
		p.Rules[key] = r
		if !strings.Contains(bare, ".") {
			followCategory(p, base, role, bare, Action(act), overrides)
		}
		if role != "" {
			continue
		}
		for _, role := range []string{"input:", "output:"} {
			if old, ok := base.Rules[role+key]; ok && !hasKey(overrides, role+key) {
				p.Rules[role+key] = Rule{Threshold: old.Threshold, Action: Action(act), FPR: old.FPR, Quiet: old.Quiet || r.Quiet}
			}
		}
	}
	return p
}

// followCategory gives the detector-keyed rules of category cat in base the
// action act in p, keeping their thresholds, except where the overrides name
// the rule (with or without a role). role ("", "input:" or "output:") limits
// it to one role.
func followCategory(p, base Policy, role, cat string, act Action, overrides map[string]string) {
	for k, old := range base.Rules {
		kr, det := splitRoleKey(k)
		if !strings.Contains(det, ".") || detectorCategory(det) != cat || (role != "" && kr != "" && kr != role) {
			continue
		}
		target := k
		if kr == "" {
			target = role + det
		}
		if hasKey(overrides, target) || hasKey(overrides, det) || hasKey(overrides, kr+det) {
			continue
		}
		p.Rules[target] = Rule{Threshold: old.Threshold, Action: act, FPR: old.FPR, Quiet: old.Quiet}
	}
}

// detectorFamilies maps a detector's family (its name up to the first dot)
// to the category its findings carry.
var detectorFamilies = map[string]string{
	"injection": CatPromptInjection, "jailbreak": CatJailbreak, "indirect": CatIndirectInjection,
	"invisible": CatInvisibleText, "encoded": CatEncodedPayload, "exfil": CatExfiltration, "leak": CatSystemPromptLeak,
	"harmful": CatHarmful, "harmful_request": CatHarmfulRequest, "pii": CatPII, "secret": CatSecret,
}

// detectorCategory is the category of detector det's findings ("" if unknown).
func detectorCategory(det string) string {
	fam, _, _ := strings.Cut(det, ".")
	return detectorFamilies[fam]
}

// splitRoleKey splits a policy key into its role prefix ("input:",
// "output:" or "") and the rest.
func splitRoleKey(k string) (role, rest string) {
	if i := strings.IndexByte(k, ':'); i >= 0 {
		return k[:i+1], k[i+1:]
	}
	return "", k
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
