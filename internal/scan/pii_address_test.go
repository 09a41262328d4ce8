package scan

import (
	"context"
	"testing"
)

// TestAddressSpans: each rule of pii_address.go and the street forms added
// beside it, with a case that must give the address span (want, the
// first pii.address span) and, where a rule could overreach, one that must
// not.
func TestAddressSpans(t *testing.T) {
	e := newEngine(t)
	tests := []struct {
		rule, text, want string
	}{
		{"number before the house number", "Deliver it to 4410 118 Larch Road please", "4410 118 Larch Road"},
		{"no number across a comma", "Chapter 3, 118 Larch Road", "118 Larch Road"},
		{"place and postcode lines", "Rita Oyelaran\n27 Juniper Way\n Flat 2\n Dunmore\n Ireland 44102\nPhone: 555", "27 Juniper Way\n Flat 2\n Dunmore\n Ireland 44102"},
		{"place groups after commas", "Meet me at 12 Birch Avenue, Kessling, Lower Austria.", "12 Birch Avenue, Kessling, Lower Austria"},
		{"a sentence going on stops the places", "I moved to 12 Birch Avenue, and I love it.", "12 Birch Avenue"},
		{"a label line stops the places", "12 Birch Avenue\nMobile: 0341 8387176", "12 Birch Avenue"},
		{"street abbreviation without its dot", "The shop is at 88 Quarry St\nOpen daily", "88 Quarry St"},
		{"apartment and suite together", "Unit: 50 Holm Road Suite 12 Apt. 3, Vargby", "50 Holm Road Suite 12 Apt. 3, Vargby"},
		{"street word standing apart", "Our office: Mühlbacher Strasse 41", "Mühlbacher Strasse 41"},
		{"Nordic street word apart", "Send it to Solberg gate 17 in Oslo.", "Solberg gate 17"},
		{"name, number, street word", "Enter on Kleine Wal 9 St. after six.", "Kleine Wal 9 St."},
		{"Spanish C/", "Vivo en C/ Mayor 12, Toledo", "C/ Mayor 12, Toledo"},
		{"Latin street with particles", "at Rua Sete de Abril 300 today", "Rua Sete de Abril 300"},
		{"ship's address", "Post it to USNS Halvorsen\nFPO AP 96621", "USNS Halvorsen\nFPO AP 96621"},
		{"box with its APO line", "psc 1234, box 5678\napo ae 09012", "psc 1234, box 5678\napo ae 09012"},
		{"street corner", "Wait at the corner of Tamm 7 and Harbour Lane.", "the corner of Tamm 7 and Harbour Lane"},
		{"corner of a lower-case phrase is none", "in the corner of my eye and then", ""},
		{"a name before 'and' and a street is a corner", "Return it to Ingolf and Vestervej 9 soon.", "Ingolf and Vestervej 9"},
		{"no street after St", "Chapter 12 St", ""},
	}
	for _, tt := range tests {
		fs, err := e.Scan(context.Background(), tt.text, Output, Context{})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, f := range fs {
			if f.Detector == "pii.address" {
				got = tt.text[f.Start:f.End]
				break
			}
		}
		if got != tt.want {
			t.Errorf("%s: %q: address %q, want %q", tt.rule, tt.text, got, tt.want)
		}
	}
	// Names on the place lines of an address are no people.
	for _, s := range personSpans(t, e, "Abel Crane\n14 Vine Street\n Apt. 3\n Madison\n United States 53703") {
		if w := "Abel Crane\n14 Vine Street\n Apt. 3\n Madison\n United States 53703"[s[0]:s[1]]; w != "Abel Crane" {
			t.Errorf("person %q on an address line", w)
		}
	}
}
