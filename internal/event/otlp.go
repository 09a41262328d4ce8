package event

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OTLP content types accepted by FromOTLP.
const (
	ContentTypeOTLPProto = "application/x-protobuf"
	ContentTypeOTLPJSON  = "application/json"
)

// ErrUnsupportedContentType is returned by FromOTLP for a content type that is neither OTLP
// protobuf nor OTLP JSON; an HTTP handler maps it to 415.
var ErrUnsupportedContentType = errors.New("unsupported content type: send application/x-protobuf or application/json")

// otlpNamespace is the UUID namespace of event ids derived from OTLP trace and span ids, so that
// a re-sent export yields the same ids (and is deduplicated like any re-sent event id).
var otlpNamespace = uuid.MustParse("6f1c3b0e-5a0d-4c52-9a53-7761726465e1")

// OTLPStats counts what FromOTLPStats did with the spans of one export request.
type OTLPStats struct {
	// Spans is the number of spans in the request.
	Spans int `json:"spans"`
	// Events is the number of inference events produced.
	Events int `json:"events"`
	// NotGenAI counts spans without GenAI attributes (HTTP, database, framework spans, ...).
	NotGenAI int `json:"not_genai"`
	// NotInference counts GenAI spans that are not a model call: execute_tool, create_agent,
	// and invoke_agent of an in-process agent (its model calls are spans of their own).
	NotInference int `json:"not_inference"`
	// NoModel counts GenAI model-call spans that name no model (neither gen_ai.request.model
	// nor gen_ai.response.model), which an inference event requires.
	NoModel int `json:"no_model"`
}

// Skipped is the number of spans that did not become events.
func (s OTLPStats) Skipped() int { return s.NotGenAI + s.NotInference + s.NoModel }

// FromOTLP converts an OTLP/HTTP trace export request (ExportTraceServiceRequest) into inference
// events. contentType selects the encoding: application/x-protobuf or application/json (media
// type parameters are ignored). Spans carrying OpenTelemetry GenAI semantic-convention attributes
// (current, deprecated, or OpenLLMetry/Traceloop) become inference events; other spans are
// skipped. Every returned event passes Validate; none is normalized yet.
func FromOTLP(body []byte, contentType string) ([]*Event, error) {
	evs, _, err := FromOTLPStats(body, contentType)
	return evs, err
}

// FromOTLPStats is FromOTLP that also reports how many spans were converted and skipped.
func FromOTLPStats(body []byte, contentType string) ([]*Event, OTLPStats, error) {
	td, err := UnmarshalOTLP(body, contentType)
	if err != nil {
		return nil, OTLPStats{}, err
	}
	return FromTraces(td)
}

// UnmarshalOTLP decodes an OTLP/HTTP trace export request body. Decoding errors are *FieldError
// values; an unknown content type is ErrUnsupportedContentType.
func UnmarshalOTLP(body []byte, contentType string) (ptrace.Traces, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("%w (got %q)", ErrUnsupportedContentType, contentType)
	}
	var td ptrace.Traces
	switch mt {
	case ContentTypeOTLPProto, "application/protobuf":
		if err := checkOTLPProto(body); err != nil {
			return ptrace.Traces{}, &FieldError{Message: "invalid OTLP protobuf trace export request: " + sanitizeErr(err)}
		}
		var u ptrace.ProtoUnmarshaler
		td, err = u.UnmarshalTraces(body)
		if err != nil {
			return ptrace.Traces{}, &FieldError{Message: "invalid OTLP protobuf trace export request: " + sanitizeErr(err)}
		}
	case ContentTypeOTLPJSON:
		if err := checkOTLPJSON(body); err != nil {
			return ptrace.Traces{}, &FieldError{Message: "invalid OTLP JSON trace export request: " + sanitizeErr(err)}
		}
		var u ptrace.JSONUnmarshaler
		td, err = u.UnmarshalTraces(body)
		if err == nil {
			err = checkOTLPDepth(td)
		}
		if err != nil {
			return ptrace.Traces{}, &FieldError{Message: "invalid OTLP JSON trace export request: " + sanitizeErr(err)}
		}
	default:
		return ptrace.Traces{}, fmt.Errorf("%w (got %q)", ErrUnsupportedContentType, mt)
	}
	return td, nil
}

// sanitizeErr keeps a decoder message short and printable; decoder errors may quote input bytes.
func sanitizeErr(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// FromTraces converts decoded traces into inference events; see FromOTLP. A span whose
// attributes cannot form a valid event fails the whole request with a *FieldError whose Index is
// the span's position in the request (counting all spans in order) and whose Field is the OTLP
// path of the offending value.
func FromTraces(td ptrace.Traces) ([]*Event, OTLPStats, error) {
	var (
		st  OTLPStats
		evs []*Event
	)
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := range spans.Len() {
				index := st.Spans
				st.Spans++
				path := fmt.Sprintf("resourceSpans[%d].scopeSpans[%d].spans[%d]", i, j, k)
				ev, skip, err := spanEvent(spans.At(k), res, ss.Scope(), path)
				if err != nil {
					err.Index = index
					return nil, st, err
				}
				switch skip {
				case skipNotGenAI:
					st.NotGenAI++
					continue
				case skipNotInference:
					st.NotInference++
					continue
				case skipNoModel:
					st.NoModel++
					continue
				}
				if len(evs) >= MaxBatch {
					return nil, st, &FieldError{Index: index, Field: path, Message: fmt.Sprintf("too many GenAI spans in one request (max %d)", MaxBatch)}
				}
				evs = append(evs, ev)
			}
		}
	}
	st.Events = len(evs)
	return evs, st, nil
}

type skipReason int

const (
	keep skipReason = iota
	skipNotGenAI
	skipNotInference
	skipNoModel
)

// Attribute keys. Current GenAI semantic conventions first, then deprecated ones, then
// OpenLLMetry/Traceloop.
const (
	attrOperation       = "gen_ai.operation.name"
	attrProvider        = "gen_ai.provider.name"
	attrSystem          = "gen_ai.system" // deprecated for gen_ai.provider.name
	attrRequestModel    = "gen_ai.request.model"
	attrResponseModel   = "gen_ai.response.model"
	attrResponseID      = "gen_ai.response.id"
	attrFinishReasons   = "gen_ai.response.finish_reasons"
	attrInputTokens     = "gen_ai.usage.input_tokens"
	attrOutputTokens    = "gen_ai.usage.output_tokens"
	attrPromptTokens    = "gen_ai.usage.prompt_tokens"     // deprecated
	attrCompletionToks  = "gen_ai.usage.completion_tokens" // deprecated
	attrConversation    = "gen_ai.conversation.id"
	attrInputMessages   = "gen_ai.input.messages"
	attrOutputMessages  = "gen_ai.output.messages"
	attrSystemInstr     = "gen_ai.system_instructions"
	attrPrompt          = "gen_ai.prompt"     // deprecated: JSON of the prompt, or Traceloop gen_ai.prompt.N.*
	attrCompletion      = "gen_ai.completion" // deprecated: JSON of the completion, or gen_ai.completion.N.*
	attrErrorType       = "error.type"
	attrServerAddress   = "server.address"
	attrServerPort      = "server.port"
	attrClientAddress   = "client.address"
	attrUserID          = "user.id"
	attrEndUserID       = "enduser.id" // deprecated for user.id
	attrSessionID       = "session.id"
	attrLLMRequestType  = "llm.request.type"
	attrLLMPromptTokens = "llm.usage.prompt_tokens"
	attrLLMComplTokens  = "llm.usage.completion_tokens"
	attrLLMTotalTokens  = "llm.usage.total_tokens"
	attrTLAssocPrefix   = "traceloop.association.properties."
	attrServiceName     = "service.name"
	attrDeployEnv       = "deployment.environment.name"
	attrDeployEnvOld    = "deployment.environment"
)

// passthrough are span attributes copied into Event.Attributes when present and scalar.
var passthrough = []string{
	attrOperation,
	attrResponseID,
	attrServerAddress,
	attrServerPort,
	"gen_ai.output.type",
	"gen_ai.request.max_tokens",
	"gen_ai.request.temperature",
	"gen_ai.request.top_p",
	"gen_ai.request.seed",
	"gen_ai.request.choice.count",
	"gen_ai.agent.name",
	"gen_ai.agent.id",
	"gen_ai.usage.cache_read.input_tokens",
	"gen_ai.usage.cache_creation.input_tokens",
	attrLLMTotalTokens,
	"telemetry.sdk.name",
}

// spanEvent converts one span. It returns skip != keep for spans that are not model calls.
func spanEvent(sp ptrace.Span, res pcommon.Map, scope pcommon.InstrumentationScope, path string) (*Event, skipReason, *FieldError) {
	attrs := sp.Attributes()
	op := str(attrs, attrOperation)
	if op == "" {
		switch rt := str(attrs, attrLLMRequestType); rt {
		case "":
		case "completion":
			op = "text_completion"
		case "embedding":
			op = "embeddings"
		default:
			op = rt
		}
	}
	genAI := op != "" || has(attrs, attrProvider) || has(attrs, attrSystem) || has(attrs, attrRequestModel)
	if !genAI {
		return nil, skipNotGenAI, nil
	}
	switch op {
	case "execute_tool", "create_agent":
		return nil, skipNotInference, nil
	case "invoke_agent":
		// A remote agent (CLIENT span) is the only record of the model interaction; an in-process
		// agent's model calls are spans of their own and would be counted twice.
		if sp.Kind() != ptrace.SpanKindClient {
			return nil, skipNotInference, nil
		}
	}

	ev := &Event{Type: TypeInference, Request: &Request{}, Response: &Response{}}
	m := &ev.Model
	m.Name = str(attrs, attrRequestModel)
	m.Upstream = str(attrs, attrResponseModel)
	if m.Name == "" {
		m.Name, m.Upstream = m.Upstream, ""
	}
	if m.Name == "" {
		return nil, skipNoModel, nil
	}
	if m.Upstream == m.Name {
		m.Upstream = ""
	}
	m.Provider = firstStr(attrs, attrProvider, attrSystem)

	traceID, spanID := sp.TraceID(), sp.SpanID()
	if traceID.IsEmpty() {
		return nil, keep, &FieldError{Field: path + ".traceId", Message: "required: a non-zero 16-byte trace id"}
	}
	if spanID.IsEmpty() {
		return nil, keep, &FieldError{Field: path + ".spanId", Message: "required: a non-zero 8-byte span id"}
	}
	ev.ID = uuid.NewSHA1(otlpNamespace, append(traceID[:], spanID[:]...)).String()
	ev.Request.ID = hex.EncodeToString(traceID[:]) + "-" + hex.EncodeToString(spanID[:])

	start, end := sp.StartTimestamp(), sp.EndTimestamp()
	if start == 0 {
		return nil, keep, &FieldError{Field: path + ".startTimeUnixNano", Message: "required: the span start time"}
	}
	ev.Time = start.AsTime()
	if end >= start {
		ms := float64(end-start) / 1e6
		ev.Response.LatencyMS = &ms
	}

	ev.Environment = firstStr(res, attrDeployEnv, attrDeployEnvOld)
	ev.Source.Client = str(res, attrServiceName)
	if addr := str(attrs, attrServerAddress); addr != "" {
		ev.Source.Destination = addr
		if port, ok := intAttr(attrs, attrServerPort); ok && port > 0 {
			ev.Source.Destination = joinHostPort(addr, port)
		}
	}
	if ip, err := netip.ParseAddr(str(attrs, attrClientAddress)); err == nil {
		ev.Source.IP = ip.String()
	}
	ev.Actor.User = firstStr(attrs, attrUserID, attrEndUserID, attrTLAssocPrefix+"user_id", attrTLAssocPrefix+"userId")
	if ev.Actor.User == "" {
		ev.Actor.User = firstStr(res, attrUserID, attrEndUserID)
	}
	ev.Actor.Session = firstStr(attrs, attrConversation, attrSessionID, attrTLAssocPrefix+"session_id", attrTLAssocPrefix+"sessionId")

	var fe *FieldError
	if ev.Request.InputTokens, fe = tokens(attrs, path, attrInputTokens, attrPromptTokens, attrLLMPromptTokens); fe != nil {
		return nil, keep, fe
	}
	if ev.Response.OutputTokens, fe = tokens(attrs, path, attrOutputTokens, attrCompletionToks, attrLLMComplTokens); fe != nil {
		return nil, keep, fe
	}

	reasons := finishReasons(attrs)
	if len(reasons) > 0 {
		ev.Response.FinishReason = reasons[0]
	}

	// Status: error.type, else the span status, else an exception event.
	ev.Response.Status = "ok"
	errType := str(attrs, attrErrorType)
	if errType != "" || sp.Status().Code() == ptrace.StatusCodeError {
		ev.Response.Status = "error"
		if errType == "" {
			errType = exceptionType(sp.Events())
		}
		ev.Response.ErrorCode = clip(errType, MaxNameLen)
	}

	in, out, reason := content(sp, attrs)
	ev.Request.Input = in
	ev.Response.Output = out
	if ev.Response.FinishReason == "" {
		ev.Response.FinishReason = reason
	}

	ev.Attributes = map[string]any{
		"otel.trace_id":  hex.EncodeToString(traceID[:]),
		"otel.span_id":   hex.EncodeToString(spanID[:]),
		"otel.span_name": clip(validText(sp.Name()), MaxNameLen*4),
	}
	if op != "" {
		ev.Attributes[attrOperation] = op
	}
	if name := scope.Name(); name != "" {
		ev.Attributes["otel.scope.name"] = name
	}
	for _, k := range passthrough {
		if v, ok := attrs.Get(k); ok {
			if s, ok := scalarValue(v); ok {
				ev.Attributes[k] = s
			}
		}
	}
	if len(reasons) > 0 {
		ev.Attributes[attrFinishReasons] = strings.Join(reasons, ",")
	}
	if lang := str(res, "telemetry.sdk.language"); lang != "" {
		ev.Attributes["telemetry.sdk.language"] = lang
	}

	if err := ev.Validate(); err != nil {
		var vfe *FieldError
		if errors.As(err, &vfe) {
			vfe.Message = fmt.Sprintf("%s: %s", vfe.Field, vfe.Message)
			vfe.Field = path + "." + otlpSourceOf(vfe.Field)
			return nil, keep, vfe
		}
		return nil, keep, &FieldError{Field: path, Message: err.Error()}
	}
	return ev, keep, nil
}

// otlpSourceOf names the OTLP attribute an event field came from, for error messages.
func otlpSourceOf(field string) string {
	switch {
	case field == "model.name":
		return "attributes[" + attrRequestModel + "]"
	case field == "model.provider":
		return "attributes[" + attrProvider + "]"
	case field == "actor.user":
		return "attributes[" + attrUserID + "]"
	case field == "actor.session":
		return "attributes[" + attrConversation + "]"
	case field == "environment":
		return "resource.attributes[" + attrDeployEnv + "]"
	case field == "time":
		return "startTimeUnixNano"
	case strings.HasPrefix(field, "attributes"):
		return "attributes"
	}
	return "attributes"
}

func joinHostPort(host string, port int64) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.FormatInt(port, 10)
}

func has(m pcommon.Map, key string) bool {
	v, ok := m.Get(key)
	return ok && v.Type() != pcommon.ValueTypeEmpty
}

// str returns a string attribute (or the text form of a scalar), made valid UTF-8.
func str(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return validText(v.Str())
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return v.AsString()
	}
	return ""
}

func firstStr(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if s := str(m, k); s != "" {
			return s
		}
	}
	return ""
}

func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// intAttr reads an integer attribute sent as an int, an integral double, or a decimal string.
func intAttr(m pcommon.Map, key string) (int64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if d == math.Trunc(d) && math.Abs(d) < 1<<53 {
			return int64(d), true
		}
	case pcommon.ValueTypeStr:
		if n, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// tokens reads the first present token-count attribute of keys.
func tokens(m pcommon.Map, path string, keys ...string) (*int64, *FieldError) {
	for _, k := range keys {
		if !has(m, k) {
			continue
		}
		n, ok := intAttr(m, k)
		if !ok {
			return nil, &FieldError{Field: path + ".attributes[" + k + "]", Message: "must be an integer token count"}
		}
		if n < 0 {
			return nil, &FieldError{Field: path + ".attributes[" + k + "]", Message: "must be ≥ 0"}
		}
		return &n, nil
	}
	return nil, nil
}

func scalarValue(v pcommon.Value) (any, bool) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return clip(validText(v.Str()), MaxNameLen*4), true
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		if d := v.Double(); !math.IsNaN(d) && !math.IsInf(d, 0) {
			return d, true
		}
	}
	return nil, false
}

// finishReasons reads gen_ai.response.finish_reasons (a string array, or a string).
func finishReasons(attrs pcommon.Map) []string {
	var out []string
	if v, ok := attrs.Get(attrFinishReasons); ok {
		switch v.Type() {
		case pcommon.ValueTypeSlice:
			s := v.Slice()
			for i := range s.Len() {
				if r := s.At(i).AsString(); r != "" && s.At(i).Type() == pcommon.ValueTypeStr {
					out = append(out, clip(validText(r), MaxNameLen))
				}
			}
		case pcommon.ValueTypeStr:
			if r := v.Str(); r != "" {
				out = append(out, clip(validText(r), MaxNameLen))
			}
		}
	}
	return out
}

func exceptionType(evs ptrace.SpanEventSlice) string {
	for i := range evs.Len() {
		if e := evs.At(i); e.Name() == "exception" {
			if t := str(e.Attributes(), "exception.type"); t != "" {
				return t
			}
		}
	}
	return ""
}

// message is one chat message reduced to its role and text.
type message struct {
	role string
	text string
}

// content extracts the input and output text of a span from the first source present, in this
// order: gen_ai.input.messages / gen_ai.output.messages (with gen_ai.system_instructions),
// the deprecated per-message span events (gen_ai.system.message, gen_ai.user.message,
// gen_ai.assistant.message, gen_ai.tool.message, gen_ai.choice), the deprecated
// gen_ai.content.prompt / gen_ai.content.completion events, and the Traceloop
// gen_ai.prompt.N.* / gen_ai.completion.N.* attributes. It also returns a finish reason found
// in the output messages.
func content(sp ptrace.Span, attrs pcommon.Map) (input, output, finish string) {
	var in, out []message
	var system []string
	if v, ok := attrs.Get(attrSystemInstr); ok {
		for _, p := range asList(decoded(v)) {
			if t := partText(p); t != "" {
				system = append(system, t)
			}
		}
	}
	if v, ok := attrs.Get(attrInputMessages); ok {
		in = messages(decoded(v), "user")
	}
	if v, ok := attrs.Get(attrOutputMessages); ok {
		raw := decoded(v)
		out = messages(raw, "assistant")
		for _, m := range asList(raw) {
			if obj, ok := m.(map[string]any); ok {
				if r, ok := obj["finish_reason"].(string); ok && finish == "" {
					finish = r
				}
			}
		}
	}
	if len(in) == 0 && len(out) == 0 {
		var r string
		in, out, r = eventMessages(sp.Events())
		if finish == "" {
			finish = r
		}
	}
	if len(in) == 0 && len(out) == 0 {
		var r string
		in, out, r = indexedMessages(attrs)
		if finish == "" {
			finish = r
		}
	}
	if len(in) == 0 && len(out) == 0 {
		if v, ok := attrs.Get(attrPrompt); ok {
			in = messages(decoded(v), "user")
		}
		if v, ok := attrs.Get(attrCompletion); ok {
			out = messages(decoded(v), "assistant")
		}
	}
	if len(system) > 0 {
		in = append([]message{{role: "system", text: strings.Join(system, "\n")}}, in...)
	}
	return renderInput(in), renderOutput(out), clip(validText(finish), MaxNameLen)
}

// renderInput writes messages as "role: text" blocks separated by blank lines.
func renderInput(ms []message) string {
	var b strings.Builder
	for _, m := range ms {
		if m.text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.role)
		b.WriteString(": ")
		b.WriteString(m.text)
		if b.Len() > MaxTextLen {
			break
		}
	}
	return clip(validText(b.String()), MaxTextLen)
}

// renderOutput writes the output choices' text separated by blank lines.
func renderOutput(ms []message) string {
	var b strings.Builder
	for _, m := range ms {
		if m.text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.text)
		if b.Len() > MaxTextLen {
			break
		}
	}
	return clip(validText(b.String()), MaxTextLen)
}

// decoded turns an attribute into plain Go values: a JSON string is parsed (falling back to the
// string itself), structured values are converted with AsRaw.
func decoded(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		t := strings.TrimSpace(s)
		if strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") || strings.HasPrefix(t, `"`) {
			var x any
			if err := json.Unmarshal([]byte(t), &x); err == nil {
				return x
			}
		}
		return s
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		return v.AsRaw()
	case pcommon.ValueTypeEmpty:
		return nil
	}
	return v.AsString()
}

func asList(x any) []any {
	switch t := x.(type) {
	case []any:
		return t
	case nil:
		return nil
	}
	return []any{x}
}

// messages reads a message list in the current semconv form ({role, parts:[...]}), the older
// OpenAI-like form ({role, content}), or a bare string (one message of defaultRole).
func messages(x any, defaultRole string) []message {
	var out []message
	for _, item := range asList(x) {
		switch t := item.(type) {
		case string:
			if t != "" {
				out = append(out, message{role: defaultRole, text: t})
			}
		case map[string]any:
			m := message{role: defaultRole}
			if r, ok := t["role"].(string); ok && r != "" {
				m.role = r
			}
			m.text = messageText(t, 0)
			if m.text != "" {
				out = append(out, m)
			}
		}
	}
	return out
}

const maxDepth = 8

// messageText renders the text of one message object: parts, content, or a nested message.
func messageText(obj map[string]any, depth int) string {
	if depth > maxDepth {
		return ""
	}
	var texts []string
	if parts, ok := obj["parts"].([]any); ok {
		for _, p := range parts {
			if s := partText(p); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if len(texts) == 0 {
		switch c := obj["content"].(type) {
		case string:
			texts = append(texts, c)
		case []any:
			for _, p := range c {
				if s := partText(p); s != "" {
					texts = append(texts, s)
				}
			}
		case map[string]any:
			if s := messageText(c, depth+1); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if len(texts) == 0 {
		if msg, ok := obj["message"].(map[string]any); ok {
			if s := messageText(msg, depth+1); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if calls, ok := obj["tool_calls"].([]any); ok {
		for _, c := range calls {
			if s := toolCallText(c); s != "" {
				texts = append(texts, s)
			}
		}
	}
	return strings.Join(texts, "\n")
}

// partText renders one message part. Text, reasoning and tool traffic are kept (tool results
// are a channel for indirect prompt injection); binary parts become a short placeholder.
func partText(p any) string {
	switch t := p.(type) {
	case string:
		return t
	case map[string]any:
		typ, _ := t["type"].(string)
		switch typ {
		case "tool_call":
			return toolCallText(t)
		case "tool_call_response":
			return compactJSON(t["response"])
		case "blob", "file", "file_data", "uri", "image_url", "input_image", "input_audio":
			kind := typ
			if mt, ok := t["mime_type"].(string); ok && mt != "" {
				kind += " " + mt
			} else if mod, ok := t["modality"].(string); ok && mod != "" {
				kind += " " + mod
			}
			return "[" + kind + "]"
		}
		for _, k := range []string{"content", "text"} {
			if s, ok := t[k].(string); ok {
				return s
			}
		}
	}
	return ""
}

func toolCallText(c any) string {
	obj, ok := c.(map[string]any)
	if !ok {
		return ""
	}
	name, _ := obj["name"].(string)
	args := obj["arguments"]
	if fn, ok := obj["function"].(map[string]any); ok { // OpenAI form
		if n, ok := fn["name"].(string); ok {
			name = n
		}
		args = fn["arguments"]
	}
	if name == "" && args == nil {
		return ""
	}
	return "tool_call " + name + " " + compactJSON(args)
}

func compactJSON(x any) string {
	if s, ok := x.(string); ok {
		return s
	}
	if x == nil {
		return ""
	}
	b, err := json.Marshal(x)
	if err != nil {
		return ""
	}
	return string(b)
}

// eventRoles maps the deprecated per-message event names to roles.
var eventRoles = map[string]string{
	"gen_ai.system.message":    "system",
	"gen_ai.user.message":      "user",
	"gen_ai.assistant.message": "assistant",
	"gen_ai.tool.message":      "tool",
}

// eventMessages reads the deprecated GenAI span events. The message body is taken from the
// gen_ai.event.content attribute (JSON), a body attribute (JSON, text or structured), or a
// content attribute, in that order. gen_ai.choice events are the output.
func eventMessages(evs ptrace.SpanEventSlice) (in, out []message, finish string) {
	for i := range evs.Len() {
		e := evs.At(i)
		name := e.Name()
		a := e.Attributes()
		role, isInput := eventRoles[name]
		switch {
		case isInput:
			if m, ok := eventBody(a, role); ok {
				in = append(in, m)
			}
		case name == "gen_ai.choice":
			if m, ok := eventBody(a, "assistant"); ok {
				out = append(out, m)
			}
			if finish == "" {
				finish = firstStr(a, "finish_reason", "gen_ai.response.finish_reason")
				if finish == "" {
					if obj, ok := eventObject(a); ok {
						finish, _ = obj["finish_reason"].(string)
					}
				}
			}
		case name == "gen_ai.content.prompt":
			if v, ok := a.Get(attrPrompt); ok {
				in = append(in, messages(decoded(v), "user")...)
			}
		case name == "gen_ai.content.completion":
			if v, ok := a.Get(attrCompletion); ok {
				out = append(out, messages(decoded(v), "assistant")...)
			}
		}
	}
	return in, out, finish
}

// eventObject returns the event body as an object when it is one.
func eventObject(a pcommon.Map) (map[string]any, bool) {
	for _, k := range []string{"gen_ai.event.content", "body", "event.body"} {
		if v, ok := a.Get(k); ok {
			if obj, ok := decoded(v).(map[string]any); ok {
				return obj, true
			}
		}
	}
	return nil, false
}

func eventBody(a pcommon.Map, role string) (message, bool) {
	m := message{role: role}
	if obj, ok := eventObject(a); ok {
		if r, ok := obj["role"].(string); ok && r != "" {
			m.role = r
		}
		m.text = messageText(obj, 0)
	}
	if m.text == "" {
		for _, k := range []string{"body", "content", "gen_ai.event.content", "message.content"} {
			if v, ok := a.Get(k); ok {
				if s, ok := decoded(v).(string); ok && s != "" {
					m.text = s
					break
				}
			}
		}
	}
	if r := str(a, "role"); r != "" {
		m.role = r
	}
	return m, m.text != ""
}

// indexedMsg is one gen_ai.prompt.N.* or gen_ai.completion.N.* message.
type indexedMsg struct {
	role, finish string
	content      pcommon.Value
	hasContent   bool
	tools        map[int]*[2]string // tool_calls.M.{name,arguments}
}

// collectIndexed groups attributes named prefix.N.field in one pass over the span attributes
// (a span may carry many thousands of them) and returns the messages ordered by N.
func collectIndexed(attrs pcommon.Map, prefix string) []*indexedMsg {
	byN := map[int]*indexedMsg{}
	for k, v := range attrs.All() {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		n, field, ok := indexAndRest(rest)
		if !ok {
			continue
		}
		m := byN[n]
		if m == nil {
			m = &indexedMsg{}
			byN[n] = m
		}
		switch field {
		case "role":
			m.role = validText(v.AsString())
		case "content":
			m.content, m.hasContent = v, true
		case "finish_reason":
			m.finish = validText(v.AsString())
		default:
			t, sub, ok := indexAndRest(strings.TrimPrefix(field, "tool_calls."))
			if !ok || !strings.HasPrefix(field, "tool_calls.") || (sub != "name" && sub != "arguments") {
				continue
			}
			if m.tools == nil {
				m.tools = map[int]*[2]string{}
			}
			tc := m.tools[t]
			if tc == nil {
				tc = new([2]string)
				m.tools[t] = tc
			}
			if sub == "name" {
				tc[0] = validText(v.AsString())
			} else {
				tc[1] = validText(v.AsString())
			}
		}
	}
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]*indexedMsg, len(ns))
	for i, n := range ns {
		out[i] = byN[n]
	}
	return out
}

// indexAndRest splits "N.rest" into N (a canonical non-negative decimal) and rest.
func indexAndRest(s string) (int, string, bool) {
	digits, rest, ok := strings.Cut(s, ".")
	if !ok || digits == "" || len(digits) > 9 {
		return 0, "", false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || strconv.Itoa(n) != digits {
		return 0, "", false
	}
	return n, rest, true
}

// indexedMessages reads OpenLLMetry/Traceloop gen_ai.prompt.N.{role,content} and
// gen_ai.completion.N.{role,content,finish_reason,tool_calls.M.*} attributes. It returns the
// first completion's finish reason.
func indexedMessages(attrs pcommon.Map) (in, out []message, finish string) {
	read := func(prefix, defaultRole string) []message {
		var ms []message
		for _, im := range collectIndexed(attrs, prefix+".") {
			m := message{role: defaultRole}
			if im.role != "" {
				m.role = im.role
			}
			if finish == "" && prefix == attrCompletion {
				finish = im.finish
			}
			var texts []string
			if im.hasContent {
				switch x := decoded(im.content).(type) {
				case string:
					texts = append(texts, x)
				case []any:
					for _, part := range x {
						if s := partText(part); s != "" {
							texts = append(texts, s)
						}
					}
				}
			}
			ts := make([]int, 0, len(im.tools))
			for t := range im.tools {
				ts = append(ts, t)
			}
			sort.Ints(ts)
			for _, t := range ts {
				texts = append(texts, "tool_call "+im.tools[t][0]+" "+im.tools[t][1])
			}
			m.text = strings.Join(texts, "\n")
			if m.text != "" {
				ms = append(ms, m)
			}
		}
		return ms
	}
	in = read(attrPrompt, "user")
	out = read(attrCompletion, "assistant")
	return in, out, finish
}
