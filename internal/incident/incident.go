package incident

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// Type classifies an incident.
type Type string

// Incident types.
const (
	Safety      Type = "safety"
	Performance Type = "performance"
	Security    Type = "security"
	Compliance  Type = "compliance"
	Bias        Type = "bias"
)

// Types lists the valid types.
var Types = []Type{Safety, Performance, Security, Compliance, Bias}

// Phase is where the response stands.
type Phase string

// Phases, in order.
const (
	Detection     Phase = "detection"
	Containment   Phase = "containment"
	Investigation Phase = "investigation"
	Resolution    Phase = "resolution"
	PostIncident  Phase = "post-incident"
)

// Phases lists the phases in order.
var Phases = []Phase{Detection, Containment, Investigation, Resolution, PostIncident}

// Entry is one timeline item.
type Entry struct {
	Time    time.Time      `json:"time"`
	Kind    string         `json:"kind"` // opened, alert, action, note, phase, owner, serious, reported, reminder
	Actor   string         `json:"actor,omitempty"`
	Text    string         `json:"text"`
	AlertID string         `json:"alert_id,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
}

// Incident is one tracked incident.
type Incident struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Type     Type           `json:"type"`
	Phase    Phase          `json:"phase"`
	Severity alert.Severity `json:"severity"`
	Owner    string         `json:"owner,omitempty"`
	Model    string         `json:"model,omitempty"`
	Actors   []string       `json:"actors,omitempty"`
	OpenedAt time.Time      `json:"opened_at"`
	OpenedBy string         `json:"opened_by"`
	// FirstEvidenceAt is the time of the earliest triggering event; DetectedAt the first
	// alert's start. MTTD = DetectedAt − FirstEvidenceAt.
	FirstEvidenceAt time.Time `json:"first_evidence_at,omitzero"`
	DetectedAt      time.Time `json:"detected_at,omitzero"`
	// AlertsResolvedAt is when the last linked alert resolved; ResolvedAt when the incident
	// entered post-incident (its harm is resolved). MTTR = ResolvedAt − DetectedAt.
	AlertsResolvedAt *time.Time      `json:"alerts_resolved_at,omitempty"`
	ResolvedAt       *time.Time      `json:"resolved_at,omitempty"`
	AlertIDs         []string        `json:"alert_ids,omitempty"`
	GroupKeys        []string        `json:"group_keys,omitempty"`
	Tags             []string        `json:"tags,omitempty"`
	EventIDs         []string        `json:"event_ids,omitempty"`
	Timeline         []Entry         `json:"timeline"`
	Snapshot         json.RawMessage `json:"snapshot,omitempty"`
	Serious          *Serious        `json:"serious,omitempty"`
	CaseFileAt       *time.Time      `json:"case_file_at,omitempty"`
}

// MTTD is the time from the first evidence event to the alert, or 0 when unknown.
func (i *Incident) MTTD() time.Duration {
	if i.FirstEvidenceAt.IsZero() || i.DetectedAt.IsZero() || i.DetectedAt.Before(i.FirstEvidenceAt) {
		return 0
	}
	return i.DetectedAt.Sub(i.FirstEvidenceAt)
}

// MTTR is the time from the alert to resolution, or 0 while unresolved.
func (i *Incident) MTTR() time.Duration {
	if i.ResolvedAt == nil || i.DetectedAt.IsZero() {
		return 0
	}
	return i.ResolvedAt.Sub(i.DetectedAt)
}

// Open reports whether the incident has not reached post-incident.
func (i *Incident) Open() bool { return i.Phase != PostIncident }

// DeriveType classifies an alert from its "category" label or its tags (OWASP LLM and ATLAS
// tags are security); the default is security.
func DeriveType(a *alert.Alert) Type {
	if c := Type(strings.ToLower(a.Labels["category"])); slices.Contains(Types, c) {
		return c
	}
	keys := []struct {
		t     Type
		words []string
	}{
		{Bias, []string{"bias", "fairness", "disparate", "parity"}},
		{Safety, []string{"safety", "harm", "pii", "toxic", "self-harm", "violence", "hate", "refusal"}},
		{Compliance, []string{"compliance", "policy", "retention", "audit", "gdpr", "consent"}},
		{Performance, []string{"performance", "latency", "drift", "error-rate", "errors", "availability", "uptime", "accuracy", "cost", "down"}},
		{Security, []string{"security", "owasp-llm", "atlas", "injection", "jailbreak", "exfil", "extraction", "access"}},
	}
	for _, k := range keys {
		for _, tag := range a.Tags {
			tag = strings.ToLower(tag)
			if v, ok := strings.CutPrefix(tag, "category:"); ok && slices.Contains(Types, Type(v)) {
				return Type(v)
			}
			for _, w := range k.words {
				if strings.Contains(tag, w) {
					return k.t
				}
			}
		}
	}
	return Security
}
