package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaPath = "../../docs/schema/event-v1.json"

// compileSchema compiles the published JSON Schema with format assertions on (2020-12 treats
// formats as annotations unless asked).
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	if id == "" {
		t.Fatalf("%s has no $id", schemaPath)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}
	return sch
}

func schemaValidate(sch *jsonschema.Schema, doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestExamples checks every example in examples/events against the JSON Schema and through
// DecodeValid, so the docs, the schema and the Go code cannot drift apart.
func TestExamples(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob("../../examples/events/*")
	if err != nil {
		t.Fatal(err)
	}
	types := map[Type]int{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var docs [][]byte
			switch filepath.Ext(file) {
			case ".json":
				docs = [][]byte{body}
			case ".ndjson":
				sc := bufio.NewScanner(bytes.NewReader(body))
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
						docs = append(docs, bytes.Clone(line))
					}
				}
				if len(docs) < 2 {
					t.Fatalf("NDJSON example with %d events", len(docs))
				}
			default:
				t.Fatalf("unexpected file in examples/events: %s", file)
			}
			for i, doc := range docs {
				if err := schemaValidate(sch, doc); err != nil {
					t.Errorf("event %d does not match the schema: %v", i, err)
				}
			}
			evs, err := DecodeValid(body)
			if err != nil {
				t.Fatalf("DecodeValid: %v", err)
			}
			if len(evs) != len(docs) {
				t.Fatalf("DecodeValid gave %d events, want %d", len(evs), len(docs))
			}
			for _, ev := range evs {
				types[ev.Type]++
				ev.Normalize()
				if _, err := ev.Leaf(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	for _, typ := range []Type{TypeInference, TypeAccess, TypePipeline, TypeFeedback, TypeProbe} {
		if types[typ] == 0 {
			t.Errorf("no example of a %s event", typ)
		}
	}
}

const base = `"time":"2026-01-02T03:04:05Z"`

// TestSchemaAgreesWithValidate runs events through both the JSON Schema and DecodeValid; they
// must accept and reject the same ones.
func TestSchemaAgreesWithValidate(t *testing.T) {
	sch := compileSchema(t)
	tests := []struct {
		name  string
		event string
		valid bool
	}{
		// accepted by both, including the edge cases of null and zero values
		{"minimal inference", `{"type":"inference",` + base + `,"model":{"name":"m"}}`, true},
		{"nulls mean absent", `{"type":"inference",` + base + `,"model":{"name":"m","version":null},"actor":null,"source":null,"attributes":null,"request":null,"label":null,"details":null,"environment":null}`, true},
		{"zero access fields on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"bytes":0,"records":0,"action":"","decision":""}`, true},
		{"access with zero bytes", `{"type":"access",` + base + `,"action":"login","decision":"deny","bytes":0}`, true},
		{"ipv6 source", `{"type":"access",` + base + `,"action":"login","decision":"allow","source":{"ip":"2001:db8::1"}}`, true},
		{"empty ip", `{"type":"access",` + base + `,"action":"login","decision":"allow","source":{"ip":""}}`, true},
		{"pipeline nested details", `{"type":"pipeline",` + base + `,"stage":"training","action":"training_started","details":{"a":{"b":[1,2]}}}`, true},
		{"feedback rating -1", `{"type":"feedback",` + base + `,"request_id":"r","rating":-1,"label":3.5}`, true},
		{"probe passed false", `{"type":"probe",` + base + `,"probe":{"name":"p"},"passed":false}`, true},
		{"upper-case hash", `{"type":"inference",` + base + `,"model":{"name":"m"},"request":{"input_sha256":"` + strings.Repeat("AB", 32) + `"}}`, true},
		{"empty status", `{"type":"inference",` + base + `,"model":{"name":"m"},"response":{"status":""}}`, true},

		// rejected by both
		{"missing type", `{` + base + `}`, false},
		{"unknown type", `{"type":"chat",` + base + `}`, false},
		{"missing time", `{"type":"access","action":"login","decision":"allow"}`, false},
		{"time not RFC 3339", `{"type":"access","time":"2026-01-02 03:04:05","action":"login","decision":"allow"}`, false},
		{"time before 2000", `{"type":"access","time":"1999-12-31T23:59:59Z","action":"login","decision":"allow"}`, false},
		{"unknown top-level field", `{"type":"access",` + base + `,"action":"login","decision":"allow","colour":"red"}`, false},
		{"unknown nested field", `{"type":"inference",` + base + `,"model":{"name":"m","size":"xl"}}`, false},
		{"id with a space", `{"id":"a b","type":"access",` + base + `,"action":"login","decision":"allow"}`, false},
		{"id too long", `{"id":"` + strings.Repeat("x", 129) + `","type":"access",` + base + `,"action":"login","decision":"allow"}`, false},
		{"environment too long", `{"type":"access",` + base + `,"environment":"` + strings.Repeat("e", 257) + `","action":"login","decision":"allow"}`, false},
		{"model name too long", `{"type":"inference",` + base + `,"model":{"name":"` + strings.Repeat("m", 257) + `"}}`, false},
		{"actor user too long", `{"type":"access",` + base + `,"action":"login","decision":"allow","actor":{"user":"` + strings.Repeat("u", 257) + `"}}`, false},
		{"bad ip", `{"type":"access",` + base + `,"action":"login","decision":"allow","source":{"ip":"10.0.0.256"}}`, false},
		{"nested attribute", `{"type":"access",` + base + `,"action":"login","decision":"allow","attributes":{"a":{"b":1}}}`, false},
		{"array attribute", `{"type":"access",` + base + `,"action":"login","decision":"allow","attributes":{"a":[1]}}`, false},
		{"empty attribute key", `{"type":"access",` + base + `,"action":"login","decision":"allow","attributes":{"":1}}`, false},
		{"inference without model", `{"type":"inference",` + base + `}`, false},
		{"inference with empty model name", `{"type":"inference",` + base + `,"model":{"name":""}}`, false},
		{"inference with null model", `{"type":"inference",` + base + `,"model":null}`, false},
		{"negative input tokens", `{"type":"inference",` + base + `,"model":{"name":"m"},"request":{"input_tokens":-1}}`, false},
		{"fractional tokens", `{"type":"inference",` + base + `,"model":{"name":"m"},"response":{"output_tokens":1.5}}`, false},
		{"short hash", `{"type":"inference",` + base + `,"model":{"name":"m"},"request":{"input_sha256":"abc"}}`, false},
		{"bad status", `{"type":"inference",` + base + `,"model":{"name":"m"},"response":{"status":"failed"}}`, false},
		{"negative latency", `{"type":"inference",` + base + `,"model":{"name":"m"},"response":{"latency_ms":-0.5}}`, false},
		{"confidence above 1", `{"type":"inference",` + base + `,"model":{"name":"m"},"response":{"confidence":1.01}}`, false},
		{"prediction object", `{"type":"inference",` + base + `,"model":{"name":"m"},"response":{"prediction":{"a":1}}}`, false},
		{"feature array", `{"type":"inference",` + base + `,"model":{"name":"m"},"request":{"features":{"f":[1]}}}`, false},
		{"negative cost", `{"type":"inference",` + base + `,"model":{"name":"m"},"cost_usd":-1}`, false},
		{"bad safety action", `{"type":"inference",` + base + `,"model":{"name":"m"},"safety":{"action":"quarantine"}}`, false},
		{"trigger without category", `{"type":"inference",` + base + `,"model":{"name":"m"},"safety":{"triggers":[{"score":0.5}]}}`, false},
		{"trigger score above 1", `{"type":"inference",` + base + `,"model":{"name":"m"},"safety":{"triggers":[{"category":"pii","score":2}]}}`, false},
		{"access field on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"decision":"allow"}`, false},
		{"action on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"action":"invoke"}`, false},
		{"bytes on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"bytes":10}`, false},
		{"rating on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"rating":0}`, false},
		{"passed on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"passed":true}`, false},
		{"empty details on inference", `{"type":"inference",` + base + `,"model":{"name":"m"},"details":{}}`, false},
		{"access without action", `{"type":"access",` + base + `,"decision":"allow"}`, false},
		{"access without decision", `{"type":"access",` + base + `,"action":"login"}`, false},
		{"access bad decision", `{"type":"access",` + base + `,"action":"login","decision":"maybe"}`, false},
		{"access bad privilege", `{"type":"access",` + base + `,"action":"login","decision":"allow","privilege":"root"}`, false},
		{"access negative bytes", `{"type":"access",` + base + `,"action":"export_data","decision":"allow","bytes":-5}`, false},
		{"request on access", `{"type":"access",` + base + `,"action":"login","decision":"allow","request":{}}`, false},
		{"stage on access", `{"type":"access",` + base + `,"action":"login","decision":"allow","stage":"training"}`, false},
		{"pipeline without stage", `{"type":"pipeline",` + base + `,"action":"model_deployed"}`, false},
		{"pipeline bad stage", `{"type":"pipeline",` + base + `,"stage":"prod","action":"model_deployed"}`, false},
		{"pipeline bad action", `{"type":"pipeline",` + base + `,"stage":"deployment","action":"rolled_out"}`, false},
		{"pipeline bad artifact hash", `{"type":"pipeline",` + base + `,"stage":"deployment","action":"model_deployed","artifact":{"sha256":"xyz"}}`, false},
		{"decision on pipeline", `{"type":"pipeline",` + base + `,"stage":"deployment","action":"model_deployed","decision":"allow"}`, false},
		{"feedback without request_id", `{"type":"feedback",` + base + `,"rating":1}`, false},
		{"feedback rating 2", `{"type":"feedback",` + base + `,"request_id":"r","rating":2}`, false},
		{"feedback label object", `{"type":"feedback",` + base + `,"request_id":"r","label":{"a":1}}`, false},
		{"action on feedback", `{"type":"feedback",` + base + `,"request_id":"r","action":"login"}`, false},
		{"probe without probe", `{"type":"probe",` + base + `,"passed":true}`, false},
		{"probe without name", `{"type":"probe",` + base + `,"probe":{"pack":"x"},"passed":true}`, false},
		{"probe without passed", `{"type":"probe",` + base + `,"probe":{"name":"p"}}`, false},
		{"probe with null passed", `{"type":"probe",` + base + `,"probe":{"name":"p"},"passed":null}`, false},
		{"comment on probe", `{"type":"probe",` + base + `,"probe":{"name":"p"},"passed":true,"comment":"x"}`, false},
		{"wrong kind", `{"type":"inference",` + base + `,"model":{"name":"m"},"request":{"input":7}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schemaErr := schemaValidate(sch, []byte(tt.event))
			_, goErr := DecodeValid([]byte(tt.event))
			if (schemaErr == nil) != tt.valid {
				t.Errorf("schema: valid=%v, want %v (%v)", schemaErr == nil, tt.valid, schemaErr)
			}
			if (goErr == nil) != tt.valid {
				t.Errorf("DecodeValid: valid=%v, want %v (%v)", goErr == nil, tt.valid, goErr)
			}
		})
	}
}

// TestSchemaAgreesOnVariants derives variants of every example (each field removed, each field
// set to null, each field moved to every other event type) and checks that the schema and
// DecodeValid accept exactly the same ones.
func TestSchemaAgreesOnVariants(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob("../../examples/events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var examples []map[string]json.RawMessage
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		examples = append(examples, m)
	}
	check := func(what string, m map[string]json.RawMessage) {
		t.Helper()
		doc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		schemaErr := schemaValidate(sch, doc)
		_, goErr := DecodeValid(doc)
		if (schemaErr == nil) != (goErr == nil) {
			t.Errorf("%s: schema error %v, DecodeValid error %v\n%s", what, schemaErr, goErr, doc)
		}
	}
	n := 0
	for _, ex := range examples {
		keys := make([]string, 0, len(ex))
		for k := range ex {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := clone(ex)
			delete(v, k)
			check("without "+k, v)
			v = clone(ex)
			v[k] = json.RawMessage("null")
			check(k+" null", v)
			n += 2
			for _, typ := range []string{"inference", "access", "pipeline", "feedback", "probe"} {
				v = clone(ex)
				v["type"] = json.RawMessage(`"` + typ + `"`)
				check(string(ex["type"])+" fields as "+typ, v)
				n++
			}
		}
		// every field of every other example grafted onto this one
		for _, other := range examples {
			for k, val := range other {
				v := clone(ex)
				v[k] = val
				check("graft "+k+" from a "+string(other["type"])+" onto a "+string(ex["type"]), v)
				n++
			}
		}
	}
	t.Logf("%d variants checked", n)
}

func clone(m map[string]json.RawMessage) map[string]json.RawMessage {
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
