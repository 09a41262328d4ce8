package scan

import "strings"

// ModelPolicy is the policy in force for one model: the tier default with the model's
// per-category overrides (config `scanning:`), category → action. An override applies to the
// category in both roles from a score of 0.5 unless the tier already set a threshold for that
// key; role-qualified keys ("output:pii") and detector names ("pii.email") may be given too.
// The gateway, the worker and incident snapshots all resolve a model's policy here, so they
// cannot disagree on what a model's configuration means.
func ModelPolicy(riskTier string, overrides map[string]string) Policy {
	p := DefaultPolicy(riskTier)
	for key, act := range overrides {
		r := Rule{Threshold: 0.5, Action: Action(act)}
		if old, ok := p.Rules[key]; ok {
			r.Threshold = old.Threshold
		}
		p.Rules[key] = r
		if strings.Contains(key, ":") {
			continue
		}
		for _, role := range []string{"input:", "output:"} {
			if old, ok := p.Rules[role+key]; ok {
				p.Rules[role+key] = Rule{Threshold: old.Threshold, Action: Action(act)}
			}
		}
	}
	return p
}
