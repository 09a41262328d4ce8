package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTextLifecycleThroughBinary writes known PII and secrets under each store_text policy and
// tier through the running binary, waits out retention, erases one data subject, and then scans
// every byte of the data directory and later evidence packages: nothing the policy says must be
// gone is found, what must stay is found (the scan's positive control), and the log verifies.
func TestTextLifecycleThroughBinary(t *testing.T) {
	data := t.TempDir()
	// Rules that test the text: a P1 alert opens an incident whose case file copies the actor's
	// activity (with its text) from the index; first_seen keeps state in the rules snapshot.
	rulesDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rulesDir, "text.yaml"), []byte(`rules:
  - id: t.marker
    severity: P1
    select: {types: [inference]}
    condition: request.input.contains('MARKER')
  - id: t.seen
    severity: P4
    select: {types: [inference]}
    condition: first_seen(actor.id, request.input)
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Phase 1 runs with retention effectively off (one pass at start, then hourly), so the scan
	// after it sees what ingest itself writes; phase 2 runs retention every second.
	writeCfg := func(interval string) string {
		p := filepath.Join(t.TempDir(), "warden.yaml")
		if err := os.WriteFile(p, []byte(`
models:
  - {name: bot-full-low, risk_tier: low, store_text: full}
  - {name: bot-full-crit, risk_tier: critical, store_text: full}
  - {name: bot-red, risk_tier: medium, store_text: redacted}
  - {name: bot-none, risk_tier: high, store_text: none}
rules_dir: `+rulesDir+`
retention: {low: 72h, medium: 8760h, high: 8760h, critical: 8760h, interval: `+interval+`}
`), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		card     = "4111 1111 1111 1111" // full text, expires
		aliceSSN = "219-45-6780"         // full text, erased
		redCard  = "5500 0000 0000 0004" // redacted model: never on disk
		ssn      = "536-22-8149"
		token    = "ghp_Zq7Xv2Lm9Rt4Wb8Nc3Yk6Hd1Fs5Gj0Pa2Ue7"
	)
	old := time.Now().UTC().Add(-10 * 24 * time.Hour).Format(time.RFC3339) // past the low tier's 72h
	now := time.Now().UTC().Format(time.RFC3339)
	type ev struct{ id, at, model, user, input string }
	evs := []ev{
		// full, low tier, older than its retention: must go.
		{"expired-1", old, "bot-full-low", "bob", "EXPIRED-MARKER-7731 my card is " + card},
		// full, critical tier: alice's goes by erasure, carol's stays (positive control).
		{"alice-1", now, "bot-full-crit", "alice", "ALICE-MARKER-5521 ssn " + aliceSSN},
		{"alice-2", now, "bot-red", "alice", "ALICE-MARKER-5522 pay with " + redCard},
		{"carol-1", now, "bot-full-crit", "carol", "CAROL-MARKER-9904 keep this"},
		// redacted: the raw PII and secret never reach the disk; the redacted form does.
		{"red-1", now, "bot-red", "dave", "card " + redCard + " ssn " + ssn + " token " + token},
		// none: no text on disk at all.
		{"none-1", now, "bot-none", "erin", "NONE-MARKER-4410 " + token},
	}
	var body bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&body, `{"id":%q,"type":"inference","time":%q,"model":{"name":%q},"actor":{"user":%q},"request":{"input":%q},"response":{"output":"ok","latency_ms":5}}`+"\n",
			e.id, e.at, e.model, e.user, e.input)
	}
	s := startServer(t, data, "--config", writeCfg("1h"))
	if code, b := s.do(t, "POST", "/v1/events", s.ingt, &body); code != 202 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	var search func(q string) string
	search = func(q string) string {
		code, b := s.do(t, "GET", "/v1/events?q="+url.QueryEscape(q), s.admin, nil)
		if code != 200 {
			t.Fatalf("search %q: %d %s", q, code, b)
		}
		return string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting: %s\n%s", what, s.stderr)
			}
		}
	}
	waitFor("carol's text indexed", func() bool { return strings.Contains(search("CAROL-MARKER"), "carol-1") })
	if got := search("[CREDIT_CARD"); !strings.Contains(got, "red-1") {
		t.Fatalf("the redacted event is not indexed with its redacted text: %s", got)
	}
	// The incident of alice's P1 alert has a case file quoting her text (the index's copy).
	waitFor("alice's incident case file", func() bool {
		found := false
		_ = filepath.WalkDir(filepath.Join(data, "incidents", "casefiles"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				found = found || bytes.Contains(b, []byte("ALICE-MARKER-5521"))
			}
			return nil
		})
		return found
	})
	s.stop(t)
	// What ingest wrote: the raw PII of the redacted model and any text of the none model are
	// nowhere (the log's blobs included), while full text is (positive control).
	scanDir(t, data, []string{"NONE-MARKER", redCard, ssn, token, "5500000000000004"}, []string{"CAROL-MARKER-9904", "EXPIRED-MARKER-7731", aliceSSN, "[CREDIT_CARD"})

	s = startServer(t, data, "--config", writeCfg("1s"))
	waitFor("the expired text pruned by retention", func() bool { return !strings.Contains(search("EXPIRED-MARKER"), "expired-1") })
	// The expired event's index row (metadata) goes too: past its tier's retention it is found
	// by no query, while events within retention stay.
	byUser := func(u string) string {
		code, b := s.do(t, "GET", "/v1/events?user="+u, s.admin, nil)
		if code != 200 {
			t.Fatalf("search user %s: %d %s", u, code, b)
		}
		return string(b)
	}
	waitFor("the expired event's metadata pruned", func() bool { return !strings.Contains(byUser("bob"), "expired-1") })
	if !strings.Contains(byUser("carol"), "carol-1") {
		t.Fatalf("an event within retention was pruned: %s", byUser("carol"))
	}

	// Erasure for a data subject, through the CLI against the running server.
	api := []string{"--url", "http://" + s.addr, "--token", s.admin}
	code, out, errOut := runCLI(t, append([]string{"subjects", "erase", "--user", "alice"}, api...)...)
	if code != 0 || !strings.Contains(out, "erased the text of 2 events") || strings.Contains(out, "rewrote 0 incident case files") {
		t.Fatalf("subjects erase: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"subjects", "export", "--user", "alice"}, api...)...)
	if code != 0 || !strings.Contains(out, `"alice-1"`) || strings.Contains(out, "ALICE-MARKER") {
		t.Fatalf("subjects export after erasure: exit %d (want alice's events without their text)\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, append([]string{"subjects", "export", "--user", "carol"}, api...)...)
	if code != 0 || !strings.Contains(out, "CAROL-MARKER-9904") {
		t.Fatalf("subjects export of carol: exit %d\n%s", code, out)
	}
	if code, b := s.do(t, "POST", "/v1/subjects/carol/erase", "", nil); code != 401 {
		t.Fatalf("erasure without a token: %d %s", code, b)
	}
	if code, b := s.do(t, "POST", "/v1/subjects/carol/erase", s.ingt, nil); code != 403 {
		t.Fatalf("erasure with the ingest token: %d %s", code, b)
	}
	if code, b := s.do(t, "GET", "/v1/subjects/carol?colour=red", s.admin, nil); code != 400 || !strings.Contains(string(b), `"colour"`) {
		t.Fatalf("unknown parameter: %d %s", code, b)
	}
	if code, out, errOut := runCLI(t, "subjects", "erase"); code != 2 {
		t.Fatalf("subjects erase without --user: exit %d, want 2\n%s%s", code, out, errOut)
	}
	// Let one more retention pass run over the log's blobs (interval 1s).
	time.Sleep(2500 * time.Millisecond)
	s.stop(t)

	pkgs := t.TempDir()
	for _, m := range []string{"bot-full-low", "bot-full-crit", "bot-red", "bot-none"} {
		p := filepath.Join(pkgs, m+".tar")
		if code, out, errOut := runCLI(t, "evidence", "export", "--data", data, "--out", p, "--model", m); code != 0 {
			t.Fatalf("evidence export %s: exit %d\n%s%s", m, code, out, errOut)
		}
	}
	if code, out, errOut := runCLI(t, "audit", "verify", "--data", data); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify after retention and erasure: exit %d\n%s%s", code, out, errOut)
	}

	gone := []string{"EXPIRED-MARKER", "ALICE-MARKER", "NONE-MARKER", card, aliceSSN, redCard, ssn, token, "4111111111111111", "5500000000000004"}
	scanDir(t, data, gone, []string{"CAROL-MARKER-9904"})
	scanDir(t, pkgs, gone, nil)
}

// scanDir reads every byte of every file under dir: none of gone may occur, each of kept must
// (so that the scan is shown to see the text it looks for).
func scanDir(t *testing.T, dir string, gone, kept []string) {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gone {
		for p, b := range files {
			if bytes.Contains(b, []byte(g)) {
				t.Errorf("%q found in %s", g, p)
			}
		}
	}
	for _, k := range kept {
		found := false
		for _, b := range files {
			found = found || bytes.Contains(b, []byte(k))
		}
		if !found {
			t.Errorf("%q, which must still be stored, is not found under %s: the scan proves nothing", k, dir)
		}
	}
}
