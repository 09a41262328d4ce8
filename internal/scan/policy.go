package scan

import "strings"

// Rule maps a finding to an action when its score reaches Threshold.
type Rule struct {
	Threshold float64 `json:"threshold" yaml:"threshold"`
	Action    Action  `json:"action" yaml:"action"`
}

// Policy turns findings into an action. Rules are keyed by detector name
// ("pii.email"), by category ("pii"), or by either with a role prefix
// ("output:pii"); the most specific key wins: role+detector, detector,
// role+category, category, then Default.
type Policy struct {
	Rules map[string]Rule `json:"rules" yaml:"rules"`
	// Default applies to findings no rule matches; a zero Default allows.
	Default Rule `json:"default" yaml:"default"`
	// FailClosed asks callers to block when scanning itself fails.
	FailClosed bool `json:"fail_closed" yaml:"fail_closed"`
}

// DefaultPolicy returns the built-in policy for a model risk tier.
// critical and high block high-confidence injections and jailbreaks and
// redact secrets and PII in outputs; medium, low (and unknown tiers) flag.
func DefaultPolicy(riskTier string) Policy {
	strict := riskTier == "critical" || riskTier == "high"
	p := Policy{Rules: map[string]Rule{}, Default: Rule{Threshold: 0.5, Action: ActionFlag}, FailClosed: riskTier == "critical"}
	flag := func(k string, th float64) { p.Rules[k] = Rule{th, ActionFlag} }
	for _, c := range []string{CatPromptInjection, CatJailbreak, CatIndirectInjection, CatEncodedPayload, CatInvisibleText,
		CatExfiltration, CatHarmful, CatSystemPromptLeak, CatExternal} {
		flag(c, 0.5)
	}
	flag(CatPII, 0.6)
	flag(CatSecret, 0.6)
	// Refusals are a metric, not a threat.
	p.Rules[CatRefusal] = Rule{Threshold: 1.1, Action: ActionAllow}
	if strict {
		p.Rules[CatPromptInjection] = Rule{0.8, ActionBlock}
		p.Rules[CatJailbreak] = Rule{0.8, ActionBlock}
		p.Rules[CatIndirectInjection] = Rule{0.85, ActionBlock}
		p.Rules["invisible.tags"] = Rule{0.9, ActionBlock}
		p.Rules["output:"+CatSecret] = Rule{0.6, ActionRedact}
		p.Rules["output:"+CatPII] = Rule{0.6, ActionRedact}
		p.Rules["output:"+CatExfiltration] = Rule{0.8, ActionBlock}
		p.Rules["output:"+CatSystemPromptLeak] = Rule{0.8, ActionBlock}
		p.Rules["harmful.sexual_minors"] = Rule{0.7, ActionBlock}
	}
	if riskTier == "critical" {
		p.Rules[CatSecret] = Rule{0.6, ActionRedact}
	}
	return p
}

// rule returns the rule that applies to f in role.
func (p Policy) rule(role Role, f Finding) Rule {
	rp := string(role) + ":"
	for _, k := range []string{rp + f.Detector, f.Detector, rp + f.Category, f.Category} {
		if r, ok := p.Rules[k]; ok {
			return r
		}
	}
	// A detector family such as "harmful.hate" may be keyed by its prefix.
	if i := strings.IndexByte(f.Detector, '.'); i > 0 {
		if r, ok := p.Rules[rp+f.Detector[:i]]; ok {
			return r
		}
		if r, ok := p.Rules[f.Detector[:i]]; ok {
			return r
		}
	}
	return p.Default
}

// Triggers reports the action f triggers under p (ActionAllow when below threshold).
func (p Policy) Triggers(role Role, f Finding) Action {
	r := p.rule(role, f)
	if r.Action == "" || f.Score < r.Threshold {
		return ActionAllow
	}
	return r.Action
}

// Decide returns the strongest action any finding triggers.
func (p Policy) Decide(role Role, findings []Finding) Action {
	a := ActionAllow
	for _, f := range findings {
		a = a.Stronger(p.Triggers(role, f))
	}
	return a
}
