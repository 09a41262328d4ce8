// Package alert holds the alert record shared by the rules engine (which raises alerts), the
// notifiers (which deliver them) and alert/lifecycle (dedup, grouping, escalation).
package alert

import "time"

// Severity is P1 (most urgent) to P4.
type Severity string

// Severities, most urgent first.
const (
	P1 Severity = "P1"
	P2 Severity = "P2"
	P3 Severity = "P3"
	P4 Severity = "P4"
)

// Rank orders severities: P1 → 1 … P4 → 4; unknown → 5.
func (s Severity) Rank() int {
	switch s {
	case P1:
		return 1
	case P2:
		return 2
	case P3:
		return 3
	case P4:
		return 4
	}
	return 5
}

// Valid reports whether s is one of P1..P4.
func (s Severity) Valid() bool { return s.Rank() <= 4 }

// State is an alert's place in its lifecycle.
type State string

// Lifecycle states.
const (
	Firing       State = "firing"
	Acknowledged State = "acknowledged"
	Resolved     State = "resolved"
)

// Alert is one detection raised by a rule, with the evidence that triggered it.
type Alert struct {
	ID          string             `json:"id"`
	RuleID      string             `json:"rule_id"`
	RuleName    string             `json:"rule_name"`
	RuleVersion string             `json:"rule_version,omitempty"`
	Severity    Severity           `json:"severity"`
	State       State              `json:"state"`
	Summary     string             `json:"summary"`
	Description string             `json:"description,omitempty"`
	Model       string             `json:"model,omitempty"`
	Environment string             `json:"environment,omitempty"`
	Actor       string             `json:"actor,omitempty"`
	DedupKey    string             `json:"dedup_key"`
	GroupKey    string             `json:"group_key,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Tags        []string           `json:"tags,omitempty"`
	Runbook     string             `json:"runbook,omitempty"`
	EventIDs    []string           `json:"event_ids,omitempty"`
	Values      map[string]float64 `json:"values,omitempty"`
	Actions     []string           `json:"actions,omitempty"`
	FirstEvent  time.Time          `json:"first_event_time,omitempty"`
	StartsAt    time.Time          `json:"starts_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	AckedAt     *time.Time         `json:"acked_at,omitempty"`
	AckedBy     string             `json:"acked_by,omitempty"`
	ResolvedAt  *time.Time         `json:"resolved_at,omitempty"`
	ResolvedBy  string             `json:"resolved_by,omitempty"`
	// ResolveReason is the analyst's verdict when resolving: false_positive, benign or
	// true_positive (empty when not given, or when the condition cleared by itself).
	ResolveReason string `json:"resolve_reason,omitempty"`
	Count         int    `json:"count"`
	ConsoleURL    string `json:"console_url,omitempty"`
}

// Resolve reasons: the analyst's verdict on an alert, the feedback that tunes rules.
const (
	FalsePositive = "false_positive" // the rule was wrong: nothing of the kind happened
	Benign        = "benign"         // it happened, and it was expected or harmless
	TruePositive  = "true_positive"  // it happened and mattered
)

// ResolveReasons lists the valid resolve reasons.
var ResolveReasons = []string{FalsePositive, Benign, TruePositive}

// ValidReason reports whether r is empty or one of ResolveReasons.
func ValidReason(r string) bool {
	return r == "" || r == FalsePositive || r == Benign || r == TruePositive
}
