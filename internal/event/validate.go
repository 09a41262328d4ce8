package event

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on single fields; the request body limit bounds the rest.
const (
	MaxIDLen    = 128
	MaxTextLen  = 4 << 20
	MaxNameLen  = 256
	maxAttrKeys = 128
)

var (
	responseStatuses = []string{"ok", "error", "blocked"}
	decisions        = []string{"allow", "deny"}
	privileges       = []string{"standard", "elevated"}
	stages           = []string{"ingestion", "features", "training", "registry", "deployment", "dependency", "infrastructure"}
	pipelineActions  = []string{"dataset_changed", "training_started", "training_finished", "model_registered", "model_deployed", "dependency_changed", "config_changed"}
	safetyActions    = []string{"allow", "flag", "redact", "block"}
)

func bad(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks the event against schema v1. The returned error is a *FieldError naming the
// field. Validate does not modify the event; Normalize fills defaults afterwards.
func (e *Event) Validate() error {
	if len(e.ID) > MaxIDLen {
		return bad("id", "longer than %d bytes", MaxIDLen)
	}
	if e.ID != "" && !printable(e.ID) {
		return bad("id", "must be printable text without spaces")
	}
	if e.Type == "" {
		return bad("type", "required: one of inference, access, pipeline, feedback, probe")
	}
	if e.Time.IsZero() {
		return bad("time", "required: an RFC 3339 timestamp")
	}
	if y := e.Time.Year(); y < 2000 || y > 9999 {
		return bad("time", "year %d out of range", y)
	}
	if len(e.Environment) > MaxNameLen {
		return bad("environment", "longer than %d bytes", MaxNameLen)
	}
	for _, f := range [...]struct{ field, v string }{{"model.name", e.Model.Name}, {"model.version", e.Model.Version}, {"model.provider", e.Model.Provider}, {"actor.user", e.Actor.User}, {"actor.session", e.Actor.Session}, {"actor.api_key_id", e.Actor.APIKeyID}, {"actor.service_account", e.Actor.ServiceAccount}} {
		if len(f.v) > MaxNameLen {
			return bad(f.field, "longer than %d bytes", MaxNameLen)
		}
		if !utf8.ValidString(f.v) {
			return bad(f.field, "not valid UTF-8")
		}
	}
	if e.Source.IP != "" {
		if _, err := netip.ParseAddr(e.Source.IP); err != nil {
			return bad("source.ip", "not an IP address")
		}
	}
	if err := scalarMap("attributes", e.Attributes); err != nil {
		return err
	}
	switch e.Type {
	case TypeInference:
		return e.validateInference()
	case TypeAccess:
		return e.validateAccess()
	case TypePipeline:
		return e.validatePipeline()
	case TypeFeedback:
		return e.validateFeedback()
	case TypeProbe:
		return e.validateProbe()
	default:
		return bad("type", "%q is not one of inference, access, pipeline, feedback, probe", e.Type)
	}
}

func (e *Event) validateInference() error {
	if e.Model.Name == "" {
		return bad("model.name", "required for inference events")
	}
	if err := e.onlyFor("inference", e.accessSet(), e.pipelineSet(), e.feedbackSet(), e.probeSet()); err != nil {
		return err
	}
	if r := e.Request; r != nil {
		if len(r.Input) > MaxTextLen {
			return bad("request.input", "longer than %d bytes", MaxTextLen)
		}
		if !utf8.ValidString(r.Input) {
			return bad("request.input", "not valid UTF-8")
		}
		if err := hexHash("request.input_sha256", r.InputSHA256); err != nil {
			return err
		}
		if r.Input != "" && r.InputSHA256 != "" && !strings.EqualFold(r.InputSHA256, sha256Hex(r.Input)) {
			return bad("request.input_sha256", "does not match the SHA-256 of request.input")
		}
		if r.InputTokens != nil && *r.InputTokens < 0 {
			return bad("request.input_tokens", "must be ≥ 0")
		}
		if err := scalarMap("request.features", r.Features); err != nil {
			return err
		}
	}
	if r := e.Response; r != nil {
		if len(r.Output) > MaxTextLen {
			return bad("response.output", "longer than %d bytes", MaxTextLen)
		}
		if !utf8.ValidString(r.Output) {
			return bad("response.output", "not valid UTF-8")
		}
		if err := hexHash("response.output_sha256", r.OutputSHA256); err != nil {
			return err
		}
		if r.Output != "" && r.OutputSHA256 != "" && !strings.EqualFold(r.OutputSHA256, sha256Hex(r.Output)) {
			return bad("response.output_sha256", "does not match the SHA-256 of response.output")
		}
		if r.OutputTokens != nil && *r.OutputTokens < 0 {
			return bad("response.output_tokens", "must be ≥ 0")
		}
		if r.Status != "" && !slices.Contains(responseStatuses, r.Status) {
			return bad("response.status", "%q is not one of ok, error, blocked", r.Status)
		}
		if err := nonNegative("response.latency_ms", r.LatencyMS); err != nil {
			return err
		}
		if err := nonNegative("response.ttft_ms", r.TTFTMS); err != nil {
			return err
		}
		if r.Confidence != nil && (math.IsNaN(*r.Confidence) || *r.Confidence < 0 || *r.Confidence > 1) {
			return bad("response.confidence", "must be between 0 and 1")
		}
		if err := scalar("response.prediction", r.Prediction); err != nil {
			return err
		}
	}
	if err := nonNegative("cost_usd", e.CostUSD); err != nil {
		return err
	}
	if s := e.Safety; s != nil {
		if s.Action != "" && !slices.Contains(safetyActions, s.Action) {
			return bad("safety.action", "%q is not one of allow, flag, redact, block", s.Action)
		}
		for i, t := range s.Triggers {
			if t.Category == "" {
				return bad(fmt.Sprintf("safety.triggers[%d].category", i), "required")
			}
			if t.Score < 0 || t.Score > 1 || math.IsNaN(t.Score) {
				return bad(fmt.Sprintf("safety.triggers[%d].score", i), "must be between 0 and 1")
			}
		}
	}
	return nil
}

func (e *Event) validateAccess() error {
	if err := e.onlyFor("access", e.inferenceSet(), e.pipelineOnlySet(), e.feedbackSet(), e.probeSet()); err != nil {
		return err
	}
	if e.Action == "" {
		return bad("action", "required for access events (e.g. invoke, download_weights, export_data, update_policy, login)")
	}
	if e.Decision == "" {
		return bad("decision", "required for access events: allow or deny")
	}
	if !slices.Contains(decisions, e.Decision) {
		return bad("decision", "%q is not one of allow, deny", e.Decision)
	}
	if e.Privilege != "" && !slices.Contains(privileges, e.Privilege) {
		return bad("privilege", "%q is not one of standard, elevated", e.Privilege)
	}
	if e.Bytes < 0 {
		return bad("bytes", "must be ≥ 0")
	}
	if e.Records < 0 {
		return bad("records", "must be ≥ 0")
	}
	return nil
}

func (e *Event) validatePipeline() error {
	if err := e.onlyFor("pipeline", e.inferenceSet(), e.accessOnlySet(), e.feedbackSet(), e.probeSet()); err != nil {
		return err
	}
	if e.Stage == "" {
		return bad("stage", "required for pipeline events: one of %s", strings.Join(stages, ", "))
	}
	if !slices.Contains(stages, e.Stage) {
		return bad("stage", "%q is not one of %s", e.Stage, strings.Join(stages, ", "))
	}
	if e.Action == "" {
		return bad("action", "required for pipeline events: one of %s", strings.Join(pipelineActions, ", "))
	}
	if !slices.Contains(pipelineActions, e.Action) {
		return bad("action", "%q is not one of %s", e.Action, strings.Join(pipelineActions, ", "))
	}
	if e.Artifact != nil {
		if err := hexHash("artifact.sha256", e.Artifact.SHA256); err != nil {
			return err
		}
	}
	return nil
}

func (e *Event) validateFeedback() error {
	if err := e.onlyFor("feedback", e.inferenceSet(), e.accessSet(), e.pipelineSet(), e.probeSet()); err != nil {
		return err
	}
	if e.RequestID == "" {
		return bad("request_id", "required for feedback events")
	}
	if e.Rating != nil && (*e.Rating < -1 || *e.Rating > 1) {
		return bad("rating", "must be -1, 0 or 1")
	}
	return scalar("label", e.Label)
}

func (e *Event) validateProbe() error {
	if err := e.onlyFor("probe", e.inferenceSet(), e.accessSet(), e.pipelineSet(), e.feedbackSet()); err != nil {
		return err
	}
	if e.Probe == nil || e.Probe.Name == "" {
		return bad("probe.name", "required for probe events")
	}
	if e.Passed == nil {
		return bad("passed", "required for probe events")
	}
	return nil
}

// The *Set helpers return the name of the first type-specific field that is set, or "".
func (e *Event) inferenceSet() string {
	switch {
	case e.Request != nil:
		return "request"
	case e.Response != nil:
		return "response"
	case e.CostUSD != nil:
		return "cost_usd"
	case e.Safety != nil:
		return "safety"
	case e.Override != nil:
		return "override"
	}
	return ""
}

func (e *Event) accessOnlySet() string {
	switch {
	case e.Resource != "":
		return "resource"
	case e.Decision != "":
		return "decision"
	case e.Reason != "":
		return "reason"
	case e.Privilege != "":
		return "privilege"
	case e.ApprovalID != "":
		return "approval_id"
	case e.Bytes != 0:
		return "bytes"
	case e.Records != 0:
		return "records"
	case e.Format != "":
		return "format"
	}
	return ""
}

func (e *Event) accessSet() string {
	if e.Action != "" {
		return "action"
	}
	return e.accessOnlySet()
}

func (e *Event) pipelineOnlySet() string {
	switch {
	case e.Stage != "":
		return "stage"
	case e.Artifact != nil:
		return "artifact"
	case e.ApprovedBy != "":
		return "approved_by"
	case e.ChangeID != "":
		return "change_id"
	case e.Details != nil:
		return "details"
	}
	return ""
}

func (e *Event) pipelineSet() string {
	if e.Action != "" {
		return "action"
	}
	return e.pipelineOnlySet()
}

func (e *Event) feedbackSet() string {
	switch {
	case e.RequestID != "":
		return "request_id"
	case e.Rating != nil:
		return "rating"
	case e.Label != nil:
		return "label"
	case e.Comment != "":
		return "comment"
	}
	return ""
}

func (e *Event) probeSet() string {
	switch {
	case e.Probe != nil:
		return "probe"
	case e.Passed != nil:
		return "passed"
	case e.Evidence != "":
		return "evidence"
	}
	return ""
}

func (e *Event) onlyFor(typ string, others ...string) error {
	for _, f := range others {
		if f != "" {
			return bad(f, "not allowed on %s events", typ)
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func hexHash(field, v string) error {
	if v == "" {
		return nil
	}
	if len(v) != 64 {
		return bad(field, "must be 64 hex characters (SHA-256)")
	}
	if _, err := hex.DecodeString(v); err != nil {
		return bad(field, "must be 64 hex characters (SHA-256)")
	}
	return nil
}

func nonNegative(field string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0) {
		return bad(field, "must be a finite number ≥ 0")
	}
	return nil
}

func scalar(field string, v any) error {
	switch v.(type) {
	case nil, string, float64, bool:
		return nil
	}
	return bad(field, "must be a string, number, boolean or null")
}

func scalarMap(field string, m map[string]any) error {
	if len(m) > maxAttrKeys {
		return bad(field, "more than %d keys", maxAttrKeys)
	}
	for k, v := range m {
		if k == "" || len(k) > MaxNameLen {
			return bad(field, "keys must be 1..%d bytes", MaxNameLen)
		}
		if err := scalar(field+"."+k, v); err != nil {
			return err
		}
	}
	return nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Normalize fills defaults after Validate: environment "prod", a server-assigned time-ordered id
// when none was sent, lower-case hashes, hashes and lengths of any text present, and UTC time.
func (e *Event) Normalize() {
	if e.ID == "" {
		e.ID = uuid.Must(uuid.NewV7()).String()
	}
	if e.Environment == "" {
		e.Environment = "prod"
	}
	e.Time = e.Time.UTC()
	if r := e.Request; r != nil {
		if r.Input != "" {
			r.InputSHA256 = sha256Hex(r.Input)
			r.InputChars = len(r.Input)
		}
		r.InputSHA256 = strings.ToLower(r.InputSHA256)
	}
	if r := e.Response; r != nil {
		if r.Output != "" {
			r.OutputSHA256 = sha256Hex(r.Output)
			r.OutputChars = len(r.Output)
		}
		r.OutputSHA256 = strings.ToLower(r.OutputSHA256)
		if r.Status == "" {
			r.Status = "ok"
		}
	}
	if e.Artifact != nil {
		e.Artifact.SHA256 = strings.ToLower(e.Artifact.SHA256)
	}
}
