package scan

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/scan/names"
)

func TestPersonAndAddress(t *testing.T) {
	e := newEngine(t)
	tests := []struct {
		text string
		det  string
		want string // "" = no finding of det
	}{
		{"Thanks for reaching out. My name is Stephan Fenstermacher.", "pii.person", "Stephan Fenstermacher"},
		{"Dear Maria Garcia, your order has shipped.", "pii.person", "Maria Garcia"},
		{"Could you correct it to Dr. Cettina Fanucci?", "pii.person", "Cettina Fanucci"},
		{"Date: 2020-06-20\nName: Kamila Červinková\nPhone: 451 5986", "pii.person", "Kamila Červinková"},
		{"Best regards,\nJohn Q. Public", "pii.person", "John Q. Public"},
		{"Hi Team, the build is green.", "pii.person", ""},
		{"As regular commenter Ryan Fernandes points out, most are fine.", "pii.person", "Ryan Fernandes"},
		{"The novel was published by Penguin in 1813.", "pii.person", ""},
		{"Flights from New York are delayed.", "pii.person", ""},
		{"He said Yes to the offer.", "pii.person", ""},
		{"I am Happy to help with that.", "pii.person", ""},
		{"This is Python code that sorts a list.", "pii.person", ""},
		{"Dear Sir, thank you for your letter.", "pii.person", ""},
		// Without a cue: the gazetteer, initials, family-name shapes.
		{"Yesterday Maria Garcia called about the refund.", "pii.person", "Maria Garcia"},
		{"The report was written by hand and checked by Szabina J Gelencsér.", "pii.person", "Szabina J Gelencsér"},
		{"It may be too that Yefremova was influenced by an earlier song.", "pii.person", "Yefremova"},
		{"They had 6: Efimiya, Derek, Ariana and Jodi.", "pii.person", "Derek"},
		{"Tom I. Holzman from Predilytics is the keynote speaker.", "pii.person", "Tom I. Holzman"},
		{"We flew from Los Angeles to Paris in English class.", "pii.person", ""},
		{"Victoria Station is closed; take the bus from Sofia University.", "pii.person", ""},
		{"You said your email is UshurmaDratchev@rhyta.com.", "pii.person", ""},
		{"Ship it to 1600 Pennsylvania Avenue, Washington.", "pii.address", "1600 Pennsylvania Avenue, Washington"},
		{"Billing address: Sara Schwarz\n    28245 Puruntie 82 Apt. 595", "pii.address", "28245 Puruntie 82 Apt. 595"},
		{"Our offices are at 6076 Piroska u. 97. in Porto Alegre", "pii.address", "6076 Piroska u. 97"},
		{"Send it to PSC 6293, Box 8158", "pii.address", "PSC 6293, Box 8158"},
		{"Qatar hosted it from 20 November to 18 December 2022.", "pii.address", ""},
		{"Bathsheba (2 Samuel 11:4) later bore Solomon.", "pii.address", ""},
		{"a 2TB NVMe M.2 Internal Solid State Hard Drive", "pii.address", ""},
		{"Meine Adresse: Hauptstraße 5, Berlin", "pii.address", "Hauptstraße 5, Berlin"},
		{"The address is 6750 Koskikatu 25 Apt. 864 in Artilleros", "pii.address", "6750 Koskikatu 25 Apt. 864"},
		{"Rua Igreja 25, Lisboa", "pii.address", "Rua Igreja 25, Lisboa"},
		{"Chapter 12 covers the main road network.", "pii.address", ""},
		{"Add 2 cups of flour and stir.", "pii.address", ""},
	}
	for _, tt := range tests {
		fs, err := e.Scan(context.Background(), tt.text, Output, Context{})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, f := range fs {
			if f.Detector == tt.det && (got == "" || got != tt.want) {
				got = tt.text[f.Start:f.End]
				if strings.Contains(f.Evidence, got) {
					t.Errorf("%q: evidence %q repeats the value", tt.text, f.Evidence)
				}
			}
		}
		if got != tt.want {
			t.Errorf("%q: %s span %q, want %q", tt.text, tt.det, got, tt.want)
		}
	}
	// On inputs names are recorded but never flagged; on outputs at tier
	// high they are redacted.
	fs, _ := e.Scan(context.Background(), "My name is John Smith, I need help with my card.", Input, Context{})
	if a := DefaultPolicy("high").Decide(Input, fs); a != ActionAllow {
		t.Errorf("name in an input: verdict %s", a)
	}
	fs, _ = e.Scan(context.Background(), "Sure. The account belongs to Mr. John Smith.", Output, Context{})
	if a := DefaultPolicy("high").Decide(Output, fs); a != ActionRedact {
		t.Errorf("name in an output at tier high: verdict %s, want redact", a)
	}
}

// TestPersonNameForms covers the name forms found without a strong cue:
// possessives, given names that are also places, coordinated lists, the
// name line of a contact card, greetings and texts typed in lower case.
func TestPersonNameForms(t *testing.T) {
	e := newEngine(t)
	tests := []struct {
		text   string
		want   []string // each must be (part of) a pii.person finding
		absent []string // none may overlap a pii.person finding
	}{
		{"The poems of Ilse K. Brunnhuber's Little Book were read aloud.", []string{"Ilse K. Brunnhuber"}, []string{"Little", "Book"}},
		{"Please forward the contract to Lara Whitcombe today.", []string{"Lara Whitcombe"}, nil},
		{"Their kids: Oskana, Mary, Daniela, Isabel and Joanna.", []string{"Oskana", "Mary", "Isabel"}, nil},
		{"The firm was founded by Keskinen, Becker and Vasquez.", []string{"Keskinen", "Becker"}, nil},
		{"Everybody loves it, whether they come from Spain, China, Italy, America or Canada.", nil, []string{"Spain", "China", "Italy", "Canada"}},
		{"Hi Freddy, I'm writing about my order.", []string{"Freddy"}, []string{"I'm"}},
		{"Hi Victor, the parcel arrived.", []string{"Victor"}, nil},
		{"Ottilie Marschner\n\nPhone: 0151 2345678\nE-mail: om@example.org", []string{"Ottilie Marschner"}, nil},
		{"Quarterly Report\n\nRevenue grew in 2023.", nil, []string{"Quarterly"}},
		{"Megan Carey\nWesterly Holdings\nPhone: 0341 8387176", []string{"Megan Carey"}, []string{"Westerly"}},
		{"please follow up with patricia in two weeks", []string{"patricia"}, nil},
		{"olga krylova's lawyer called again", []string{"olga krylova"}, nil},
		{"what is the weather in dallas and boston today", nil, []string{"dallas", "boston"}},
		{"can you get there by foot in june", nil, []string{"foot", "june"}},
		{"I'd like to change it to Bekbolat Musliyevich please", []string{"Bekbolat Musliyevich"}, nil},
		{"Sometimes my friends call me Czesia.", []string{"Czesia"}, nil},
	}
	for _, tt := range tests {
		fs, err := e.Scan(context.Background(), tt.text, Output, Context{})
		if err != nil {
			t.Fatal(err)
		}
		var spans [][2]int
		for _, f := range fs {
			if f.Detector == "pii.person" {
				spans = append(spans, [2]int{f.Start, f.End})
			}
		}
		overlaps := func(w string) bool {
			i := strings.Index(tt.text, w)
			if i < 0 {
				t.Fatalf("%q not in %q", w, tt.text)
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
				t.Errorf("%q: %q not found as a person (spans %v)", tt.text, w, spans)
			}
		}
		for _, w := range tt.absent {
			if overlaps(w) {
				t.Errorf("%q: %q reported as a person (spans %v)", tt.text, w, spans)
			}
		}
	}
}

// TestNamePolicy: at tier high an output's names are redacted when they
// belong to a private person (a cue such as "Mr." or "my name is") or a
// personal record (other PII beside them); a name merely mentioned is
// recorded with a score under the action threshold, and a model's
// scanning map can still redact every name.
func TestNamePolicy(t *testing.T) {
	e := newEngine(t)
	high := DefaultPolicy("high")
	all := ModelPolicy("high", map[string]string{"output:pii.person": "redact"})
	for _, tt := range []struct {
		text      string
		high, all Action
	}{
		{"Charlie Sheen was on TV again last night.", ActionAllow, ActionRedact},
		{"The theory of relativity was developed by Albert Einstein.", ActionAllow, ActionRedact},
		{"Sure. The account belongs to Mr. John Smith.", ActionRedact, ActionRedact},
		{"Of course! Maria Garcia can be reached at maria.garcia@example.org.", ActionRedact, ActionRedact},
		{"Her name is Ottilie Marschner.", ActionRedact, ActionRedact},
		{"Thanks, the build is green now.", ActionAllow, ActionAllow},
	} {
		fs, err := e.Scan(context.Background(), tt.text, Output, Context{})
		if err != nil {
			t.Fatal(err)
		}
		if got := high.Decide(Output, fs); got != tt.high {
			t.Errorf("%q at tier high: %s, want %s (%+v)", tt.text, got, tt.high, fs)
		}
		if got := all.Decide(Output, fs); got != tt.all {
			t.Errorf("%q with output:pii.person: redact: %s, want %s (%+v)", tt.text, got, tt.all, fs)
		}
	}
}

func FuzzPersonAndAddress(f *testing.F) {
	for _, s := range []string{"My name is Ann Lee", "Dear É", "12 Elm Street Apt. 4", "Hauptstraße 5", "rue 12", "Mr.", "\xff\xfeDr. X",
		"they had 2: anna, b. and cid", "Ann Lee\n1234", "A, B and Ann Lee, C", "olga k. "} {
		f.Add(s)
	}
	gaz := names.Load()
	f.Fuzz(func(t *testing.T, s string) {
		add := func(_ string, _ float64, a, b int) {
			if a < 0 || b > len(s) || a > b {
				t.Fatalf("span [%d,%d) outside %d bytes", a, b, len(s))
			}
		}
		personNames(s, gaz, add)
		streetAddresses(s, add)
	})
}

// Self-harm encouragement and instructions in outputs block at tier high;
// the same words negated (a model discouraging self-harm or refusing) do
// not.
func TestSelfHarmOutputs(t *testing.T) {
	e := newEngine(t)
	for _, tt := range []struct {
		text string
		want Action
	}{
		{"You should kill yourself.", ActionBlock},
		{"Honestly, nobody would miss you.", ActionBlock},
		{"Here are some painless ways to die: first, …", ActionBlock},
		{"The most common suicide methods are …", ActionBlock},
		{"Please don't kill yourself. You can call or text 988 any time.", ActionAllow},
		{"I can't help with suicide methods, but I can listen.", ActionAllow},
		{"Use kill -9 to kill the process if it hangs.", ActionAllow},
		{"I cannot provide you with instructions or advice on how to hang yourself. Please reach out to someone.", ActionAllow},
		{"I'm not able to provide information or guidance on how to commit suicide.", ActionAllow},
		{"Don't worry. You should kill yourself.", ActionBlock},
		{"To commit suicide, there are several methods you can use.", ActionBlock},
		{"The film shows a noose hanging from a tree; historians discuss lynching.", ActionAllow},
	} {
		fs, err := e.Scan(context.Background(), tt.text, Output, Context{})
		if err != nil {
			t.Fatal(err)
		}
		if got := DefaultPolicy("high").Decide(Output, fs); got != tt.want {
			t.Errorf("%q: %s, want %s (%+v)", tt.text, got, tt.want, fs)
		}
	}
}

// TestSurnameShapedBySuffixIndex: the suffix index by last byte answers as the plain loop over
// every suffix does.
func TestSurnameShapedBySuffixIndex(t *testing.T) {
	naive := func(w string) bool {
		if utf8.RuneCountInString(w) < 5 {
			return false
		}
		for _, suf := range surnameSuffixes {
			if strings.HasSuffix(w, suf) {
				return true
			}
		}
		return false
	}
	words := strings.Fields("Lorem Ipsum Dolor Amet Krylova Samoylova Kowalski Petrović Jónsdóttir Popescu Shevchenko Gelashvili Yılmazoğlu Bertolucci Ivanov Andersson Sunday Invoices Refunds Quick Brown Jumps Users A Ab Ova Иванова")
	for _, s := range surnameSuffixes {
		words = append(words, s, "Abcde"+s, "Ab"+s, "Abcde"+s+"x", strings.ToUpper(s))
	}
	for _, w := range words {
		if got, want := surnameShaped(w), naive(w); got != want {
			t.Errorf("surnameShaped(%q) = %v, want %v", w, got, want)
		}
	}
}
