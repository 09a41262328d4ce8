package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoShowsDetectionsWithinAMinute runs `warden demo` and reads its output: within a minute
// the webhook receiver must have printed alerts from the gateway (injection, exfiltration),
// the access analytics (denials then allow) and the pipeline rules, and the gateway must have
// denied the consumer outside its groups, and the probes of claims-bot must have caught its
// simulated upstream turning vulnerable (warden.probe.regression).
func TestDemoShowsDetectionsWithinAMinute(t *testing.T) {
	cmd := exec.Command(wardenBin, "demo", "--data", t.TempDir(), "--listen", freeAddr(t), "--gateway-listen", freeAddr(t), "--interval", "1s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	want := map[string]bool{
		"warden.sec.prompt_injection":     false,
		"warden.sec.output_exfiltration":  false,
		"warden.sec.denials_then_allow":   false,
		"warden.pipe.unapproved_artifact": false,
		// issue 11's matrix: pipeline changes outside a change, and the actor judged against its
		// own (backdated) history
		"warden.pipe.unapproved_deployment": false,
		"warden.pipe.config_changed":        false,
		"warden.pipe.dataset_changed":       false,
		"warden.pipe.model_registered":      false,
		"warden.pipe.dependency_change":     false,
		"warden.sec.new_export_destination": false,
		"warden.sec.off_hours_access":       false,
		"warden.sec.bulk_export":            false,
		"group_not_allowed":                 false,
		"warden.probe.regression":           false,
		"SIMULATED":                         false,
		"TRUST   witness witness.demo cosigned the audit log's checkpoint": false,
		`TRUST   data subject "emp-12" erased`:                             false,
		"the erasure changed no history":                                   false,
		"time-stamped (RFC 3161) by":                                       false,
		"AGGREGATE ":                                                       false,
		// issue 10 item 5: a guard model catches what the built-ins let through
		"guarded: paraphrased attack → 403 content_blocked": false,
		"judged by guard.sim-prompt-guard":                  false,
		// issue 10's verdicts: alarming words pass, a harmful request is flagged quietly, an
		// order inside a pasted e-mail is flagged, an adversarial suffix is blocked
		"alarming words, ordinary   → 200":     false,
		"adversarial suffix         → 403":     false,
		"flag harmful_request.structure quiet": false,
		"flag indirect.response_order":         false,
		"block jailbreak.suffix":               false,
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	var seen []string
	for {
		missing := 0
		for _, ok := range want {
			if !ok {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early; output:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			for k := range want {
				if strings.Contains(line, k) {
					want[k] = true
				}
			}
		case <-deadline:
			t.Fatalf("after 60 s the demo had not shown %v; output tail:\n%s", want, strings.Join(seen[max(0, len(seen)-40):], "\n"))
		}
	}
}

// TestDemoPrintsConsoleLogins runs `warden demo` and logs in to the console it prints with the
// printed analyst login: 303 with a session, and the overview shows the demo's models.
func TestDemoPrintsConsoleLogins(t *testing.T) {
	cmd := exec.Command(wardenBin, "demo", "--data", t.TempDir(), "--listen", freeAddr(t), "--gateway-listen", freeAddr(t), "--interval", "1s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	var consoleURL string
	logins := map[string][2]string{}
	for sc.Scan() && len(logins) < 4 {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "Console:":
			consoleURL = strings.TrimSuffix(f[1], "/")
		case len(f) == 5 && f[1] == "user" && f[3] == "password":
			logins[f[0]] = [2]string{f[2], f[4]}
		}
	}
	if consoleURL == "" || len(logins) != 4 {
		t.Fatalf("demo printed console %q and logins %v; want the URL and one login per role", consoleURL, logins)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var csrf string
	waitUntil(t, 10*time.Second, func() bool {
		resp, err := c.Get(consoleURL + "/login")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
		if m != nil {
			csrf = string(m[1])
		}
		return m != nil
	})
	an := logins["analyst"]
	resp, err := c.PostForm(consoleURL+"/login", url.Values{"csrf": {csrf}, "username": {an[0]}, "password": {an[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the printed analyst password: %d", resp.StatusCode)
	}
	resp, err = c.Get(consoleURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), an[0]) || !strings.Contains(string(b), "analyst") {
		t.Fatalf("overview as the demo analyst: %d %.300s", resp.StatusCode, b)
	}
}

func waitUntil(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
