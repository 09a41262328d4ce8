package lru

import (
	"fmt"
	"slices"
	"testing"
)

func TestOrder(t *testing.T) {
	tests := []struct {
		name   string
		ops    []string // "+k" touch, "-k" remove
		keys   []string // oldest first
		oldest string   // with keys starting with "r" kept
	}{
		{"empty", nil, []string{}, ""},
		{"insertion order", []string{"+a", "+b", "+c"}, []string{"a", "b", "c"}, "a"},
		{"touch moves to the end", []string{"+a", "+b", "+c", "+a"}, []string{"b", "c", "a"}, "b"},
		{"touch of the newest", []string{"+a", "+b", "+b"}, []string{"a", "b"}, "a"},
		{"remove", []string{"+a", "+b", "+c", "-b", "-x"}, []string{"a", "c"}, "a"},
		{"kept keys are skipped", []string{"+r1", "+r2", "+a", "+r3", "+b"}, []string{"r1", "r2", "a", "r3", "b"}, "a"},
		{"only kept keys", []string{"+r1", "+r2"}, []string{"r1", "r2"}, ""},
		{"remove the newest and the oldest, then touch", []string{"+a", "+b", "+c", "-c", "-a", "+d", "+b"}, []string{"d", "b"}, "d"},
		{"remove everything", []string{"+a", "+b", "-a", "-b"}, []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New[string]()
			for _, op := range tt.ops {
				if op[0] == '+' {
					o.Touch(op[1:])
				} else {
					o.Remove(op[1:])
				}
			}
			if got := o.Keys(); !slices.Equal(got, tt.keys) || o.Len() != len(tt.keys) {
				t.Fatalf("keys %v (len %d), want %v", got, o.Len(), tt.keys)
			}
			k, ok := o.Oldest(func(k string) bool { return k[0] == 'r' })
			if k != tt.oldest || ok != (tt.oldest != "") {
				t.Fatalf("Oldest = %q, %v; want %q", k, ok, tt.oldest)
			}
			for _, k := range tt.keys {
				if !o.Contains(k) {
					t.Fatalf("Contains(%q) false", k)
				}
			}
		})
	}
}

func BenchmarkTouch(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			o := New[string]()
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprint("consumer-", i)
				o.Touch(keys[i])
			}
			i := 0
			for b.Loop() {
				o.Touch(keys[i%n])
				i += 7
			}
		})
	}
}
