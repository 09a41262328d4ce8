package sso

import (
	"testing"
	"time"
)

func TestFlowRoundTrip(t *testing.T) {
	f := NewFlow("/alerts?state=firing", time.Unix(1_800_000_000, 0))
	g, err := ParseFlow(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if g != f {
		t.Fatalf("round trip: %+v, want %+v", g, f)
	}
	if f.State == f.Nonce || len(f.Verifier) < 43 {
		t.Fatalf("weak flow: %+v", f)
	}
	for _, bad := range []string{"", "v1", "v2.a.b.c.d.1", f.Encode() + ".x", "v1.short.b.c.Lw.1",
		"v1.aaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaa!.Lw.1", "v1.aaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaa.%%.1",
		"v1.aaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaa.Lw.-1"} {
		if _, err := ParseFlow(bad); err == nil {
			t.Errorf("ParseFlow(%q) accepted", bad)
		}
	}
}

func FuzzParseFlow(f *testing.F) {
	f.Add(NewFlow("/", time.Unix(1_800_000_000, 0)).Encode())
	f.Add("v1.a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFlow(s)
		if err != nil {
			return
		}
		g, err := ParseFlow(fl.Encode())
		if err != nil || g != fl {
			t.Fatalf("re-encoded flow %q does not parse back: %v", fl.Encode(), err)
		}
	})
}
