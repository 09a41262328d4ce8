package gateway

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestPatchBody(t *testing.T) {
	tests := []struct {
		name, body, model string
		addUsage          bool
		want              map[string]any
	}{
		{"model only", `{"model":"a","messages":[{"role":"user","content":"hi"}]}`, "b", false,
			map[string]any{"model": "b", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}},
		{"usage appended", `{"model":"a","stream":true}`, "", true,
			map[string]any{"model": "a", "stream": true, "stream_options": map[string]any{"include_usage": true}}},
		{"usage replaced and model", ` { "stream_options" : {"include_usage":false,"x":1} , "stream":true, "model" : "a" } `, "up/m\"1", true,
			map[string]any{"model": "up/m\"1", "stream": true, "stream_options": map[string]any{"include_usage": true}}},
		{"tricky strings", `{"messages":[{"content":"}{\"model\":\"x\"]"}],"model":"a"}`, "z", true,
			map[string]any{"model": "z", "messages": []any{map[string]any{"content": "}{\"model\":\"x\"]"}}, "stream_options": map[string]any{"include_usage": true}}},
		{"empty object", `{}`, "m", true, map[string]any{"model": "m", "stream_options": map[string]any{"include_usage": true}}},
		{"unchanged", `{"model":"a","n":1.5e3,"b":null,"c":[true,false]}`, "", false,
			map[string]any{"model": "a", "n": 1500.0, "b": nil, "c": []any{true, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := patchBody(&buf, []byte(tc.body), tc.model, tc.addUsage); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", buf.Bytes(), err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %s\nwant %v", buf.Bytes(), tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a":}`, `{"a":"x`, `{"a":1,}`, `{"a":[1}`} {
		var buf bytes.Buffer
		if err := patchBody(&buf, []byte(bad), "m", true); err == nil {
			t.Errorf("patchBody(%q) = %s, want error", bad, buf.Bytes())
		}
	}
}

// FuzzPatchBody: for every valid JSON object, the patched body is valid JSON whose "model" and
// "stream_options" are the patched values and whose other members are unchanged.
func FuzzPatchBody(f *testing.F) {
	for _, s := range []string{`{"model":"a","messages":[{"role":"user","content":"hi"}]}`, `{}`, `{"stream_options":null}`,
		`{"a":{"b":["}",{"c":"\\\""}]},"model":"x"}`, `{"model":"a","model":"b"}`, ` {"x" : 1 } `} {
		f.Add([]byte(s), "up", true)
	}
	f.Fuzz(func(t *testing.T, body []byte, model string, addUsage bool) {
		var orig map[string]any
		if json.Unmarshal(body, &orig) != nil || orig == nil {
			var buf bytes.Buffer
			_ = patchBody(&buf, body, model, addUsage) // must not panic
			return
		}
		var buf bytes.Buffer
		if err := patchBody(&buf, body, model, addUsage); err != nil {
			t.Fatalf("valid object %q rejected: %v", body, err)
		}
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("patched %q → invalid %q: %v", body, buf.Bytes(), err)
		}
		want := orig
		if model != "" {
			var m string
			b, _ := json.Marshal(model)
			_ = json.Unmarshal(b, &m)
			want["model"] = m
		}
		if addUsage {
			want["stream_options"] = map[string]any{"include_usage": true}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("patched %q → %q, want %v", body, buf.Bytes(), want)
		}
	})
}
