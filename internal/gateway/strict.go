package gateway

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// One reading (issue 12): the gateway forwards the bytes it was sent, so it must read them
// exactly as any upstream would. checkBody rejects every body two conforming-but-different
// JSON readers could disagree on:
//
//   - invalid JSON, invalid UTF-8, trailing data;
//   - a name repeated in one object (first-wins and last-wins readers differ);
//   - two names in one object that are equal under case folding (case-insensitive readers
//     such as Go's encoding/json pick one of them, case-sensitive ones another);
//   - a case, underscore or dash variant of a field the gateway reads, at the position where
//     it reads it ("Messages", "Stream", "tool_Calls"): a case-insensitive upstream would act
//     on it while the gateway, which reads case-sensitively, would not scan it.
//
// Names written with escapes ("m\u006fdel") are legal and read identically by every decoder,
// but the gateway's surgical patch of "model" matches raw bytes, so such bodies are
// re-formatted with canonical escaping before they are read (formatBody).

// requestError is a 400 naming the offending field (OpenAI's "param").
type requestError struct {
	msg, param, code string
}

func (e *requestError) Error() string { return e.msg }

func (e *requestError) apiError() *apiError {
	return &apiError{status: 400, typ: "invalid_request_error", code: e.code, msg: e.msg, param: e.param}
}

// position is where an object sits in an OpenAI request, for the fields the gateway reads.
type position uint8

const (
	posOther position = iota
	posTop
	posMessage
	posPart
	posTool
	posFunction
	posToolCall
	posStreamOpts
)

// readNames are the names the gateway reads (or that carry text to the model) per position.
var readNames = [...][]string{
	posTop:        {"model", "stream", "stream_options", "messages", "prompt", "suffix", "input", "user", "tools", "functions", "tool_choice", "function_call"},
	posMessage:    {"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "refusal"},
	posPart:       {"type", "text", "refusal"},
	posTool:       {"type", "function"},
	posFunction:   {"name", "description", "parameters", "arguments", "strict"},
	posToolCall:   {"id", "type", "function"},
	posStreamOpts: {"include_usage"},
	posOther:      nil,
}

// looseReadNames holds looseKey of readNames, computed once.
var looseReadNames = func() [len(readNames)][]string {
	var out [len(readNames)][]string
	for p, ns := range readNames {
		for _, n := range ns {
			out[p] = append(out[p], looseKey(n))
		}
	}
	return out
}()

// childPosition is the position of the value (or, for arrays, of the elements) of member name
// of an object at p.
func childPosition(p position, name string) position {
	switch p {
	case posTop:
		switch name {
		case "messages":
			return posMessage
		case "tools":
			return posTool
		case "functions":
			return posFunction
		case "stream_options":
			return posStreamOpts
		}
	case posMessage:
		switch name {
		case "content":
			return posPart
		case "tool_calls":
			return posToolCall
		case "function_call":
			return posFunction
		}
	case posTool, posToolCall:
		if name == "function" {
			return posFunction
		}
	}
	return posOther
}

// foldKey maps names equal under Unicode simple case folding to one key; ASCII lower-case
// names (nearly all) are returned as they are.
func foldKey(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(strings.ToUpper(s))
		}
	}
	return s
}

// looseKey is foldKey without underscores and dashes (the matching of lenient decoders such
// as go-json-experiment's "nocase").
func looseKey(s string) string {
	k := foldKey(s)
	if strings.ContainsAny(k, "_-") {
		k = strings.NewReplacer("_", "", "-", "").Replace(k)
	}
	return k
}

type frame struct {
	obj      bool
	pos      position // objects: their own position; arrays: their elements'
	wantName bool
	valPos   position // objects: the position of the value after the current name
	name     string   // objects: the current name
	idx      int      // arrays: index of the current element
	folds    []string // objects: fold keys of the names so far (small objects)
	foldSet  map[string]string
}

// eof is an empty reader for pooled decoders (jsontext rejects a nil reader).
type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }

var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(eof{}) }}

// checkBody validates body as described above. It reports whether some object name was
// written with escapes (the body then needs formatBody before it is read and patched).
func checkBody(body []byte) (escapedNames bool, err *requestError) {
	dec := decoders.Get().(*jsontext.Decoder)
	rd := bytes.NewReader(body)
	dec.Reset(rd)
	defer func() { dec.Reset(eof{}); decoders.Put(dec) }()
	var stackArr [16]frame
	stack := stackArr[:0]
	for {
		before := dec.InputOffset()
		tok, rerr := dec.ReadToken()
		if errors.Is(rerr, io.EOF) {
			if len(stack) == 0 && before > 0 {
				return escapedNames, nil
			}
			return escapedNames, &requestError{msg: "The request body is not valid JSON: unexpected end of input.", code: "invalid_json"}
		}
		if rerr != nil {
			return escapedNames, syntaxError(rerr, stack)
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantName && tok.Kind() == '"' {
			name := tok.String()
			if bytes.IndexByte(body[before:dec.InputOffset()], '\\') >= 0 {
				escapedNames = true
			}
			top.name = name
			if e := top.addName(name, stack); e != nil {
				return escapedNames, e
			}
			top.wantName = false
			top.valPos = childPosition(top.pos, name)
			continue
		}
		if k := tok.Kind(); k == '}' || k == ']' {
			stack = stack[:len(stack)-1]
			continue
		}
		vpos := posTop
		if top != nil {
			if top.obj {
				vpos = top.valPos
				top.wantName = true
			} else {
				vpos = top.pos
				top.idx++
			}
		}
		switch tok.Kind() {
		case '{':
			stack = append(stack, frame{obj: true, pos: vpos, wantName: true})
		case '[':
			stack = append(stack, frame{pos: vpos, idx: -1})
		}
	}
}

// addName applies the case rules to the next name of an object.
func (f *frame) addName(name string, stack []frame) *requestError {
	fk := foldKey(name)
	if f.foldSet != nil {
		if prev, ok := f.foldSet[fk]; ok && prev != name {
			return caseDup(prev, name, stack)
		}
		f.foldSet[fk] = name
	} else {
		for _, k := range f.folds {
			if k == fk {
				return caseDup(k, name, stack)
			}
		}
		f.folds = append(f.folds, fk)
		if len(f.folds) > 16 {
			f.foldSet = make(map[string]string, 32)
			for _, k := range f.folds {
				f.foldSet[k] = k
			}
			f.foldSet[fk] = name
		}
	}
	known := readNames[f.pos]
	if len(known) == 0 {
		return nil
	}
	lk := looseKey(name)
	for i, k := range looseReadNames[f.pos] {
		if k == lk && known[i] != name {
			return &requestError{
				msg:   "Unrecognized request field " + strconv.Quote(name) + ": did you mean " + strconv.Quote(known[i]) + "? Field names are case-sensitive.",
				param: paramPath(stack),
				code:  "invalid_field_name",
			}
		}
	}
	return nil
}

func caseDup(prev, name string, stack []frame) *requestError {
	return &requestError{
		msg:   "Duplicate field " + strconv.Quote(name) + ": the object already has a field of the same name (names differing only in case are duplicates).",
		param: paramPath(stack),
		code:  "duplicate_field",
	}
}

// paramPath renders the stack as "messages[0].content".
func paramPath(stack []frame) string {
	var b strings.Builder
	for i, f := range stack {
		if f.obj {
			if f.name == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.name)
			continue
		}
		if i == len(stack)-1 && f.idx < 0 {
			continue
		}
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(max(f.idx, 0)))
		b.WriteByte(']')
	}
	return b.String()
}

func syntaxError(err error, stack []frame) *requestError {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		param := pointerParam(se.JSONPointer)
		if errors.Is(se.Err, jsontext.ErrDuplicateName) {
			last := param
			if i := strings.LastIndexAny(last, ".]"); i >= 0 {
				last = last[i+1:]
			}
			return &requestError{msg: "Duplicate field " + strconv.Quote(last) + " in the request body.", param: param, code: "duplicate_field"}
		}
		return &requestError{msg: "The request body is not valid JSON at byte " + strconv.FormatInt(se.ByteOffset, 10) + ": " + se.Err.Error() + ".", param: param, code: "invalid_json"}
	}
	return &requestError{msg: "The request body is not valid JSON.", param: paramPath(stack), code: "invalid_json"}
}

// pointerParam renders a JSON pointer (/messages/0/content) as messages[0].content.
func pointerParam(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && tok != "" {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// formatBody re-encodes body with canonical string escaping (names and values decode to the
// same text for every reader); numbers and member order are kept.
func formatBody(body []byte) ([]byte, error) {
	return jsontext.AppendFormat(nil, body)
}
