package lifecycle

import (
	"errors"
	"testing"
)

func TestParseMatchers(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		labels  map[string]string
		matches bool
	}{
		{`model=bot`, `{model="bot"}`, map[string]string{"model": "bot"}, true},
		{`{model="bot", severity=~"P3|P4"}`, `{model="bot",severity=~"P3|P4"}`, map[string]string{"model": "bot", "severity": "P3"}, true},
		{`{model="bot", severity=~"P3|P4"}`, `{model="bot",severity=~"P3|P4"}`, map[string]string{"model": "bot", "severity": "P1"}, false},
		{`severity=~P3`, `{severity=~"P3"}`, map[string]string{"severity": "P33"}, false}, // anchored
		{`model!=bot,env!~"stag.*"`, `{model!="bot",env!~"stag.*"}`, map[string]string{"model": "x", "env": "prod"}, true},
		{`a="x\"y\\z"`, `{a="x\"y\\z"}`, map[string]string{"a": `x"y\z`}, true},
		{`a="1,2", b = 3`, `{a="1,2",b="3"}`, map[string]string{"a": "1,2", "b": "3"}, true},
		{`missing=""`, `{missing=""}`, map[string]string{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ms, err := ParseMatchers(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := ms.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
			if got := ms.Matches(tt.labels); got != tt.matches {
				t.Errorf("Matches(%v) = %v", tt.labels, got)
			}
		})
	}
	for _, bad := range []string{``, `{}`, `{a="b"`, `a`, `a=="b"`, `=b`, `1a=b`, `a=~"("`, `a="b" c="d"`, `a="b`, `a="\x"`, `a=b"c`, `a=~"` + string(make([]byte, 2000)) + `"`} {
		if _, err := ParseMatchers(bad); !errors.Is(err, ErrMatcher) {
			t.Errorf("ParseMatchers(%q) err = %v, want ErrMatcher", bad, err)
		}
	}
}

func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{`model=bot`, `{model="bot", severity=~"P3|P4"}`, `a!~"x\"y"`, `a="1,2",b=3`, `{}`, `a=~"("`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			if !errors.Is(err, ErrMatcher) {
				t.Fatalf("error does not wrap ErrMatcher: %v", err)
			}
			return
		}
		// Rendering and re-parsing is the identity.
		again, err := ParseMatchers(ms.String())
		if err != nil {
			t.Fatalf("re-parse %s: %v", ms.String(), err)
		}
		if again.String() != ms.String() || len(again) != len(ms) {
			t.Fatalf("round trip %s → %s", ms.String(), again.String())
		}
		for i := range ms {
			if ms[i].Name != again[i].Name || ms[i].Type != again[i].Type || ms[i].Value != again[i].Value {
				t.Fatalf("matcher %d changed: %+v → %+v", i, ms[i], again[i])
			}
		}
	})
}
