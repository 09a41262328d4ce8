package rules

import (
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/scan"
)

// Detection is an analysis finding from the stream-analysis stage (drift, fairness, latency,
// cost, extraction, ...), the input of ObserveDetection. Its kinds and their values are
// documented in internal/detection, and rules are checked against that registry at load.
type Detection = detection.Detection

// evalCtx is the lazy CEL activation for one event or detection: variables are computed only
// when a program reads them.
type evalCtx struct {
	ev        *event.Event
	det       *Detection
	model     config.Model
	modelOK   bool
	inventory bool
	triggers  ref.Val
	cache     [numVars]ref.Val // resolved variables, shared by every rule evaluating this input
}

var _ interpreter.Activation = (*evalCtx)(nil)

func (c *evalCtx) ResolveName(name string) (any, bool) {
	i, ok := varIndex[name]
	if !ok {
		return nil, false
	}
	if i >= numVars {
		return vars[i].get(c), true
	}
	if v := c.cache[i]; v != nil {
		return v, true
	}
	v := vars[i].get(c)
	c.cache[i] = v
	return v, true
}

func (c *evalCtx) Parent() interpreter.Activation { return nil }

func (c *evalCtx) time() time.Time {
	if c.det != nil {
		return c.det.Time
	}
	return c.ev.Time
}

func (c *evalCtx) modelName() string {
	if c.det != nil {
		return c.det.Model
	}
	return c.ev.Model.Name
}

func (c *evalCtx) environment() string {
	if c.det != nil {
		return c.det.Environment
	}
	return c.ev.Environment
}

func (c *evalCtx) id() string {
	if c.ev != nil {
		return c.ev.ID
	}
	return ""
}

// variable is one name a condition can read.
type variable struct {
	name   string
	typ    *cel.Type
	scalar bool // usable in group_by, value_count field and summary placeholders
	doc    string
	get    func(*evalCtx) ref.Val
}

var emptyList = types.NewStringList(types.DefaultTypeAdapter, nil)

func evStr(f func(*event.Event) string) func(*evalCtx) ref.Val {
	return func(c *evalCtx) ref.Val {
		if c.ev == nil {
			return types.String("")
		}
		return types.String(f(c.ev))
	}
}

func detStr(f func(*Detection) string) func(*evalCtx) ref.Val {
	return func(c *evalCtx) ref.Val {
		if c.det == nil {
			return types.String("")
		}
		return types.String(f(c.det))
	}
}

func strVar(name, doc string, get func(*evalCtx) ref.Val) variable {
	return variable{name: name, typ: cel.StringType, scalar: true, doc: doc, get: get}
}

// textVar is a prompt or response text: usable in conditions only. It is not scalar, so it
// can never be copied into what outlives the event — alert summaries, labels, group and dedup
// keys, the engine's snapshot, notifications and dead letters, incidents — where retention
// and subject erasure could not reach it.
func textVar(name, doc string, get func(*evalCtx) ref.Val) variable {
	return variable{name: name, typ: cel.StringType, doc: doc, get: get}
}

var vars = []variable{
	strVar("event.id", "event id (empty for detections)", evStr(func(e *event.Event) string { return e.ID })),
	strVar("event.type", "inference | access | pipeline | feedback | probe | detection", func(c *evalCtx) ref.Val {
		if c.det != nil {
			return types.String(TypeDetection)
		}
		return types.String(string(c.ev.Type))
	}),
	{name: "event.time", typ: cel.TimestampType, scalar: true, doc: "event (or detection) time", get: func(c *evalCtx) ref.Val { return types.Timestamp{Time: c.time()} }},
	strVar("event.environment", "environment (prod, staging, ...)", func(c *evalCtx) ref.Val { return types.String(c.environment()) }),
	strVar("event.model", "model name", func(c *evalCtx) ref.Val { return types.String(c.modelName()) }),
	strVar("event.model_version", "model version", func(c *evalCtx) ref.Val {
		if c.det != nil {
			return types.String(c.det.Version)
		}
		return types.String(c.ev.Model.Version)
	}),
	strVar("event.provider", "model provider", evStr(func(e *event.Event) string { return e.Model.Provider })),
	strVar("event.action", "access or pipeline action", evStr(func(e *event.Event) string { return e.Action })),
	strVar("event.resource", "access: resource", evStr(func(e *event.Event) string { return e.Resource })),
	strVar("event.decision", "access: allow | deny", evStr(func(e *event.Event) string { return e.Decision })),
	strVar("event.reason", "access: reason", evStr(func(e *event.Event) string { return e.Reason })),
	strVar("event.privilege", "access: standard | elevated", evStr(func(e *event.Event) string { return e.Privilege })),
	strVar("event.approval_id", "access: approval id", evStr(func(e *event.Event) string { return e.ApprovalID })),
	{name: "event.bytes", typ: cel.IntType, scalar: true, doc: "access: bytes moved", get: func(c *evalCtx) ref.Val {
		if c.ev == nil {
			return types.Int(0)
		}
		return types.Int(c.ev.Bytes)
	}},
	{name: "event.records", typ: cel.IntType, scalar: true, doc: "access: records moved", get: func(c *evalCtx) ref.Val {
		if c.ev == nil {
			return types.Int(0)
		}
		return types.Int(c.ev.Records)
	}},
	strVar("event.format", "access: export format", evStr(func(e *event.Event) string { return e.Format })),
	strVar("event.stage", "pipeline: stage", evStr(func(e *event.Event) string { return e.Stage })),
	strVar("event.artifact_uri", "pipeline: artifact URI", evStr(func(e *event.Event) string {
		if e.Artifact == nil {
			return ""
		}
		return e.Artifact.URI
	})),
	strVar("event.artifact_sha256", "pipeline: artifact SHA-256", evStr(func(e *event.Event) string {
		if e.Artifact == nil {
			return ""
		}
		return e.Artifact.SHA256
	})),
	strVar("event.approved_by", "pipeline: approver", evStr(func(e *event.Event) string { return e.ApprovedBy })),
	strVar("event.change_id", "pipeline: change id", evStr(func(e *event.Event) string { return e.ChangeID })),
	{name: "event.cost_usd", typ: cel.DoubleType, scalar: true, doc: "inference: cost in USD (0 when absent)", get: func(c *evalCtx) ref.Val {
		if c.ev == nil || c.ev.CostUSD == nil {
			return types.Double(0)
		}
		return types.Double(*c.ev.CostUSD)
	}},
	{name: "event.attributes", typ: cel.MapType(cel.StringType, cel.DynType), doc: "free-form attributes", get: func(c *evalCtx) ref.Val {
		if c.ev == nil || c.ev.Attributes == nil {
			return types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})
		}
		return types.NewStringInterfaceMap(types.DefaultTypeAdapter, c.ev.Attributes)
	}},
	strVar("actor.id", "most specific identity: user, service account, consumer or key id (consumer for detections)", func(c *evalCtx) ref.Val {
		if c.det != nil {
			return types.String(c.det.Consumer)
		}
		return types.String(c.ev.ActorKey())
	}),
	strVar("actor.consumer_id", "consuming identity, as the analyzer counts consumers: consumer, else service account, else API key id, else user (consumer for detections)", func(c *evalCtx) ref.Val {
		if c.det != nil {
			return types.String(c.det.Consumer)
		}
		a := &c.ev.Actor
		for _, id := range []string{a.Consumer, a.ServiceAccount, a.APIKeyID} {
			if id != "" {
				return types.String(id)
			}
		}
		return types.String(a.User)
	}),
	strVar("actor.user", "end user", evStr(func(e *event.Event) string { return e.Actor.User })),
	strVar("actor.consumer", "consuming application", func(c *evalCtx) ref.Val {
		if c.det != nil {
			return types.String(c.det.Consumer)
		}
		return types.String(c.ev.Actor.Consumer)
	}),
	strVar("actor.api_key_id", "virtual key id", evStr(func(e *event.Event) string { return e.Actor.APIKeyID })),
	strVar("actor.service_account", "service account", evStr(func(e *event.Event) string { return e.Actor.ServiceAccount })),
	strVar("actor.session", "session id", evStr(func(e *event.Event) string { return e.Actor.Session })),
	{name: "actor.groups", typ: cel.ListType(cel.StringType), doc: "groups", get: func(c *evalCtx) ref.Val {
		if c.ev == nil {
			return emptyList
		}
		return types.NewStringList(types.DefaultTypeAdapter, c.ev.Actor.Groups)
	}},
	{name: "actor.roles", typ: cel.ListType(cel.StringType), doc: "roles", get: func(c *evalCtx) ref.Val {
		if c.ev == nil {
			return emptyList
		}
		return types.NewStringList(types.DefaultTypeAdapter, c.ev.Actor.Roles)
	}},
	strVar("source.ip", "client IP", evStr(func(e *event.Event) string { return e.Source.IP })),
	strVar("source.geo", "client geography (country or region code)", evStr(func(e *event.Event) string { return e.Source.Geo })),
	strVar("source.client", "client software", evStr(func(e *event.Event) string { return e.Source.Client })),
	strVar("source.destination", "destination", evStr(func(e *event.Event) string { return e.Source.Destination })),
	textVar("request.input", "inference: input text (when stored; conditions only)", evStr(func(e *event.Event) string {
		if e.Request == nil {
			return ""
		}
		return e.Request.Input
	})),
	strVar("request.input_class", "inference: input class", evStr(func(e *event.Event) string {
		if e.Request == nil {
			return ""
		}
		return e.Request.InputClass
	})),
	{name: "request.input_tokens", typ: cel.IntType, scalar: true, doc: "inference: input tokens (0 when absent)", get: func(c *evalCtx) ref.Val {
		if c.ev == nil || c.ev.Request == nil || c.ev.Request.InputTokens == nil {
			return types.Int(0)
		}
		return types.Int(*c.ev.Request.InputTokens)
	}},
	textVar("response.output", "inference: output text (when stored; conditions only)", evStr(func(e *event.Event) string {
		if e.Response == nil {
			return ""
		}
		return e.Response.Output
	})),
	strVar("response.status", "inference: ok | error | blocked", evStr(func(e *event.Event) string {
		if e.Response == nil {
			return ""
		}
		return e.Response.Status
	})),
	strVar("response.error_code", "inference: error code", evStr(func(e *event.Event) string {
		if e.Response == nil {
			return ""
		}
		return e.Response.ErrorCode
	})),
	strVar("response.finish_reason", "inference: finish reason", evStr(func(e *event.Event) string {
		if e.Response == nil {
			return ""
		}
		return e.Response.FinishReason
	})),
	{name: "response.latency_ms", typ: cel.DoubleType, scalar: true, doc: "inference: latency (0 when absent)", get: func(c *evalCtx) ref.Val {
		if c.ev == nil || c.ev.Response == nil || c.ev.Response.LatencyMS == nil {
			return types.Double(0)
		}
		return types.Double(*c.ev.Response.LatencyMS)
	}},
	{name: "response.output_tokens", typ: cel.IntType, scalar: true, doc: "inference: output tokens (0 when absent)", get: func(c *evalCtx) ref.Val {
		if c.ev == nil || c.ev.Response == nil || c.ev.Response.OutputTokens == nil {
			return types.Int(0)
		}
		return types.Int(*c.ev.Response.OutputTokens)
	}},
	strVar("safety.action", "inference: allow | flag | redact | block", evStr(func(e *event.Event) string {
		if e.Safety == nil {
			return ""
		}
		return e.Safety.Action
	})),
	strVar("safety.paging_category", "inference: category of the strongest finding that should page — it changed the verdict (block/redact) or passed its category's calibrated threshold; empty when none (harmful requests and refusals never page)", func(c *evalCtx) ref.Val {
		return types.String(pagingCategory(c.ev))
	}),
	{name: "safety.triggers", typ: cel.ListType(cel.MapType(cel.StringType, cel.DynType)), doc: "scanner findings: {detector, category, score, role}", get: func(c *evalCtx) ref.Val {
		if c.triggers != nil {
			return c.triggers
		}
		var list []any
		if c.ev != nil && c.ev.Safety != nil {
			for _, t := range c.ev.Safety.Triggers {
				list = append(list, map[string]any{"detector": t.Detector, "category": t.Category, "score": t.Score, "role": t.Role})
			}
		}
		c.triggers = types.DefaultTypeAdapter.NativeToValue(list)
		if list == nil {
			c.triggers = types.NewDynamicList(types.DefaultTypeAdapter, []any{})
		}
		return c.triggers
	}},
	{name: "model.registered", typ: cel.BoolType, doc: "the model is in the inventory", get: func(c *evalCtx) ref.Val { return types.Bool(c.modelOK) }},
	strVar("model.risk_tier", "inventory: critical | high | medium | low (empty when unregistered)", func(c *evalCtx) ref.Val { return types.String(c.model.RiskTier) }),
	strVar("model.sensitivity", "inventory: public | internal | confidential | restricted", func(c *evalCtx) ref.Val { return types.String(c.model.Sensitivity) }),
	strVar("model.owner", "inventory: owner", func(c *evalCtx) ref.Val { return types.String(c.model.Owner) }),
	{name: "model.allowed_groups", typ: cel.ListType(cel.StringType), doc: "inventory: allowed groups", get: func(c *evalCtx) ref.Val {
		return types.NewStringList(types.DefaultTypeAdapter, c.model.AllowedGroups)
	}},
	{name: "inventory.configured", typ: cel.BoolType, doc: "a model inventory is configured", get: func(c *evalCtx) ref.Val { return types.Bool(c.inventory) }},
	strVar("detection.kind", "detection kind (drift, fairness, latency, cost_spike, model_extraction, ...)", detStr(func(d *Detection) string { return d.Kind })),
	strVar("detection.feature", "detection: feature", detStr(func(d *Detection) string { return d.Feature })),
	strVar("detection.statistic", "detection: statistic (psi, disparate_impact, p95, ...)", detStr(func(d *Detection) string { return d.Statistic })),
	strVar("detection.baseline_id", "detection: baseline id", detStr(func(d *Detection) string { return d.BaselineID })),
	strVar("detection.message", "detection: message", detStr(func(d *Detection) string { return d.Message })),
	{name: "detection.value", typ: cel.DoubleType, scalar: true, doc: "detection: observed value", get: func(c *evalCtx) ref.Val {
		if c.det == nil {
			return types.Double(0)
		}
		return types.Double(c.det.Value)
	}},
	{name: "detection.threshold", typ: cel.DoubleType, scalar: true, doc: "detection: the analyzer's threshold", get: func(c *evalCtx) ref.Val {
		if c.det == nil {
			return types.Double(0)
		}
		return types.Double(c.det.Threshold)
	}},
	{name: "detection.values", typ: cel.MapType(cel.StringType, cel.DoubleType), doc: "detection: named values (baseline, ...)", get: func(c *evalCtx) ref.Val {
		if c.det == nil || c.det.Values == nil {
			return types.DefaultTypeAdapter.NativeToValue(map[string]float64{})
		}
		return types.DefaultTypeAdapter.NativeToValue(c.det.Values)
	}},
}

var varIndex = func() map[string]int {
	m := make(map[string]int, len(vars))
	for i, v := range vars {
		m[v.name] = i
	}
	return m
}()

var actorID = varIndex["actor.id"]

// numVars sizes the per-input variable cache; TestVariablesFitCache keeps it ≥ len(vars).
const numVars = 77

// Variables lists the names a condition can read, with their CEL type and meaning (for docs and
// `warden rules` help).
func Variables() [][3]string {
	out := make([][3]string, 0, len(vars))
	for _, v := range vars {
		out = append(out, [3]string{v.name, v.typ.String(), v.doc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// scalarString renders a scalar variable for group keys, labels and summaries.
func scalarString(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339)
	}
	s, _ := v.ConvertToType(types.StringType).Value().(string)
	return s
}

func listConst(items []string) ref.Val {
	return types.NewStringList(types.DefaultTypeAdapter, append([]string(nil), items...))
}

// triggerMatches: a finding matches a category name by category, detector, or detector prefix
// ("harmful" matches detector "harmful.hate").
func triggerMatches(t *event.Trigger, cat string) bool {
	return t.Category == cat || t.Detector == cat || (strings.HasPrefix(t.Detector, cat) && len(t.Detector) > len(cat) && t.Detector[len(cat)] == '.')
}

// pagingCategory returns the category of the strongest trigger of ev that should page: the event's
// verdict changed (safety.action block or redact, or response.status blocked) or the trigger's
// score reached its category's calibrated flag threshold (scan.DefaultCalibration). Quiet
// categories — harmful requests (a signal about a user) and refusals (a metric) — never page.
func pagingCategory(ev *event.Event) string {
	if ev == nil || ev.Safety == nil {
		return ""
	}
	verdict := ev.Safety.Action == "block" || ev.Safety.Action == "redact" || ev.Response != nil && ev.Response.Status == "blocked"
	cal := scan.DefaultCalibration().Categories
	best, cat := -1.0, ""
	for i := range ev.Safety.Triggers {
		t := &ev.Safety.Triggers[i]
		if t.Category == scan.CatHarmfulRequest || t.Category == scan.CatRefusal || t.Category == "" {
			continue
		}
		th, calibrated := cal[t.Category]
		if !verdict && !(calibrated && t.Score >= th.Flag) {
			continue
		}
		if t.Score > best {
			best, cat = t.Score, t.Category
		}
	}
	return cat
}
