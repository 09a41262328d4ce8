package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// v1Compat makes go-json-experiment/json decode as leniently as encoding/json does; it is two to
// five times faster.
var v1Compat = jsonv1.DefaultOptionsV1()

// Text is the raw content of an inference event, kept apart from the audit leaf.
type Text struct {
	Input  string `json:"input,omitempty"`
	Output string `json:"output,omitempty"`
	// Redacted records in the side blob that Input and Output were already redacted when the
	// event was written (store_text: redacted), so the index writer need not redact them again.
	Redacted bool `json:"redacted,omitempty"`
}

// Empty reports whether there is no text.
func (t Text) Empty() bool { return t.Input == "" && t.Output == "" }

// Text returns the raw text the event carries.
func (e *Event) Text() Text {
	var t Text
	if e.Request != nil {
		t.Input = e.Request.Input
	}
	if e.Response != nil {
		t.Output = e.Response.Output
	}
	return t
}

// WithoutText returns a shallow copy of a normalized event with raw input and output removed;
// hashes and lengths stay. This is what the audit log records (docs/ARCHITECTURE.md §6).
func (e *Event) WithoutText() *Event {
	c := *e
	if e.Request != nil {
		r := *e.Request
		r.Input = ""
		c.Request = &r
	}
	if e.Response != nil {
		r := *e.Response
		r.Output = ""
		c.Response = &r
	}
	return &c
}

// SetText puts text back into an event read from the audit log.
func (e *Event) SetText(t Text) {
	if t.Input != "" {
		if e.Request == nil {
			e.Request = &Request{}
		}
		e.Request.Input = t.Input
	}
	if t.Output != "" {
		if e.Response == nil {
			e.Response = &Response{}
		}
		e.Response.Output = t.Output
	}
}

// Leaf is the audit-log entry for a normalized event: its JSON without raw text, byte for byte
// what encoding/json's Marshal of WithoutText produces (the log holds entries written both ways;
// the tests and FuzzDecode compare the two). It is written by hand because it is on the ingest
// hot path, where reflection cost about 5 µs per event.
func (e *Event) Leaf() ([]byte, error) {
	b, err := e.appendLeaf(make([]byte, 0, 512))
	if err != nil {
		return nil, fmt.Errorf("encode leaf %s: %w", e.ID, err)
	}
	return b, nil
}

// ParseLeaf decodes an audit-log entry back into an event (without text).
func ParseLeaf(b []byte) (*Event, error) {
	ev := new(Event)
	if err := jsonv2.Unmarshal(b, ev, v1Compat); err != nil {
		return nil, fmt.Errorf("decode leaf: %w", err)
	}
	return ev, nil
}

// Blob is the audit-log side blob for the text: {"input":..,"output":..}, byte for byte what
// encoding/json's Marshal produces.
func (t Text) Blob() ([]byte, error) {
	// Room for the keys and quotes (40 bytes with "redacted") and some escaping, so that the
	// buffer is not reallocated and copied for an ordinary text.
	n := len(t.Input) + len(t.Output)
	b := make([]byte, 0, n+n/16+64)
	o := object{b: b}
	o.str("input", t.Input)
	o.str("output", t.Output)
	if t.Redacted {
		o.key("redacted")
		o.b = append(o.b, "true"...)
	}
	return o.end(), nil
}

// ParseText decodes a side blob written by Blob (or by encoding/json).
func ParseText(blob []byte) (Text, error) {
	var t Text
	if err := jsonv2.Unmarshal(blob, &t, v1Compat); err != nil {
		return Text{}, fmt.Errorf("decode text: %w", err)
	}
	return t, nil
}

// appendLeaf appends the JSON of e without its raw text, in struct field order with
// encoding/json's omitempty/omitzero rules.
func (e *Event) appendLeaf(b []byte) ([]byte, error) {
	o := object{b: b}
	o.str("id", e.ID)
	o.key("type")
	o.b = appendString(o.b, string(e.Type))
	o.key("time")
	o.b = append(o.b, '"')
	var err error
	if o.b, err = e.Time.AppendText(o.b); err != nil {
		return nil, fmt.Errorf("time: %w", err)
	}
	o.b = append(o.b, '"')
	o.str("environment", e.Environment)
	if e.Model != (Model{}) {
		m := o.sub("model")
		m.str("name", e.Model.Name)
		m.str("version", e.Model.Version)
		m.str("provider", e.Model.Provider)
		m.str("upstream", e.Model.Upstream)
		o.close(m)
	}
	if a := &e.Actor; a.User != "" || a.Session != "" || a.APIKeyID != "" || a.ServiceAccount != "" || a.Consumer != "" || a.Groups != nil || a.Roles != nil {
		m := o.sub("actor")
		m.str("user", a.User)
		m.str("session", a.Session)
		m.str("api_key_id", a.APIKeyID)
		m.str("service_account", a.ServiceAccount)
		m.str("consumer", a.Consumer)
		m.strs("groups", a.Groups)
		m.strs("roles", a.Roles)
		o.close(m)
	}
	if e.Source != (Source{}) {
		m := o.sub("source")
		m.str("ip", e.Source.IP)
		m.str("geo", e.Source.Geo)
		m.str("client", e.Source.Client)
		m.str("endpoint", e.Source.Endpoint)
		m.str("destination", e.Source.Destination)
		o.close(m)
	}
	o.anyMap("attributes", e.Attributes)
	if r := e.Request; r != nil {
		m := o.sub("request")
		m.str("id", r.ID)
		m.str("input_sha256", r.InputSHA256)
		m.int64p("input_tokens", r.InputTokens)
		m.str("input_class", r.InputClass)
		m.anyMap("features", r.Features)
		m.int("input_chars", int64(r.InputChars))
		o.close(m)
	}
	if r := e.Response; r != nil {
		m := o.sub("response")
		m.str("output_sha256", r.OutputSHA256)
		m.int64p("output_tokens", r.OutputTokens)
		m.str("status", r.Status)
		m.str("error_code", r.ErrorCode)
		m.floatp("latency_ms", r.LatencyMS)
		m.floatp("ttft_ms", r.TTFTMS)
		m.anyValue("prediction", r.Prediction)
		m.floatp("confidence", r.Confidence)
		m.str("finish_reason", r.FinishReason)
		if r.TokensEstimated {
			m.key("tokens_estimated")
			m.b = append(m.b, "true"...)
		}
		m.int("output_chars", int64(r.OutputChars))
		o.close(m)
	}
	o.floatp("cost_usd", e.CostUSD)
	if s := e.Safety; s != nil {
		m := o.sub("safety")
		if len(s.Triggers) > 0 {
			m.key("triggers")
			m.b = append(m.b, '[')
			for i, t := range s.Triggers {
				if i > 0 {
					m.b = append(m.b, ',')
				}
				tr := object{b: m.b}
				tr.str("detector", t.Detector)
				tr.key("category")
				tr.b = appendString(tr.b, t.Category)
				tr.float("score", t.Score)
				tr.str("role", t.Role)
				tr.int("start", int64(t.Start))
				tr.int("end", int64(t.End))
				m.close(tr)
			}
			m.b = append(m.b, ']')
		}
		m.str("action", s.Action)
		o.close(m)
	}
	if v := e.Override; v != nil {
		m := o.sub("override")
		m.str("by", v.By)
		m.str("reason", v.Reason)
		o.close(m)
	}
	o.str("action", e.Action)
	o.str("resource", e.Resource)
	o.str("decision", e.Decision)
	o.str("reason", e.Reason)
	o.str("privilege", e.Privilege)
	o.str("approval_id", e.ApprovalID)
	o.int("bytes", e.Bytes)
	o.int("records", e.Records)
	o.str("format", e.Format)
	o.str("stage", e.Stage)
	if a := e.Artifact; a != nil {
		m := o.sub("artifact")
		m.str("uri", a.URI)
		m.str("sha256", a.SHA256)
		o.close(m)
	}
	o.str("approved_by", e.ApprovedBy)
	o.str("change_id", e.ChangeID)
	o.anyMap("details", e.Details)
	o.str("request_id", e.RequestID)
	if e.Rating != nil {
		o.key("rating")
		o.b = strconv.AppendInt(o.b, int64(*e.Rating), 10)
	}
	o.anyValue("label", e.Label)
	o.str("comment", e.Comment)
	if p := e.Probe; p != nil {
		m := o.sub("probe")
		m.str("pack", p.Pack)
		m.str("name", p.Name)
		m.str("technique", p.Technique)
		o.close(m)
	}
	if e.Passed != nil {
		o.key("passed")
		o.b = strconv.AppendBool(o.b, *e.Passed)
	}
	o.str("evidence", e.Evidence)
	out := o.end()
	if o.err != nil {
		return nil, o.err
	}
	return out, nil
}

// object appends one JSON object's members; the first error sticks.
type object struct {
	b     []byte
	n     int
	err   error
	begun bool
}

func (o *object) key(k string) {
	if !o.begun {
		o.b = append(o.b, '{')
		o.begun = true
	}
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...) // keys are constant, plain ASCII
	o.b = append(o.b, '"', ':')
}

// sub starts a nested object under key k.
func (o *object) sub(k string) object {
	o.key(k)
	return object{b: o.b}
}

// close ends the nested object m and continues after it.
func (o *object) close(m object) {
	o.b = m.end()
	o.err = errors.Join(o.err, m.err)
}

func (o *object) end() []byte {
	if !o.begun {
		return append(o.b, '{', '}')
	}
	return append(o.b, '}')
}

func (o *object) str(k, v string) {
	if v != "" {
		o.key(k)
		o.b = appendString(o.b, v)
	}
}

func (o *object) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	o.key(k)
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendString(o.b, s)
	}
	o.b = append(o.b, ']')
}

func (o *object) int(k string, v int64) {
	if v != 0 {
		o.key(k)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
}

func (o *object) int64p(k string, v *int64) {
	if v != nil {
		o.key(k)
		o.b = strconv.AppendInt(o.b, *v, 10)
	}
}

func (o *object) float(k string, v float64) {
	if v != 0 {
		o.key(k)
		o.appendFloat(v)
	}
}

func (o *object) floatp(k string, v *float64) {
	if v != nil {
		o.key(k)
		o.appendFloat(*v)
	}
}

// appendFloat formats like encoding/json: shortest representation, exponent form below 1e-6
// and from 1e21, with a two-digit negative exponent trimmed (1e-07 -> 1e-7).
func (o *object) appendFloat(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		o.err = errors.Join(o.err, fmt.Errorf("unsupported number %v", f))
		o.b = append(o.b, '0')
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	o.b = strconv.AppendFloat(o.b, f, format, -1, 64)
	if n := len(o.b); format == 'e' && n >= 4 && o.b[n-4] == 'e' && o.b[n-3] == '-' && o.b[n-2] == '0' {
		o.b[n-2] = o.b[n-1]
		o.b = o.b[:n-1]
	}
}

// anyValue appends a free-form value under k unless it is nil (omitempty on an interface).
func (o *object) anyValue(k string, v any) {
	if v != nil {
		o.key(k)
		o.value(v)
	}
}

func (o *object) value(v any) {
	switch v := v.(type) {
	case nil:
		o.b = append(o.b, "null"...)
	case string:
		o.b = appendString(o.b, v)
	case float64:
		o.appendFloat(v)
	case bool:
		o.b = strconv.AppendBool(o.b, v)
	default: // nested objects and arrays (details) and Go values set by producers
		j, err := json.Marshal(v)
		if err != nil {
			o.err = errors.Join(o.err, err)
			j = []byte("null")
		}
		o.b = append(o.b, j...)
	}
}

// anyMap appends a map with sorted keys unless it is empty (omitempty on a map).
func (o *object) anyMap(k string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	o.key(k)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o.b = append(o.b, '{')
	for i, k := range keys {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendString(o.b, k)
		o.b = append(o.b, ':')
		o.value(m[k])
	}
	o.b = append(o.b, '}')
}

// htmlSafe marks the ASCII bytes encoding/json copies unescaped (it escapes <, > and & too).
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString quotes s exactly as encoding/json does: HTML-safe, invalid UTF-8 replaced by
// U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
