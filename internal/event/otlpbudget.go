package event

import (
	"bytes"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/go-json-experiment/json/jsontext"
	"google.golang.org/protobuf/encoding/protowire"
)

// Decoding budgets for OTLP bodies, checked before the OpenTelemetry decoder allocates the
// tree: a 9.5 MB protobuf of 1M nested AnyValues used to take the process from 209 MB to
// 1.07 GB. Real GenAI spans nest attribute values a few levels deep at most.
const (
	// MaxOTLPValueDepth bounds the nesting of attribute values (arrays and key-value lists).
	MaxOTLPValueDepth = 32
	// MaxOTLPValues bounds the attribute values (at any depth) of one request.
	MaxOTLPValues = 1 << 20
	// maxOTLPJSONDepth bounds the JSON nesting of an OTLP/JSON body: the envelope is about ten
	// levels deep and each value level adds at most four.
	// The exact value depth of a JSON body is checked after decoding (checkOTLPDepth).
	maxOTLPJSONDepth = 16 + 4*MaxOTLPValueDepth
)

var errOTLPBudget = errors.New("budget exceeded")

// otlpMsg names the messages of an ExportTraceServiceRequest the budget check walks.
type otlpMsg int

const (
	msgRequest otlpMsg = iota
	msgResourceSpans
	msgResource
	msgScopeSpans
	msgScope
	msgSpan
	msgSpanEvent
	msgSpanLink
	msgKeyValue
	msgAnyValue
	msgArrayValue
	msgKeyValueList
	msgOther // a message or bytes field without attribute values: not walked
)

// otlpChildren maps a message's length-delimited field numbers to the message they hold
// (opentelemetry-proto trace/v1, common/v1, resource/v1).
var otlpChildren = [...]map[protowire.Number]otlpMsg{
	msgRequest:       {1: msgResourceSpans},
	msgResourceSpans: {1: msgResource, 2: msgScopeSpans},
	msgResource:      {1: msgKeyValue},
	msgScopeSpans:    {1: msgScope, 2: msgSpan},
	msgScope:         {3: msgKeyValue},
	msgSpan:          {9: msgKeyValue, 11: msgSpanEvent, 13: msgSpanLink},
	msgSpanEvent:     {3: msgKeyValue},
	msgSpanLink:      {4: msgKeyValue},
	msgKeyValue:      {2: msgAnyValue},
	msgAnyValue:      {5: msgArrayValue, 6: msgKeyValueList},
	msgArrayValue:    {1: msgAnyValue},
	msgKeyValueList:  {1: msgKeyValue},
}

// checkOTLPProto walks an OTLP protobuf trace export request and fails when its attribute values
// nest deeper than MaxOTLPValueDepth or number more than MaxOTLPValues. Malformed wire data is
// an error too (the decoder would reject it anyway).
func checkOTLPProto(body []byte) error {
	values := 0
	return walkOTLP(body, msgRequest, 0, &values)
}

func walkOTLP(b []byte, m otlpMsg, depth int, values *int) error {
	if m == msgAnyValue {
		depth++
		*values++
		if depth > MaxOTLPValueDepth {
			return fmt.Errorf("%w: attribute values nested deeper than %d levels", errOTLPBudget, MaxOTLPValueDepth)
		}
		if *values > MaxOTLPValues {
			return fmt.Errorf("%w: more than %d attribute values", errOTLPBudget, MaxOTLPValues)
		}
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if child, ok := otlpChildren[m][num]; ok {
				if err := walkOTLP(v, child, depth, values); err != nil {
					return err
				}
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

// checkOTLPJSON fails when a JSON body nests deeper than the OTLP envelope plus
// MaxOTLPValueDepth value levels allow, or holds more than MaxOTLPValues values in total.
func checkOTLPJSON(body []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	tokens := 0
	for {
		if _, err := dec.ReadToken(); err != nil {
			return nil // syntax errors are the decoder's to report, with its message
		}
		if dec.StackDepth() > maxOTLPJSONDepth {
			return fmt.Errorf("%w: JSON nested deeper than %d levels", errOTLPBudget, maxOTLPJSONDepth)
		}
		if tokens++; tokens > 4*MaxOTLPValues {
			return fmt.Errorf("%w: more than %d JSON values", errOTLPBudget, 4*MaxOTLPValues)
		}
	}
}

// valueDepth is the deepest attribute value nesting of decoded traces.
func valueDepth(td ptrace.Traces) int {
	var depth func(v pcommon.Value) int
	depth = func(v pcommon.Value) int {
		d := 0
		switch v.Type() {
		case pcommon.ValueTypeSlice:
			for i := range v.Slice().Len() {
				d = max(d, depth(v.Slice().At(i)))
			}
		case pcommon.ValueTypeMap:
			for _, c := range v.Map().All() {
				d = max(d, depth(c))
			}
		}
		return d + 1
	}
	attrs := func(m pcommon.Map) (d int) {
		for _, v := range m.All() {
			d = max(d, depth(v))
		}
		return d
	}
	d := 0
	for _, rs := range td.ResourceSpans().All() {
		d = max(d, attrs(rs.Resource().Attributes()))
		for _, ss := range rs.ScopeSpans().All() {
			d = max(d, attrs(ss.Scope().Attributes()))
			for _, sp := range ss.Spans().All() {
				d = max(d, attrs(sp.Attributes()))
				for _, e := range sp.Events().All() {
					d = max(d, attrs(e.Attributes()))
				}
				for _, l := range sp.Links().All() {
					d = max(d, attrs(l.Attributes()))
				}
			}
		}
	}
	return d
}

// checkOTLPDepth fails when decoded traces nest attribute values deeper than MaxOTLPValueDepth.
func checkOTLPDepth(td ptrace.Traces) error {
	if d := valueDepth(td); d > MaxOTLPValueDepth {
		return fmt.Errorf("%w: attribute values nested deeper than %d levels", errOTLPBudget, MaxOTLPValueDepth)
	}
	return nil
}
