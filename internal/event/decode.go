package event

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// FieldError is a validation or decoding error that names where it happened: the position of the
// event inside a batch (Index, 0-based; Line, 1-based, for NDJSON) and the JSON field path.
type FieldError struct {
	Index   int    `json:"index"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "event %d", e.Index)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Message)
	return b.String()
}

// MaxBatch is the largest number of events one Decode call accepts.
const MaxBatch = 100_000

// Decoding uses github.com/go-json-experiment/json (the encoding/json/v2 proposal): about three
// times faster than encoding/json's Decoder with DisallowUnknownFields, and its errors carry a
// JSON Pointer, so a FieldError names the exact field (request.input_tokens, actor.groups[0]).
// The options keep encoding/json's lenient parts (case-insensitive names, duplicate names with
// the last one winning, invalid UTF-8 replaced by U+FFFD) and reject unknown fields.
var strictDecode = jsonv2.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	jsonv1.ReportErrorsWithLegacySemantics(false),
	jsonv2.RejectUnknownMembers(true),
)

// Decode parses a request body holding one JSON event, a JSON array of events, or NDJSON (one
// event per line; blank lines are ignored). Unknown fields are rejected. It does not validate;
// call Validate on each event (or use DecodeValid).
func Decode(body []byte) ([]*Event, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &FieldError{Index: 0, Message: "empty body: send one JSON event, a JSON array, or NDJSON"}
	}
	if trimmed[0] == '[' {
		return decodeArray(trimmed)
	}
	if multiLineObject(trimmed) {
		if ev, ok := decodeSingle(trimmed); ok {
			return []*Event{ev}, nil
		}
	}
	return decodeStream(body)
}

// multiLineObject reports whether body may be one object spread over several lines
// (pretty-printed): it has more than one non-blank line and the first is not a JSON value on
// its own. NDJSON bodies, whose first line is a complete object, skip the whole-body attempt.
func multiLineObject(body []byte) bool {
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 || len(bytes.TrimSpace(body[nl+1:])) == 0 {
		return false
	}
	return !jsontext.Value(bytes.TrimSpace(body[:nl])).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}

// DecodeValid decodes and validates a body: every event must be valid or none is returned.
func DecodeValid(body []byte) ([]*Event, error) {
	evs, err := Decode(body)
	if err != nil {
		return nil, err
	}
	for i, ev := range evs {
		if err := ev.Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Index = i
				if len(evs) > 1 || fe.Line == 0 {
					fe.Line = lineOfIndex(body, i)
				}
				return nil, fe
			}
			return nil, &FieldError{Index: i, Message: err.Error()}
		}
	}
	return evs, nil
}

func decodeArray(body []byte) ([]*Event, error) {
	var raws []jsontext.Value
	if err := jsonv2.Unmarshal(body, &raws, strictDecode); err != nil {
		return nil, jsonError(0, 0, err)
	}
	if len(raws) == 0 {
		return nil, &FieldError{Index: 0, Message: "empty array"}
	}
	if len(raws) > MaxBatch {
		return nil, &FieldError{Index: MaxBatch, Message: fmt.Sprintf("too many events in one request (max %d)", MaxBatch)}
	}
	evs := make([]*Event, len(raws))
	for i, raw := range raws {
		ev, err := decodeOne(raw)
		if err != nil {
			return nil, jsonError(i, 0, err)
		}
		evs[i] = ev
	}
	return evs, nil
}

// decodeSingle decodes a body holding exactly one JSON object, which may span lines
// (pretty-printed). It reports false on any error, which the NDJSON path then reports with its
// line.
func decodeSingle(body []byte) (*Event, bool) {
	ev, err := decodeOne(body)
	return ev, err == nil
}

// decodeStream handles one object or NDJSON: objects separated by newlines.
func decodeStream(body []byte) ([]*Event, error) {
	evs := make([]*Event, 0, min(bytes.Count(body, []byte{'\n'})+1, MaxBatch))
	line := 0
	for len(body) > 0 {
		line++
		var cur []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			cur, body = body[:i], body[i+1:]
		} else {
			cur, body = body, nil
		}
		cur = bytes.TrimSpace(cur)
		if len(cur) == 0 {
			continue
		}
		if len(evs) >= MaxBatch {
			return nil, &FieldError{Index: len(evs), Line: line, Message: fmt.Sprintf("too many events in one request (max %d)", MaxBatch)}
		}
		if cur[0] != '{' {
			return nil, &FieldError{Index: len(evs), Line: line, Message: "expected a JSON object"}
		}
		ev, err := decodeOne(cur)
		if err != nil {
			if len(evs) == 0 && len(body) == 0 {
				return nil, jsonError(0, 0, err)
			}
			return nil, jsonError(len(evs), line, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return nil, &FieldError{Index: 0, Message: "no events in body"}
	}
	return evs, nil
}

// errTrailing reports data after the one JSON object a line (or body) may hold.
var errTrailing = errors.New("unexpected data after the JSON object (one event per line)")

func decodeOne(raw []byte) (*Event, error) {
	// Trailing Unicode white space (\f, \v, U+00A0, ...) was accepted before, as encoding/json's
	// callers here trimmed with bytes.TrimSpace; JSON itself allows only " \t\r\n".
	raw = bytes.TrimRightFunc(raw, unicode.IsSpace)
	ev := new(Event)
	if err := jsonv2.Unmarshal(raw, ev, strictDecode); err != nil {
		var se *jsontext.SyntacticError
		if errors.As(err, &se) && se.JSONPointer == "" && strings.Contains(se.Error(), "after top-level value") {
			return nil, errTrailing
		}
		return nil, err
	}
	return ev, nil
}

// jsonError turns a decoding error into a FieldError naming the field where it can.
func jsonError(index, line int, err error) *FieldError {
	fe := &FieldError{Index: index, Line: line}
	var semErr *jsonv2.SemanticError
	var synErr *jsontext.SyntacticError
	var timeErr *time.ParseError
	switch {
	case errors.Is(err, errTrailing):
		fe.Message = err.Error()
	case errors.As(err, &semErr) && errors.Is(semErr.Err, jsonv2.ErrUnknownName):
		fe.Field = fieldPath(semErr.JSONPointer)
		fe.Message = "unknown field (extra data belongs in attributes)"
	case errors.As(err, &semErr) && (errors.As(semErr.Err, &timeErr) || semErr.GoType == reflect.TypeFor[time.Time]()):
		fe.Field = fieldPath(semErr.JSONPointer)
		fe.Message = "must be an RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z"
	case errors.As(err, &semErr):
		fe.Field = fieldPath(semErr.JSONPointer)
		got := "JSON " + semErr.JSONKind.String()
		if semErr.JSONKind == 0 {
			got = "invalid JSON"
		}
		switch kind := jsonKind(semErr.GoType); {
		case semErr.GoType == nil:
			fe.Message = semErr.Error()
		case kind == "a number" && semErr.JSONKind == '0':
			fe.Message = "must be an integer within range"
		default:
			fe.Message = fmt.Sprintf("must be %s, got %s", kind, got)
		}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		fe.Message = "truncated JSON"
	case errors.As(err, &synErr):
		fe.Field = fieldPath(synErr.JSONPointer)
		fe.Message = fmt.Sprintf("invalid JSON at byte %d: %s", synErr.ByteOffset, synErr.Err)
	default:
		fe.Message = err.Error()
	}
	return fe
}

// fieldPath turns a JSON Pointer (RFC 6901) into the dotted field path FieldError uses:
// "/request/input_tokens" -> "request.input_tokens", "/actor/groups/0" -> "actor.groups[0]".
// Numeric segments are array indexes: the only maps in the schema hold scalars or free-form
// JSON, where no decoding error can arise.
func fieldPath(ptr jsontext.Pointer) string {
	var b strings.Builder
	for tok := range ptr.Tokens() {
		if tok != "" && strings.Trim(tok, "0123456789") == "" && b.Len() > 0 {
			b.WriteByte('[')
			b.WriteString(tok)
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 timestamp string"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// lineOfIndex returns the 1-based line of the i-th non-blank line of an NDJSON body, or 0 when
// the body is a single object or an array.
func lineOfIndex(body []byte, i int) int {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return 0
	}
	line, seen := 0, -1
	for len(body) > 0 {
		line++
		var cur []byte
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			cur, body = body[:j], body[j+1:]
		} else {
			cur, body = body, nil
		}
		if len(bytes.TrimSpace(cur)) == 0 {
			continue
		}
		seen++
		if seen == i {
			return line
		}
	}
	return 0
}
