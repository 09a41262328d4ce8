package event

import (
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// nestedTraces is one span whose attribute "deep" nests depth array values, plus event and
// link attributes nested the same way (every path the budget check walks).
func nestedTraces(depth int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("chat m")
	sp.Attributes().PutStr("gen_ai.operation.name", "chat")
	nest := func(v pcommon.Value) {
		for range depth - 1 {
			v = v.SetEmptySlice().AppendEmpty()
		}
		v.SetStr("leaf")
	}
	nest(sp.Attributes().PutEmpty("deep"))
	nest(sp.Events().AppendEmpty().Attributes().PutEmpty("deep"))
	nest(sp.Links().AppendEmpty().Attributes().PutEmpty("deep"))
	return td
}

// TestOTLPDepthBudget reproduces the medium finding of issue 12: a protobuf export of deeply
// nested AnyValues was decoded whole (1M levels took RSS from 209 MB to 1.07 GB). Now a body
// nesting deeper than MaxOTLPValueDepth is a 400-style FieldError before decoding, in protobuf
// and JSON, and values nested within the budget still decode.
func TestOTLPDepthBudget(t *testing.T) {
	var pm ptrace.ProtoMarshaler
	var jm ptrace.JSONMarshaler
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{1, true}, {MaxOTLPValueDepth, true}, {MaxOTLPValueDepth + 1, false}, {20000, false}} {
		td := nestedTraces(tc.depth)
		pb, err := pm.MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		js, err := jm.MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		for ct, body := range map[string][]byte{ContentTypeOTLPProto: pb, ContentTypeOTLPJSON: js} {
			got, err := UnmarshalOTLP(body, ct)
			if tc.ok {
				if err != nil {
					t.Fatalf("depth %d %s: %v", tc.depth, ct, err)
				}
				if d := valueDepth(got); d != tc.depth {
					t.Fatalf("depth %d %s: decoded depth %d", tc.depth, ct, d)
				}
				continue
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(fe.Message, "nested deeper") {
				t.Fatalf("depth %d %s: err %v, want a FieldError about nesting", tc.depth, ct, err)
			}
		}
	}
}

// TestOTLPValueBudget: more attribute values than MaxOTLPValues are refused.
func TestOTLPValueBudget(t *testing.T) {
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().Attributes().PutEmptySlice("many")
	s.EnsureCapacity(MaxOTLPValues + 1)
	for range MaxOTLPValues + 1 {
		s.AppendEmpty().SetBool(true)
	}
	var pm ptrace.ProtoMarshaler
	pb, err := pm.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOTLPProto(pb); err == nil || !strings.Contains(err.Error(), "attribute values") {
		t.Fatalf("err %v", err)
	}
}

// FuzzOTLPBudget: the budget check never panics, and whatever it admits and the OpenTelemetry
// decoder accepts nests no deeper than the budget (a differential between the walker's reading
// of the wire format and the decoder's).
func FuzzOTLPBudget(f *testing.F) {
	var pm ptrace.ProtoMarshaler
	for _, d := range []int{1, 3, MaxOTLPValueDepth + 2} {
		b, _ := pm.MarshalTraces(nestedTraces(d))
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkOTLPProto(body) != nil {
			return
		}
		var u ptrace.ProtoUnmarshaler
		td, err := u.UnmarshalTraces(body)
		if err != nil {
			return
		}
		if d := valueDepth(td); d > MaxOTLPValueDepth {
			t.Fatalf("admitted depth %d", d)
		}
	})
}

// FuzzOTLPJSONBudget: OTLP/JSON bodies never panic the budget checks, and a body UnmarshalOTLP
// accepts nests no deeper than the budget.
func FuzzOTLPJSONBudget(f *testing.F) {
	var jm ptrace.JSONMarshaler
	for _, d := range []int{1, 4, MaxOTLPValueDepth + 1} {
		b, _ := jm.MarshalTraces(nestedTraces(d))
		f.Add(b)
	}
	f.Add([]byte(`{"resourceSpans":[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		td, err := UnmarshalOTLP(body, ContentTypeOTLPJSON)
		if err != nil {
			return
		}
		if d := valueDepth(td); d > MaxOTLPValueDepth {
			t.Fatalf("accepted depth %d", d)
		}
	})
}
