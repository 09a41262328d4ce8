package scan

import (
	"slices"
	"strings"
)

// Rule maps a finding to an action when its score reaches Threshold.
type Rule struct {
	Threshold float64 `json:"threshold" yaml:"threshold"`
	Action    Action  `json:"action" yaml:"action"`
	// Block, when above zero, raises the action to block from this score on.
	Block float64 `json:"block,omitempty" yaml:"block,omitempty"`
	// FPR is the validation false-positive rate Threshold was chosen for
	// (zero for hand-set thresholds); BlockFPR likewise for Block.
	FPR      float64 `json:"fpr,omitempty" yaml:"fpr,omitempty"`
	BlockFPR float64 `json:"block_fpr,omitempty" yaml:"block_fpr,omitempty"`
	// Quiet findings still get their action but should not page anyone
	// (harmful requests: a signal about a user, not a model failure).
	Quiet bool `json:"quiet,omitempty" yaml:"quiet,omitempty"`
}

// Calibrated reports whether the rule's threshold was chosen on validation
// data for a target false-positive rate.
func (r Rule) Calibrated() bool { return r.FPR > 0 }

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
	return PolicyFor(riskTier, DefaultCalibration())
}

// PolicyFor is DefaultPolicy with the calibrated thresholds of cal for the
// learned categories (prompt_injection, jailbreak, harmful_request,
// harmful): every tier flags from the calibrated flag threshold; critical
// and high block injections and jailbreaks from the calibrated block
// threshold. Harmful requests are flagged quietly (never paged).
func PolicyFor(riskTier string, cal *Calibration) Policy {
	p := basePolicy(riskTier)
	strict := riskTier == "critical" || riskTier == "high"
	if cal == nil {
		return p
	}
	for _, cat := range sortedCats(cal.Categories) {
		t := cal.Categories[cat]
		r := Rule{Threshold: t.Flag, Action: ActionFlag, FPR: t.FlagFPR, Quiet: cat == CatHarmfulRequest || strings.HasPrefix(cat, CatHarmfulRequest+".")}
		if strict && (cat == CatPromptInjection || cat == CatJailbreak) && t.Block > 0 {
			r.Block, r.BlockFPR = t.Block, t.BlockFPR
		}
		p.Rules[cat] = r
	}
	return p
}

func sortedCats(m map[string]CalibratedThreshold) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// basePolicy is the hand-set policy without calibration.
func basePolicy(riskTier string) Policy {
	strict := riskTier == "critical" || riskTier == "high"
	p := Policy{Rules: map[string]Rule{}, Default: Rule{Threshold: 0.5, Action: ActionFlag}, FailClosed: riskTier == "critical"}
	flag := func(k string, th float64) { p.Rules[k] = Rule{Threshold: th, Action: ActionFlag} }
	for _, c := range []string{CatPromptInjection, CatJailbreak, CatIndirectInjection, CatEncodedPayload, CatInvisibleText,
		CatExfiltration, CatHarmful, CatSystemPromptLeak, CatExternal} {
		flag(c, 0.5)
	}
	p.Rules[CatHarmfulRequest] = Rule{Threshold: 0.5, Action: ActionFlag, Quiet: true}
	flag(CatPII, 0.6)
	// A user giving a name, address, e-mail address or phone number is
	// ordinary (a booking, a support case, a pasted e-mail to summarise):
	// recorded and stored redacted, never flagged on inputs. Card, bank,
	// national-id numbers on inputs still flag. Outputs follow the pii rules.
	for _, d := range []string{"pii.person", "pii.address", "pii.email", "pii.phone"} {
		p.Rules["input:"+d] = Rule{Threshold: 1.1, Action: ActionAllow}
	}
	flag(CatSecret, 0.6)
	// Refusals are a metric, not a threat.
	p.Rules[CatRefusal] = Rule{Threshold: 1.1, Action: ActionAllow}
	if strict {
		p.Rules[CatPromptInjection] = Rule{Threshold: 0.8, Action: ActionBlock}
		p.Rules[CatJailbreak] = Rule{Threshold: 0.8, Action: ActionBlock}
		p.Rules[CatIndirectInjection] = Rule{Threshold: 0.85, Action: ActionBlock}
		p.Rules["invisible.tags"] = Rule{Threshold: 0.9, Action: ActionBlock}
		p.Rules["output:"+CatSecret] = Rule{Threshold: 0.6, Action: ActionRedact}
		p.Rules["output:"+CatPII] = Rule{Threshold: 0.6, Action: ActionRedact}
		p.Rules["output:"+CatExfiltration] = Rule{Threshold: 0.8, Action: ActionBlock}
		p.Rules["output:"+CatSystemPromptLeak] = Rule{Threshold: 0.8, Action: ActionBlock}
	}
	// Phrase-list findings are precise on their own: they keep fixed
	// thresholds whatever the calibration of the learned categories.
	for _, c := range HarmCategories {
		p.Rules["harmful.lexicon."+c] = Rule{Threshold: lexScore, Action: ActionFlag}
		p.Rules["harmful_request.lexicon."+c] = Rule{Threshold: lexScore, Action: ActionFlag, Quiet: true}
	}
	if strict {
		p.Rules["harmful.lexicon.sexual_minors"] = Rule{Threshold: lexScore, Action: ActionBlock}
		p.Rules["harmful.lexicon.self_harm"] = Rule{Threshold: lexScoreOutput, Action: ActionBlock}
	}
	if riskTier == "critical" {
		p.Rules[CatSecret] = Rule{Threshold: 0.6, Action: ActionRedact}
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
	if r.Block > 0 && f.Score >= r.Block {
		return ActionBlock
	}
	return r.Action
}

// Decision explains what one finding does under a policy, for alerting:
// the analyzer should count a finding only when it triggered an action
// (Action != allow) and should page only when Page is set.
type Decision struct {
	Action Action `json:"action"`
	// Rule is the rule that applied (its Threshold, FPR and Quiet).
	Rule Rule `json:"rule"`
	// Calibrated: the threshold passed was chosen for a target FPR.
	Calibrated bool `json:"calibrated"`
	// Page: the finding triggered an action under a rule that is not Quiet.
	Page bool `json:"page"`
}

// Explain returns the decision for f in role.
func (p Policy) Explain(role Role, f Finding) Decision {
	r := p.rule(role, f)
	a := p.Triggers(role, f)
	return Decision{Action: a, Rule: r, Calibrated: r.Calibrated(), Page: a != ActionAllow && !r.Quiet}
}

// Decide returns the strongest action any finding triggers.
func (p Policy) Decide(role Role, findings []Finding) Action {
	a := ActionAllow
	for _, f := range findings {
		a = a.Stronger(p.Triggers(role, f))
	}
	return a
}
