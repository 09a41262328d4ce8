package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
)

// TestChangesAreAttributedToThePerson: an analyst's personal token acks and resolves an alert;
// the alert records the analyst as acked_by/resolved_by, and the audit log holds access events
// with actor.user = the analyst. An auditor's ack is refused (403) and changes nothing.
func TestChangesAreAttributedToThePerson(t *testing.T) {
	a := startTestApp(t)
	ctx := context.Background()
	token := func(name string, role access.Role) string {
		if _, err := a.Users().Create(ctx, name, role, "password-"+name); err != nil {
			t.Fatal(err)
		}
		tok, _, err := a.Users().IssueToken(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ann, aud := token("ann", access.Analyst), token("otto", access.Auditor)
	if err := a.alerts.Receive(ctx, []alert.Alert{{RuleID: "r1", RuleName: "test rule", Severity: alert.P2, Summary: "s", DedupKey: "k1", Model: "bot"}}); err != nil {
		t.Fatal(err)
	}
	list, _, err := a.alerts.List(lifecycle.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("alerts: %v %v", list, err)
	}
	id := list[0].ID
	call := func(tok, method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, "http://"+a.Addr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := call(aud, "POST", "/v1/alerts/"+id+"/ack", `{"actor":"someone-else"}`); code != http.StatusForbidden || !strings.Contains(string(b), "auditor") {
		t.Fatalf("auditor ack: %d %s, want 403", code, b)
	}
	if code, b := call(ann, "POST", "/v1/alerts/"+id+"/ack", `{"actor":"someone-else","comment":"looking"}`); code != 200 {
		t.Fatalf("analyst ack: %d %s", code, b)
	}
	code, b := call(ann, "POST", "/v1/alerts/"+id+"/resolve", `{"comment":"false positive"}`)
	var al alert.Alert
	if code != 200 || json.Unmarshal(b, &al) != nil {
		t.Fatalf("resolve: %d %s", code, b)
	}
	if al.AckedBy != "ann" || al.ResolvedBy != "ann" {
		t.Fatalf("acked_by %q resolved_by %q, want ann (the token's person, not the body's actor)", al.AckedBy, al.ResolvedBy)
	}
	// The audit log: access events by ann for both changes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, b := call(aud, "GET", "/v1/events?type=access&user=ann", "")
		if code != 200 {
			t.Fatalf("auditor search: %d %s", code, b)
		}
		var page struct {
			Events []struct {
				Action string `json:"action"`
				Actor  struct {
					User string `json:"user"`
				} `json:"actor"`
			} `json:"events"`
		}
		_ = json.Unmarshal(b, &page)
		got := map[string]bool{}
		for _, e := range page.Events {
			if e.Actor.User == "ann" {
				got[e.Action] = true
			}
		}
		if got["alert.acknowledged"] && got["alert.resolved"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit events by ann: %v (%s)", got, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
