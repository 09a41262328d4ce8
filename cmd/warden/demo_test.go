package main

import (
	"bufio"
	"os/exec"
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
