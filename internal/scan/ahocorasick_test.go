package scan

import (
	"slices"
	"strings"
	"testing"
)

// naiveMatches is the reference: every (pattern, end) occurrence.
func naiveMatches(pats []string, s string) [][2]int {
	var out [][2]int
	for id, p := range pats {
		for i := 0; i+len(p) <= len(s); i++ {
			if s[i:i+len(p)] == p {
				out = append(out, [2]int{id, i + len(p)})
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int {
		if a[1] != b[1] {
			return a[1] - b[1]
		}
		return a[0] - b[0]
	})
	return out
}

func matcherMatches(m *matcher, s string) [][2]int {
	var out [][2]int
	m.each(s, func(id, end int) { out = append(out, [2]int{id, end}) })
	slices.SortFunc(out, func(a, b [2]int) int {
		if a[1] != b[1] {
			return a[1] - b[1]
		}
		return a[0] - b[0]
	})
	return out
}

var matcherPats = []string{"he", "she", "his", "hers", "ignore", "ignore previous", "忽略", "略之", "a", "aa", "\n"}

func TestMatcherAgainstNaive(t *testing.T) {
	dense := newMatcher(matcherPats)
	sparse := newMatcher(matcherPats)
	sparse.dfa = nil
	for _, s := range []string{"", "ushers", "aaaa", "please ignore previous ignore", "忽略之前\nhe", "xyz"} {
		want := naiveMatches(matcherPats, s)
		if got := matcherMatches(dense, s); !slices.Equal(got, want) {
			t.Errorf("dfa %q: %v want %v", s, got, want)
		}
		if got := matcherMatches(sparse, s); !slices.Equal(got, want) {
			t.Errorf("sparse %q: %v want %v", s, got, want)
		}
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add("ushers ignore previous 忽略之前 aaa")
	dense := newMatcher(matcherPats)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			s = s[:4096]
		}
		want := naiveMatches(matcherPats, strings.ToLower(s))
		if got := matcherMatches(dense, strings.ToLower(s)); !slices.Equal(got, want) {
			t.Fatalf("%q: %v want %v", s, got, want)
		}
	})
}

// TestHiddenStylesPrefilter guards the markup scanner's shortcut: every
// pattern must contain a byte of ":<=>" or "hidden".
func TestHiddenStylesPrefilter(t *testing.T) {
	for _, p := range hiddenStyles {
		if !strings.ContainsAny(p, ":<=>") && !strings.Contains(p, "hidden") {
			t.Errorf("pattern %q escapes the prefilter", p)
		}
	}
}
