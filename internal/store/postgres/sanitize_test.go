package postgres

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPGJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":"b"}`, `{"a":"b"}`},
		{`{"a":"\u0000"}`, `{"a":"\ufffd"}`},
		{`{"a":"x\\u0000"}`, `{"a":"x\\u0000"}`}, // an escaped backslash, not an escape
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`},
		{`{"a":"\ud83d\ude00"}`, `{"a":"\ud83d\ude00"}`},
		{`{"a":"\ud83d"}`, `{"a":"\ufffd"}`},
		{`{"a":"\ude00\ud83d"}`, `{"a":"\ufffd\ufffd"}`},
		{`{"a":"\ud83d\ud83d\ude00"}`, `{"a":"\ufffd\ud83d\ude00"}`},
		{`{"a":"\uD800x"}`, `{"a":"\ufffdx"}`},
		{`{"a":"\u00e9\n\"\u0000"}`, `{"a":"\u00e9\n\"\ufffd"}`},
		{"{\"a\":\"\xff\"}", "{\"a\":\"\uFFFD\"}"},
	} {
		if got := pgJSON([]byte(tc.in)); got != tc.want {
			t.Errorf("pgJSON(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPGText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"a\x00b", "a\uFFFDb"},
		{"a\xffb", "a\uFFFDb"},
		{"a\xdd\xddb\x00", "a\uFFFD\uFFFDb\uFFFD"},
		{"é😀", "é😀"},
	} {
		if got := pgText(tc.in); got != tc.want {
			t.Errorf("pgText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzPGJSON: for any valid JSON document, pgJSON returns valid JSON with no escape jsonb
// rejects, and it decodes to the same value as the input with NUL characters as U+FFFD (Go's
// decoder already turns unpaired surrogates into U+FFFD).
func FuzzPGJSON(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "leaves", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"a":"\u0000\\u0000\ud800\udc00\udc00"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		out := pgJSON(in)
		if !json.Valid([]byte(out)) || !utf8.ValidString(out) || strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("pgJSON(%q) = %q: invalid", in, out)
		}
		if esc := rejectedEscape(out); esc != "" {
			t.Fatalf("pgJSON(%q) = %q keeps %s", in, out, esc)
		}
		var a, b any
		if err := json.Unmarshal(in, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		want, ok := replaceNUL(a)
		if ok && !reflect.DeepEqual(want, b) {
			t.Fatalf("pgJSON(%q) = %q changes the value", in, out)
		}
	})
}

// rejectedEscape returns the first escape in a JSON document that jsonb rejects: \u0000 or a
// surrogate escape that is not part of a high+low pair.
func rejectedEscape(doc string) string {
	var pendingHigh string // a high-surrogate escape waiting for its low half
	for i := 0; i < len(doc); i++ {
		if doc[i] != '\\' {
			if pendingHigh != "" {
				return pendingHigh
			}
			continue
		}
		i++
		if doc[i] != 'u' {
			if pendingHigh != "" {
				return pendingHigh
			}
			continue
		}
		esc := doc[i-1 : i+5]
		r, err := strconv.ParseUint(doc[i+1:i+5], 16, 16)
		if err != nil {
			return esc
		}
		i += 4
		switch {
		case r == 0:
			return esc
		case r >= 0xD800 && r < 0xDC00:
			if pendingHigh != "" {
				return pendingHigh
			}
			pendingHigh = esc
		case r >= 0xDC00 && r < 0xE000:
			if pendingHigh == "" {
				return esc
			}
			pendingHigh = ""
		default:
			if pendingHigh != "" {
				return pendingHigh
			}
		}
	}
	return pendingHigh
}

// replaceNUL returns v with NUL characters as U+FFFD, and false when that merges two keys.
func replaceNUL(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "\x00", "\uFFFD"), true
	case []any:
		for i := range v {
			x, ok := replaceNUL(v[i])
			if !ok {
				return nil, false
			}
			v[i] = x
		}
		return v, true
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, ok := replaceNUL(x)
			if !ok {
				return nil, false
			}
			out[strings.ReplaceAll(k, "\x00", "\uFFFD")] = y
		}
		return out, len(out) == len(v)
	}
	return v, true
}
