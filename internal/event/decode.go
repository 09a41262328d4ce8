package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
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
	if ev, ok := decodeSingle(trimmed); ok {
		return []*Event{ev}, nil
	}
	return decodeStream(body)
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
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
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
// (pretty-printed). It reports false when more follows, so the body is NDJSON, or on any error,
// which the NDJSON path then reports with its line.
func decodeSingle(body []byte) (*Event, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	ev := new(Event)
	if err := dec.Decode(ev); err != nil {
		return nil, false
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return nil, false
	}
	return ev, true
}

// decodeStream handles one object or NDJSON: objects separated by newlines.
func decodeStream(body []byte) ([]*Event, error) {
	var evs []*Event
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

func decodeOne(raw []byte) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	ev := new(Event)
	if err := dec.Decode(ev); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object (one event per line)")
	}
	return ev, nil
}

// jsonError turns an encoding/json error into a FieldError naming the field where it can.
func jsonError(index, line int, err error) *FieldError {
	fe := &FieldError{Index: index, Line: line}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &typeErr):
		fe.Field = typeErr.Field
		fe.Message = fmt.Sprintf("must be %s, got JSON %s", jsonKind(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		fe.Message = fmt.Sprintf("invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &timeErr):
		fe.Field = "time"
		fe.Message = "must be an RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		fe.Field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		fe.Message = "unknown field (extra data belongs in attributes)"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		fe.Message = "truncated JSON"
	default:
		fe.Message = err.Error()
	}
	return fe
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case goType == "string" || goType == "event.Type":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "event."), strings.HasPrefix(goType, "*event."):
		return "an object"
	case goType == "time.Time":
		return "an RFC 3339 timestamp string"
	}
	return goType
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
