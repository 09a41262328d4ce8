package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIncidentCaseFileVerifiesOffline raises a P1 through the binary (an artifact changed
// without an approved deployment), waits for the incident it opens, downloads the case-file
// archive and checks its evidence package with `warden evidence verify` — nothing but the file.
func TestIncidentCaseFileVerifiesOffline(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	now := time.Now().UTC()
	evs := `{"id":"dep-1","type":"pipeline","time":"` + now.Add(-2*time.Minute).Format(time.RFC3339) + `","model":{"name":"fraud-model"},"stage":"deployment","action":"model_deployed","approved_by":"cab","artifact":{"sha256":"` + strings.Repeat("a", 64) + `"}}
{"id":"dep-2","type":"pipeline","time":"` + now.Format(time.RFC3339) + `","model":{"name":"fraud-model"},"stage":"deployment","action":"model_deployed","artifact":{"sha256":"` + strings.Repeat("b", 64) + `"}}
`
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, strings.NewReader(evs)); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	s.waitAnalysed(t)

	var incID string
	deadline := time.Now().Add(15 * time.Second)
	for incID == "" {
		code, body := s.do(t, "GET", "/v1/incidents", s.admin, nil)
		if code != 200 {
			t.Fatalf("incidents: %d %s", code, body)
		}
		var out struct {
			Incidents []struct{ ID, Severity, Model string } `json:"incidents"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		for _, inc := range out.Incidents {
			if inc.Severity == "P1" && inc.Model == "fraud-model" {
				incID = inc.ID
			}
		}
		if incID == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no P1 incident opened: %s", body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The CLI reaches the same records through the API.
	if code, out, errOut := runCLI(t, "alerts", "list", "--url", "http://"+s.addr, "--token", s.admin); code != 0 || !strings.Contains(out, "Artifact hash change without an approved deployment") {
		t.Fatalf("warden alerts list: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "incidents", "list", "--url", "http://"+s.addr, "--data", data); code != 0 || !strings.Contains(out, incID) {
		t.Fatalf("warden incidents list: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "alerts", "list", "--url", "http://"+s.addr, "--token", "wrong-token-0123456789"); code == 0 || strings.Contains(errOut, "wrong-token-0123456789") {
		t.Fatalf("alerts with a wrong token: exit %d, stderr %q", code, errOut)
	}
	code, archive := s.do(t, "GET", "/v1/incidents/"+incID+"/export", s.admin, nil)
	if code != 200 {
		t.Fatalf("export: %d %s\n%s", code, archive, s.stderr)
	}
	var pkg []byte
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(h.Name, "evidence.pkg") {
			pkg, _ = io.ReadAll(tr)
		}
	}
	if len(pkg) == 0 {
		t.Fatal("case file archive has no evidence.pkg")
	}
	path := filepath.Join(t.TempDir(), "evidence.pkg")
	if err := os.WriteFile(path, pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	code2, out, errOut := runCLI(t, "evidence", "verify", path)
	if code2 != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("case-file evidence does not verify offline: %d %s %s", code2, out, errOut)
	}
	// The containment the rule applied (pause the model) is in force at the gateway's store.
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body := s.do(t, "GET", "/v1/containment", s.admin, nil)
		if code == 200 && strings.Contains(string(body), "fraud-model") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containment not applied: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
