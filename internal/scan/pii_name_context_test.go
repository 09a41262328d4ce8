package scan

import (
	"context"
	"strings"
	"testing"
)

// personSpans returns the pii.person spans of text scanned as an output.
func personSpans(t *testing.T, e *Engine, text string) [][2]int {
	t.Helper()
	fs, err := e.Scan(context.Background(), text, Output, Context{})
	if err != nil {
		t.Fatal(err)
	}
	var spans [][2]int
	for _, f := range fs {
		if f.Detector == "pii.person" {
			spans = append(spans, [2]int{f.Start, f.End})
		}
	}
	return spans
}

// TestNameContextRules has a case that must fire and one that must not for
// each context rule of pii_name_context.go and the rules for texts typed in
// lower case. "want" words must overlap a person finding, "absent" words
// must not (a word is looked up at its n-th occurrence with "word#n").
func TestNameContextRules(t *testing.T) {
	e := newEngine(t)
	tests := []struct {
		rule   string
		text   string
		want   []string
		absent []string
	}{
		{"person verb", "Drazhen laughed and closed the laptop.", []string{"Drazhen"}, nil},
		{"person verb", "Okonkwo lives in a small flat near the harbour.", []string{"Okonkwo"}, nil},
		{"person verb: not an organisation's speech", "Zorvex said the outage is over.", nil, []string{"Zorvex"}},
		{"person verb: a place", "Paris lives in my memory.", nil, []string{"Paris"}},
		{"vocative", "Teodorik, could you send me the minutes?", []string{"Teodorik"}, nil},
		{"vocative: discourse word", "Actually, could you send me the minutes?", nil, []string{"Actually"}},
		{"vocative: exclamation", "Help, I forgot my password!", nil, []string{"Help"}},
		{"pronoun in the next sentence", "Branimir is always late. Nobody waits for him any more.", []string{"Branimir"}, nil},
		{"pronoun: a thing's 'his'", "Persuasion is his strength.", nil, []string{"Persuasion"}},
		{"possessive before a kinship noun", "We met at Quorvan's launch, then at Ottoline's son birthday.", []string{"Ottoline"}, []string{"Quorvan"}},
		{"kinship cue after my/our", "Our daughter Wiebke starts school in May.", []string{"Wiebke"}, nil},
		{"kinship cue without a possessive", "The son Python is a joke.", nil, []string{"Python"}},
		{"quotation's speaker", `"We are nearly done," says Okafor.`, []string{"Okafor"}, nil},
		{"speech cue without a quotation", "The report says Nothing about it.", nil, []string{"Nothing"}},
		{"naming with a pronoun", "They named her Rose after her grandmother.", []string{"Rose"}, nil},
		{"answer to a name question", "And your first name? Gunnhild", []string{"Gunnhild"}, nil},
		{"further mentions", "The essay by Radomir Kesselring is long; Kesselring wrote it in a week.", []string{"Kesselring#2"}, nil},
		{"further mentions: not after an unknown sentence opener", "Plan B. Joe wrote it. The Plan works.", nil, []string{"Plan#2"}},
		{"firm of three family names", "She joined Howell, Pearson and Gibbs as a partner.", nil, []string{"Howell", "Pearson", "Gibbs"}},
		{"family names after a cue are people", "The song was written by Howell, Pearson and Gibbs.", []string{"Howell", "Gibbs"}, nil},
		{"people listed after a plural person noun", "Meet the founders: Ashdown, Quist and Rell.", []string{"Ashdown", "Quist", "Rell"}, nil},
		{"hyphenated firm", "Ask Jenkins-Holloway for the invoice.", nil, []string{"Jenkins-Holloway"}},
		{"hyphenated name with a given name", "Ask Mary Jenkins-Holloway for the invoice.", []string{"Jenkins-Holloway"}, nil},
		{"employer", "I work for Wolters Hartmann in the legal team.", nil, []string{"Wolters", "Hartmann"}},
		{"pair before a plural verb", "Kovalčík and Morales were the first to arrive.", []string{"Kovalčík", "Morales"}, nil},
		{"pair without a plural verb", "Brindle and Morales went home.", []string{"Morales"}, []string{"Brindle"}},
		{"non-ASCII middle initial", "The version by Þórdís Á Gunnarsdóttir sold well.", []string{"Þórdís Á Gunnarsdóttir"}, nil},
		{"cue name cut before an address word", "Mrs. Helga Lindqvist Suite 12 Storgatan 4", []string{"Helga Lindqvist"}, []string{"Suite"}},
		{"name line above an address", "Ship to: Ingrid T. Sollied\n12 Harbour Road\nBergen", []string{"Ingrid T. Sollied"}, nil},
		{"firm line above an address", "Deliver: Northwind Traders\n12 Harbour Road\nBergen", nil, []string{"Northwind"}},
		{"card name repeated", "Maren Holt\nAcme Ltd\nMaren Holt\n44 Elm Street\nSpringfield", []string{"Maren Holt#2"}, nil},
		{"lower case: list of names", "the guests were: oliver, harriet, imogen, rufus and tobias.", []string{"oliver", "imogen", "tobias"}, nil},
		{"lower case: list of things", "we need eggs, flour, butter and sugar.", nil, []string{"eggs", "flour", "butter", "sugar"}},
		{"lower case: unknown name after my name is", "hello, my name is zlatoslava", []string{"zlatoslava"}, nil},
		{"lower case: my name is + ordinary word", "my name is spelled wrong on the card", nil, []string{"spelled"}},
		{"lower case: call me back", "please call me back tomorrow", nil, []string{"back"}},
		{"lower case: person verb", "kowalska laughed at the idea.", []string{"kowalska"}, nil},
	}
	for _, tt := range tests {
		spans := personSpans(t, e, tt.text)
		overlaps := func(w string) bool {
			n := 1
			if k := strings.LastIndexByte(w, '#'); k > 0 {
				n = int(w[k+1] - '0')
				w = w[:k]
			}
			i := -1
			for ; n > 0; n-- {
				j := strings.Index(tt.text[i+1:], w)
				if j < 0 {
					t.Fatalf("%s: %q not in %q", tt.rule, w, tt.text)
				}
				i += 1 + j
			}
			for _, s := range spans {
				if i < s[1] && s[0] < i+len(w) {
					return true
				}
			}
			return false
		}
		for _, w := range tt.want {
			if !overlaps(w) {
				t.Errorf("%s: %q: %q not found as a person (spans %v)", tt.rule, tt.text, w, spans)
			}
		}
		for _, w := range tt.absent {
			if overlaps(w) {
				t.Errorf("%s: %q: %q reported as a person (spans %v)", tt.rule, tt.text, w, spans)
			}
		}
	}
}
