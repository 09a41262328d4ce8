package scan

import "strings"

// ModelPolicy is the policy in force for one model: the tier default with the model's
// per-category overrides (config `scanning:`), category → action. An override applies to the
// category in both roles from a score of 0.5 unless the tier already set a threshold for that
// key; role-qualified keys ("output:pii") and detector names ("pii.email") may be given too.
// Harmful-request rules stay quiet (never page) whatever the action, and a harmful_request
// category override also sets its detector-keyed rules (harmful_request.structure, the
// phrase lists) unless the configuration names those itself.
// The gateway, the worker and incident snapshots all resolve a model's policy here, so they
// cannot disagree on what a model's configuration means.
func ModelPolicy(riskTier string, overrides map[string]string) Policy {
	p := DefaultPolicy(riskTier)
	for key, act := range overrides {
		// Harmful requests stay quiet whatever their action: a user's
		// request is a signal for review, not a model failure to page on.
		bare := key[strings.IndexByte(key, ':')+1:]
		r := Rule{Threshold: 0.5, Action: Action(act), Quiet: bare == CatHarmfulRequest || strings.HasPrefix(bare, CatHarmfulRequest+".")}
		if old, ok := p.Rules[key]; ok {
			r.Threshold, r.FPR, r.Quiet = old.Threshold, old.FPR, old.Quiet || r.Quiet
		}
		p.Rules[key] = r
		if bare == CatHarmfulRequest {
			// The category's detector-keyed rules (its second stage, its
			// phrase lists) follow the category's action.
			role := key[:strings.IndexByte(key, ':')+1] // "" or "input:"
			var dets []string
			for k := range p.Rules {
				if strings.HasPrefix(k, CatHarmfulRequest+".") {
					dets = append(dets, k)
				}
			}
			for _, k := range dets {
				if !hasKey(overrides, role+k) && !hasKey(overrides, k) {
					old := p.Rules[k]
					p.Rules[role+k] = Rule{Threshold: old.Threshold, Action: Action(act), FPR: old.FPR, Quiet: true}
				}
			}
		}
		if strings.Contains(key, ":") {
			continue
		}
		for _, role := range []string{"input:", "output:"} {
			if old, ok := p.Rules[role+key]; ok {
				p.Rules[role+key] = Rule{Threshold: old.Threshold, Action: Action(act), FPR: old.FPR, Quiet: old.Quiet || r.Quiet}
			}
		}
	}
	return p
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
