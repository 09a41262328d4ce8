// Package event defines Warden's event schema v1 (docs/ARCHITECTURE.md §5): the Go types, decoding of
// single events, JSON arrays and NDJSON, validation whose errors name the field and the index
// inside a batch, and normalization (defaults, content hashes, the audit leaf without raw text).
package event

import (
	"time"
)

// Type is the kind of event.
type Type string

// Event types.
const (
	TypeInference Type = "inference"
	TypeAccess    Type = "access"
	TypePipeline  Type = "pipeline"
	TypeFeedback  Type = "feedback"
	TypeProbe     Type = "probe"
)

// Event is one observed interaction or change. Fields that belong to one type only are ignored
// (and rejected by Validate) on the others.
type Event struct {
	ID          string         `json:"id,omitempty"`
	Type        Type           `json:"type"`
	Time        time.Time      `json:"time"`
	Environment string         `json:"environment,omitempty"`
	Model       Model          `json:"model,omitzero"`
	Actor       Actor          `json:"actor,omitzero"`
	Source      Source         `json:"source,omitzero"`
	Attributes  map[string]any `json:"attributes,omitempty"`

	// inference
	Request  *Request  `json:"request,omitempty"`
	Response *Response `json:"response,omitempty"`
	CostUSD  *float64  `json:"cost_usd,omitempty"`
	Safety   *Safety   `json:"safety,omitempty"`
	Override *Override `json:"override,omitempty"`

	// access (Action is shared with pipeline)
	Action     string `json:"action,omitempty"`
	Resource   string `json:"resource,omitempty"`
	Decision   string `json:"decision,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Privilege  string `json:"privilege,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
	Records    int64  `json:"records,omitempty"`
	Format     string `json:"format,omitempty"`

	// pipeline
	Stage      string         `json:"stage,omitempty"`
	Artifact   *Artifact      `json:"artifact,omitempty"`
	ApprovedBy string         `json:"approved_by,omitempty"`
	ChangeID   string         `json:"change_id,omitempty"`
	Details    map[string]any `json:"details,omitempty"`

	// feedback
	RequestID string `json:"request_id,omitempty"`
	Rating    *int   `json:"rating,omitempty"`
	Label     any    `json:"label,omitempty"`
	Comment   string `json:"comment,omitempty"`

	// probe
	Probe    *Probe `json:"probe,omitempty"`
	Passed   *bool  `json:"passed,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// Model names the model an event concerns.
type Model struct {
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Upstream is the model name the gateway sent upstream, when it differs from Name.
	Upstream string `json:"upstream,omitempty"`
}

// Actor is who acted: an end user, a session, a key, a service account.
type Actor struct {
	User           string   `json:"user,omitempty"`
	Session        string   `json:"session,omitempty"`
	APIKeyID       string   `json:"api_key_id,omitempty"`
	ServiceAccount string   `json:"service_account,omitempty"`
	Consumer       string   `json:"consumer,omitempty"`
	Groups         []string `json:"groups,omitempty"`
	Roles          []string `json:"roles,omitempty"`
}

// Source is where the interaction came from and went to.
type Source struct {
	IP          string `json:"ip,omitempty"`
	Geo         string `json:"geo,omitempty"`
	Client      string `json:"client,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Destination string `json:"destination,omitempty"`
}

// Request is the model input of an inference event.
type Request struct {
	ID          string         `json:"id,omitempty"`
	Input       string         `json:"input,omitempty"`
	InputSHA256 string         `json:"input_sha256,omitempty"`
	InputTokens *int64         `json:"input_tokens,omitempty"`
	InputClass  string         `json:"input_class,omitempty"`
	Features    map[string]any `json:"features,omitempty"`
	// InputChars is the length of Input in bytes, kept after the text itself is dropped.
	InputChars int `json:"input_chars,omitempty"`
}

// Response is the model output of an inference event.
type Response struct {
	Output       string   `json:"output,omitempty"`
	OutputSHA256 string   `json:"output_sha256,omitempty"`
	OutputTokens *int64   `json:"output_tokens,omitempty"`
	Status       string   `json:"status,omitempty"`
	ErrorCode    string   `json:"error_code,omitempty"`
	LatencyMS    *float64 `json:"latency_ms,omitempty"`
	TTFTMS       *float64 `json:"ttft_ms,omitempty"`
	Prediction   any      `json:"prediction,omitempty"`
	Confidence   *float64 `json:"confidence,omitempty"`
	// FinishReason is the provider's finish reason, or why a stream ended (stop, length,
	// client_cancel, timeout, upstream_error, blocked).
	FinishReason string `json:"finish_reason,omitempty"`
	// TokensEstimated is true when token counts were estimated rather than reported by the provider.
	TokensEstimated bool `json:"tokens_estimated,omitempty"`
	// OutputChars is the length of Output in bytes, kept after the text itself is dropped.
	OutputChars int `json:"output_chars,omitempty"`
}

// Safety carries the scanner findings and the action taken on them.
type Safety struct {
	Triggers []Trigger `json:"triggers,omitempty"`
	Action   string    `json:"action,omitempty"` // allow | flag | redact | block
}

// Trigger is one scanner finding recorded with an event.
type Trigger struct {
	Detector string  `json:"detector,omitempty"`
	Category string  `json:"category"`
	Score    float64 `json:"score,omitempty"`
	Role     string  `json:"role,omitempty"` // input | output
	Start    int     `json:"start,omitempty"`
	End      int     `json:"end,omitempty"`
}

// Override records a human override of a decision.
type Override struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Artifact identifies a pipeline artifact.
type Artifact struct {
	URI    string `json:"uri,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Probe identifies an adversarial probe.
type Probe struct {
	Pack      string `json:"pack,omitempty"`
	Name      string `json:"name,omitempty"`
	Technique string `json:"technique,omitempty"`
}

// ActorKey is the key of per-actor analytics: the most specific identity the event carries.
func (e *Event) ActorKey() string {
	switch {
	case e.Actor.User != "":
		return e.Actor.User
	case e.Actor.ServiceAccount != "":
		return e.Actor.ServiceAccount
	case e.Actor.Consumer != "":
		return e.Actor.Consumer
	case e.Actor.APIKeyID != "":
		return e.Actor.APIKeyID
	}
	return ""
}

// ProbeServiceAccount is the reserved identity of Warden's own adversarial probes
// (internal/probe). Inference and access events made under it are probe traffic.
const ProbeServiceAccount = "warden-probe"

// AttrProbeRun is the attribute the gateway sets on probe traffic: the probe run's id.
const AttrProbeRun = "warden.probe_run"

// IsProbeTraffic reports whether an inference or access event is traffic of Warden's own probes
// (the gateway marks it with the reserved identity and the run id). Analytics — baselines,
// drift, usage, cost, access anomalies and the per-event rules — skip it; the probe events that
// carry the verdicts are type probe and are not probe traffic.
func (e *Event) IsProbeTraffic() bool {
	if e.Type == TypeProbe || e.Actor.ServiceAccount != ProbeServiceAccount {
		return false
	}
	_, ok := e.Attributes[AttrProbeRun]
	return ok
}
