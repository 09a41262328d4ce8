package access

import (
	"context"
	"testing"
)

func TestRoleGrants(t *testing.T) {
	all := []Permission{View, ReadRaw, Respond, Administer, Send, Scrape}
	want := map[Role][]Permission{
		Viewer:  {View, Scrape},
		Analyst: {View, ReadRaw, Respond, Scrape},
		Auditor: {View, ReadRaw, Scrape},
		Admin:   all,
		Ingest:  {Send},
		Metrics: {Scrape},
		"":      nil,
		"root":  nil,
	}
	for role, perms := range want {
		for _, p := range all {
			exp := false
			for _, q := range perms {
				exp = exp || q == p
			}
			if got := role.Can(p); got != exp {
				t.Errorf("%q.Can(%s) = %v, want %v", role, p, got, exp)
			}
		}
	}
}

func TestAuditorChangesNothing(t *testing.T) {
	for _, p := range []Permission{Respond, Administer, Send} {
		if Auditor.Can(p) {
			t.Errorf("auditor may %s", p)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"viewer", true}, {"analyst", true}, {"auditor", true}, {"admin", true}, {"ingest", false}, {"metrics", false}, {"Admin", false}, {"", false}} {
		r, err := ParseRole(tc.in)
		if (err == nil) != tc.ok || (tc.ok && string(r) != tc.in) {
			t.Errorf("ParseRole(%q) = %q, %v", tc.in, r, err)
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("empty context has a principal")
	}
	p := Principal{User: "ann", Role: Analyst}
	got, ok := FromContext(WithPrincipal(context.Background(), p))
	if !ok || got != p {
		t.Fatalf("got %+v %v", got, ok)
	}
}
