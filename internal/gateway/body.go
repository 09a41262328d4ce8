package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// errNotObject is returned when a request body is not a JSON object.
var errNotObject = errors.New("request body is not a JSON object")

// member is one top-level member of a JSON object: raw key bytes (with quotes) and value span.
type member struct {
	key        []byte // the raw, quoted key
	start, end int    // value span in the body
}

// members lists the top-level members of a JSON object without decoding the values, so the
// gateway can patch "model" and "stream_options" surgically instead of re-marshalling a body.
// It also returns the offset of the closing brace. It validates structure only as far as
// needed to find the spans; encoding/json has already validated the body.
func members(b []byte, out []member) ([]member, int, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, 0, errNotObject
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, i, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, 0, errNotObject
		}
		ke, err := skipString(b, i)
		if err != nil {
			return nil, 0, err
		}
		key := b[i:ke]
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, 0, errNotObject
		}
		i = skipWS(b, i+1)
		ve, err := skipValue(b, i)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, member{key: key, start: i, end: ve})
		i = skipWS(b, ve)
		if i >= len(b) {
			return nil, 0, errNotObject
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return out, i, nil
		default:
			return nil, 0, errNotObject
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errNotObject
}

// skipValue returns the offset after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errNotObject
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errNotObject
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errNotObject
		}
		return j, nil
	}
}

// keyIs reports whether a raw quoted key equals name. A key spelled with escapes never matches;
// the patched member is then appended after it, and JSON decoders keep the last duplicate.
func keyIs(raw []byte, name string) bool {
	return len(raw) == len(name)+2 && string(raw[1:len(raw)-1]) == name
}

// patchBody writes body to dst with the top-level "model" value replaced by model (when model
// is not empty) and, when addUsage is set, "stream_options" set to {"include_usage":true}.
func patchBody(dst *bytes.Buffer, body []byte, model string, addUsage bool) error {
	var arr [16]member
	ms, closing, err := members(body, arr[:0])
	if err != nil {
		return err
	}
	type repl struct {
		start, end int
		val        []byte
	}
	var rsArr [4]repl
	rs := rsArr[:0]
	var modelVal []byte
	if model != "" {
		modelVal = strconv.AppendQuote(nil, model)
		if !json.Valid(modelVal) { // strconv quoting of non-UTF-8 or control bytes is not JSON
			modelVal, _ = json.Marshal(model)
		}
	}
	usageVal := []byte(`{"include_usage":true}`)
	usageDone, modelDone := false, false
	for _, m := range ms {
		switch {
		case model != "" && keyIs(m.key, "model"):
			rs = append(rs, repl{m.start, m.end, modelVal})
			modelDone = true
		case addUsage && keyIs(m.key, "stream_options"):
			rs = append(rs, repl{m.start, m.end, usageVal})
			usageDone = true
		}
	}
	dst.Grow(len(body) + 64)
	pos := 0
	for _, r := range rs {
		dst.Write(body[pos:r.start])
		dst.Write(r.val)
		pos = r.end
	}
	dst.Write(body[pos:closing])
	sep := ","
	if len(ms) == 0 {
		sep = ""
	}
	if model != "" && !modelDone {
		dst.WriteString(sep + `"model":`)
		dst.Write(modelVal)
		sep = ","
	}
	if addUsage && !usageDone {
		dst.WriteString(sep + `"stream_options":`)
		dst.Write(usageVal)
	}
	dst.Write(body[closing:])
	return nil
}
