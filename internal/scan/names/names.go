// Package names holds the person-name gazetteer of the PII scanner: first
// and last names in the cased scripts (Latin, Greek, Cyrillic), flagged
// when they are also ordinary words. See NOTICE for the sources and
// scripts/gen-names.py for how names.txt is made.
package names

import (
	_ "embed"
	"strings"
)

//go:embed names.txt
var names string

// Flags say what a gazetteer entry is.
type Flags uint8

// The flags of a gazetteer entry.
const (
	First Flags = 1 << iota // a given name
	Last                    // a family name
	Word                    // also an ordinary lower-case word ("Will", "Rose")
	Place                   // also a place, language or nationality ("Paris", "English")
)

// Load parses the embedded gazetteer into a lookup table (about 26,000
// names).
func Load() map[string]Flags {
	m := make(map[string]Flags, strings.Count(names, "\n"))
	for line := range strings.SplitSeq(names, "\n") {
		n, fl, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		var f Flags
		for _, c := range fl {
			switch c {
			case 'f':
				f |= First
			case 'l':
				f |= Last
			case 'w':
				f |= Word
			case 'p':
				f |= Place
			}
		}
		m[n] = f
	}
	return m
}
