package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeValid(t *testing.T) {
	const ok = `{"type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"},"request":{"input":"hi"}}`
	tests := []struct {
		name      string
		body      string
		wantN     int
		wantIndex int
		wantLine  int
		wantField string
		wantMsg   string
	}{
		{name: "single", body: ok, wantN: 1},
		{name: "array", body: "[" + ok + "," + ok + "]", wantN: 2},
		{name: "ndjson", body: ok + "\n\n" + ok + "\n", wantN: 2},
		{name: "pretty-printed single", body: "{\n  \"type\": \"access\",\n  \"time\": \"2026-01-02T03:04:05Z\",\n  \"action\": \"login\",\n  \"decision\": \"allow\"\n}\n", wantN: 1},
		{name: "ndjson crlf", body: ok + "\r\n" + ok + "\r\n", wantN: 2},
		{name: "missing type", body: `{"time":"2026-01-02T03:04:05Z"}`, wantField: "type"},
		{name: "bad type", body: `{"type":"nope","time":"2026-01-02T03:04:05Z"}`, wantField: "type"},
		{name: "missing time", body: `{"type":"access","action":"login","decision":"allow"}`, wantField: "time"},
		{name: "bad time", body: `{"type":"access","time":"yesterday"}`, wantField: "time"},
		{name: "unknown field", body: `{"type":"access","time":"2026-01-02T03:04:05Z","colour":1}`, wantField: "colour"},
		{name: "wrong kind", body: `{"type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"},"request":{"input_tokens":"x"}}`, wantField: "request.input_tokens"},
		{name: "second ndjson line bad", body: ok + "\n" + `{"type":"access","time":"2026-01-02T03:04:05Z","action":"login"}`, wantIndex: 1, wantLine: 2, wantField: "decision"},
		{name: "third array element bad", body: "[" + ok + "," + ok + `,{"type":"feedback","time":"2026-01-02T03:04:05Z"}]`, wantIndex: 2, wantField: "request_id"},
		{name: "hash mismatch", body: `{"type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"},"request":{"input":"hi","input_sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}`, wantField: "request.input_sha256"},
		{name: "cross-type field", body: `{"type":"access","time":"2026-01-02T03:04:05Z","action":"login","decision":"allow","request":{}}`, wantField: "request"},
		{name: "pipeline bad stage", body: `{"type":"pipeline","time":"2026-01-02T03:04:05Z","stage":"x","action":"model_deployed"}`, wantField: "stage"},
		{name: "attribute not scalar", body: `{"type":"access","time":"2026-01-02T03:04:05Z","action":"login","decision":"allow","attributes":{"a":{"b":1}}}`, wantField: "attributes.a"},
		{name: "bad ip", body: `{"type":"access","time":"2026-01-02T03:04:05Z","action":"login","decision":"allow","source":{"ip":"999.1.1.1"}}`, wantField: "source.ip"},
		{name: "empty", body: "  \n", wantField: ""},
		{name: "garbage line", body: ok + "\nnot json", wantIndex: 1, wantLine: 2},
		{name: "trailing data on a line", body: ok + " {}", wantIndex: 0, wantMsg: "unexpected data after the JSON object"},
		{name: "nested unknown field", body: `{"type":"access","time":"2026-01-02T03:04:05Z","actor":{"colour":1}}`, wantField: "actor.colour", wantMsg: "unknown field"},
		{name: "array element of wrong kind", body: `{"type":"access","time":"2026-01-02T03:04:05Z","actor":{"groups":["a",1]}}`, wantField: "actor.groups[1]", wantMsg: "must be a string, got JSON number"},
		{name: "trigger score of wrong kind", body: `{"type":"inference","time":"2026-01-02T03:04:05Z","safety":{"triggers":[{"category":"x","score":"high"}]}}`, wantField: "safety.triggers[0].score", wantMsg: "must be a number"},
		{name: "object expected", body: `{"type":"access","time":"2026-01-02T03:04:05Z","model":"m"}`, wantField: "model", wantMsg: "must be an object, got JSON string"},
		{name: "fraction for an integer", body: `{"type":"feedback","time":"2026-01-02T03:04:05Z","request_id":"r","rating":0.5}`, wantField: "rating", wantMsg: "integer"},
		{name: "time of wrong kind", body: `{"type":"access","time":5}`, wantField: "time", wantMsg: "RFC 3339"},
		{name: "truncated", body: `{"type":"access","time":"2026-01-02T03:04:05Z"`, wantMsg: "truncated JSON"},
		{name: "truncated second line", body: ok + "\n" + `{"type":"access"`, wantIndex: 1, wantLine: 2, wantMsg: "truncated JSON"},
		{name: "syntax error", body: `{"type":"access",}`, wantMsg: "invalid JSON at byte"},
		{name: "fourth ndjson element of wrong kind", body: ok + "\n" + ok + "\n\n" + ok + "\n" + `{"type":"access","time":"2026-01-02T03:04:05Z","bytes":"1"}`, wantIndex: 3, wantLine: 5, wantField: "bytes"},
		{name: "array element unknown field", body: "[" + ok + `,{"type":"access","time":"2026-01-02T03:04:05Z","x":1}]`, wantIndex: 1, wantField: "x"},
		{name: "case-insensitive names as encoding/json", body: `{"Type":"inference","TIME":"2026-01-02T03:04:05Z","Model":{"Name":"m"}}`, wantN: 1},
		{name: "duplicate names, last wins as encoding/json", body: `{"type":"access","type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"}}`, wantN: 1},
		{name: "pretty-printed ndjson-looking first line", body: "{\"type\": \"access\", \"model\": {\"name\": \"m\"},\n \"time\": \"2026-01-02T03:04:05Z\", \"action\": \"login\", \"decision\": \"allow\"}\n", wantN: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := DecodeValid([]byte(tt.body))
			if tt.wantN > 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(evs) != tt.wantN {
					t.Fatalf("got %d events, want %d", len(evs), tt.wantN)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want *FieldError, got %v", err)
			}
			if fe.Index != tt.wantIndex || fe.Field != tt.wantField || (tt.wantLine != 0 && fe.Line != tt.wantLine) {
				t.Fatalf("got index=%d line=%d field=%q (%v), want index=%d line=%d field=%q", fe.Index, fe.Line, fe.Field, fe, tt.wantIndex, tt.wantLine, tt.wantField)
			}
			if !strings.Contains(fe.Message, tt.wantMsg) {
				t.Fatalf("message %q does not contain %q", fe.Message, tt.wantMsg)
			}
		})
	}
}

func TestNormalizeAndLeaf(t *testing.T) {
	evs, err := DecodeValid([]byte(`{"type":"inference","time":"2026-01-02T04:04:05+01:00","model":{"name":"m"},"request":{"input":"secret prompt"},"response":{"output":"answer"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	ev.Normalize()
	if ev.ID == "" || ev.Environment != "prod" || ev.Response.Status != "ok" {
		t.Fatalf("defaults not applied: %+v", ev)
	}
	if ev.Time.Location().String() != "UTC" || ev.Time.Hour() != 3 {
		t.Fatalf("time not UTC: %v", ev.Time)
	}
	if ev.Request.InputSHA256 != sha256Hex("secret prompt") || ev.Request.InputChars != 13 {
		t.Fatalf("input hash/len: %+v", ev.Request)
	}
	leaf, err := ev.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(leaf), "secret prompt") || strings.Contains(string(leaf), "answer") {
		t.Fatalf("leaf holds raw text: %s", leaf)
	}
	if ev.Request.Input != "secret prompt" {
		t.Fatal("Leaf modified the event")
	}
	back, err := ParseLeaf(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != ev.ID || back.Request.InputSHA256 != ev.Request.InputSHA256 {
		t.Fatalf("round trip lost data: %+v", back)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"}}`))
	f.Add([]byte(`[{"type":"access","time":"2026-01-02T03:04:05Z","action":"login","decision":"deny"}]`))
	f.Add([]byte("{\"type\":\"feedback\",\"time\":\"2026-01-02T03:04:05Z\",\"request_id\":\"r\"}\n{}\n"))
	f.Add([]byte(`{"type":"pipeline","time":"2026-01-02T03:04:05Z","stage":"training","action":"training_started","details":{"a":[1]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := DecodeValid(body)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %T %v", err, err)
			}
			return
		}
		for _, ev := range evs {
			ev.Normalize()
			checkEncodings(t, ev)
		}
	})
}

// checkEncodings asserts that the leaf and the text blob are byte for byte what encoding/json
// produces (the audit log holds entries written both ways) and that they decode back.
func checkEncodings(t *testing.T, ev *Event) {
	t.Helper()
	leaf, err := ev.Leaf()
	if err != nil {
		t.Fatalf("valid event has no leaf: %v", err)
	}
	want, err := json.Marshal(ev.WithoutText())
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if !bytes.Equal(leaf, want) {
		t.Fatalf("leaf differs from encoding/json:\n got %s\nwant %s", leaf, want)
	}
	back, err := ParseLeaf(leaf)
	if err != nil {
		t.Fatalf("parse leaf: %v", err)
	}
	again, err := back.Leaf()
	if err != nil {
		t.Fatalf("leaf of parsed leaf: %v", err)
	}
	if want, _ := json.Marshal(back); !bytes.Equal(again, want) || back.ID != ev.ID || !back.Time.Equal(ev.Time) {
		t.Fatalf("leaf round trip:\n got %s\nwant %s", again, want)
	}
	text := ev.Text()
	blob, err := text.Blob()
	if err != nil {
		t.Fatalf("blob: %v", err)
	}
	if want, _ := json.Marshal(text); !bytes.Equal(blob, want) {
		t.Fatalf("blob differs from encoding/json:\n got %s\nwant %s", blob, want)
	}
	if got, err := ParseText(blob); err != nil || got != text {
		t.Fatalf("text round trip: %+v, %v", got, err)
	}
}

func TestLeafAndBlobMatchEncodingJSON(t *testing.T) {
	bodies := []string{
		`{"type":"inference","time":"2026-01-02T03:04:05.123456789+02:00","environment":"staging","model":{"name":"m<&>","version":"1","provider":"p"},"actor":{"user":"u","groups":["a","b"],"roles":[]},"source":{"ip":"10.0.0.1","geo":"DE"},"attributes":{"z":1,"a":"x\u2028y","b":true,"c":null,"e":1e21,"f":0.000001,"g":-0},"request":{"id":"r","input":"<script>\"hi\"</script>\u0000\t\u007f\u2029 ünïcödé 😀","input_tokens":0,"input_class":"q","features":{"len":12.5}},"response":{"output":"a & b","output_tokens":3,"status":"error","error_code":"E1","latency_ms":1.5,"ttft_ms":0,"prediction":"yes","confidence":0.25},"cost_usd":0.001,"safety":{"triggers":[{"detector":"d","category":"c","score":0.5,"role":"input","start":1,"end":2}],"action":"flag"},"override":{"by":"x","reason":"y"}}`,
		`{"type":"access","time":"2026-01-02T03:04:05Z","action":"export_data","resource":"s3://b","decision":"deny","reason":"r","privilege":"elevated","approval_id":"A-1","bytes":123456789012,"records":5,"format":"csv"}`,
		`{"type":"pipeline","time":"2026-01-02T03:04:05Z","stage":"training","action":"training_started","artifact":{"uri":"u","sha256":"ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD"},"approved_by":"x","change_id":"c","details":{"nested":{"a":[1,2,{"b":null}]},"s":"<>"}}`,
		`{"type":"feedback","time":"2026-01-02T03:04:05Z","request_id":"r","rating":-1,"label":3.25,"comment":"c"}`,
		`{"type":"probe","time":"2026-01-02T03:04:05Z","probe":{"pack":"p","name":"n","technique":"t"},"passed":false,"evidence":"e"}`,
		"{\"type\":\"inference\",\"time\":\"2026-01-02T03:04:05Z\",\"model\":{\"name\":\"m\"},\"request\":{\"input\":\"bad \xff\xfe utf8\"}}",
	}
	for _, body := range bodies {
		evs, err := DecodeValid([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		for _, ev := range evs {
			ev.Normalize()
			checkEncodings(t, ev)
		}
	}
}

// TestLeafCoversEveryField sets every field of an event (reflectively, so a field added to the
// schema later is covered too) and compares Leaf with encoding/json.
func TestLeafCoversEveryField(t *testing.T) {
	ev := new(Event)
	fill(reflect.ValueOf(ev).Elem())
	checkEncodings(t, ev)
	// Empty but non-nil collections and pointers to empty structs follow omitempty/omitzero.
	checkEncodings(t, &Event{Type: TypeInference, Time: time.Unix(0, 1).UTC(), Actor: Actor{Roles: []string{}}, Attributes: map[string]any{},
		Request: &Request{}, Response: &Response{}, Safety: &Safety{Triggers: []Trigger{{}}}, Override: &Override{}, Artifact: &Artifact{}, Probe: &Probe{}})
}

func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x<&>\u2028" + v.Type().Name())
	case reflect.Int, reflect.Int64:
		v.SetInt(-7)
	case reflect.Float64:
		v.SetFloat(1.5e-7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0))
		fill(v.Index(1))
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]any{"b": 2.5, "a": "<x>", "c": []any{true, nil}}))
	case reflect.Interface:
		v.Set(reflect.ValueOf("label"))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	}
}

// FuzzDecodeMatchesEncodingJSON checks that one event decodes as encoding/json's Decoder with
// DisallowUnknownFields decoded it before (accepted or rejected alike, the same event), so the
// switch to go-json-experiment changed speed and error wording, not what is accepted.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"type":"inference","time":"2026-01-02T03:04:05Z","model":{"name":"m"},"request":{"input":"hi","input_tokens":3},"attributes":{"a":1}}`))
	f.Add([]byte(`{"Type":"access","time":"2026-01-02T03:04:05Z","action":"login","decision":"deny","type":"probe"}`))
	f.Add([]byte(`{"type":"feedback","time":"2026-01-02T03:04:05Z","request_id":"r","rating":1,"label":null}`))
	f.Add([]byte(`{"type":"pipeline","time":"2026-01-02T03:04:05Z","details":{"a":[1,{"b":"\u00e9"}]},"colour":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotErr := decodeOne(raw)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		want := new(Event)
		wantErr := dec.Decode(want)
		if wantErr == nil && len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 {
			wantErr = errors.New("trailing data")
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: go-json-experiment error %v, encoding/json error %v", raw, gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		g, err1 := json.Marshal(got)
		w, err2 := json.Marshal(want)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(g, w) {
			t.Fatalf("%q decodes differently:\n got %s\nwant %s", raw, g, w)
		}
	})
}
