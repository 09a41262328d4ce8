package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/cli"
	"github.com/warden-ai/warden/internal/httpx"
)

func newServer(t *testing.T) (*Manager, *httptest.Server, *Client) {
	t.Helper()
	m, err := New(Options{
		Deliverer:      &recorder{},
		DeliveryStatus: func(id string) any { return map[string]string{"oncall": "delivered"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Mux(m.Routes()...))
	t.Cleanup(srv.Close)
	return m, srv, &Client{BaseURL: srv.URL, Token: "secret-token"}
}

func TestHTTPAlerts(t *testing.T) {
	m, srv, c := newServer(t)
	ctx := context.Background()
	if err := m.Receive(ctx, []alert.Alert{mk("inject", alert.P1, "bot"), mk("drift", alert.P3, "other")}); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Alerts []View `json:"alerts"`
	}
	if err := c.Do(ctx, "GET", "/v1/alerts?severity=P1&state=firing", nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 1 || page.Alerts[0].RuleName != "inject" {
		t.Fatalf("list = %+v", page.Alerts)
	}
	id := page.Alerts[0].ID
	var v map[string]any
	if err := c.Do(ctx, "GET", "/v1/alerts/"+id, nil, &v); err != nil {
		t.Fatal(err)
	}
	if v["delivery"] == nil {
		t.Errorf("delivery status not attached: %v", v)
	}
	var a alert.Alert
	if err := c.Do(ctx, "POST", "/v1/alerts/"+id+"/ack", changeBody{Actor: "alice", Comment: "mine"}, &a); err != nil {
		t.Fatal(err)
	}
	if a.State != alert.Acknowledged || a.AckedBy != "alice" {
		t.Fatalf("ack = %+v", a)
	}

	tests := []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"GET", "/v1/alerts?state=open", "", 400, "invalid", "state"},
		{"GET", "/v1/alerts?severity=P9", "", 400, "invalid", "severity"},
		{"GET", "/v1/alerts?since=yesterday", "", 400, "invalid", "since"},
		{"GET", "/v1/alerts?limit=0", "", 400, "invalid", "limit"},
		{"GET", "/v1/alerts?cursor=zzz", "", 400, "invalid", "cursor"},
		{"GET", "/v1/alerts/nope", "", 404, "not_found", ""},
		{"POST", "/v1/alerts/" + id + "/ack", `{}`, 409, "conflict", ""},
		{"POST", "/v1/alerts/" + id + "/resolve", `{"actor":1}`, 400, "invalid", "actor"},
		{"POST", "/v1/alerts/" + id + "/resolve", `{"bogus":1}`, 400, "invalid", ""},
		{"POST", "/v1/silences", `{"matchers":"model=","duration":"1h","comment":"x"}`, 400, "invalid", "matchers"},
		{"POST", "/v1/silences", `{"matchers":"model=bot","duration":"-1h","comment":"x"}`, 400, "invalid", "duration"},
		{"POST", "/v1/silences", `{"matchers":"model=bot","duration":"1h"}`, 400, "invalid", "comment"},
		{"POST", "/v1/silences", `{"matchers":"model=~(","duration":"1h","comment":"x"}`, 400, "invalid", "matchers"},
		{"DELETE", "/v1/silences/nope", "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Error httpx.Error }
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || e.Error.Code != tt.code || e.Error.Field != tt.field {
				t.Errorf("got %d %+v, want %d %s %s", resp.StatusCode, e.Error, tt.status, tt.code, tt.field)
			}
		})
	}
}

func TestCLI(t *testing.T) {
	m, _, c := newServer(t)
	ctx := context.Background()
	if err := m.Receive(ctx, []alert.Alert{mk("inject", alert.P1, "bot"), mk("drift", alert.P3, "bot")}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := RunCLI(ctx, args, c, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	out := run("list", "--severity", "P3")
	if !strings.Contains(out, "drift") || strings.Contains(out, "inject") || !strings.Contains(out, "inhibited") {
		t.Errorf("list output:\n%s", out)
	}
	vs, _, _ := m.List(Filter{Severity: alert.P1})
	if out := run("ack", vs[0].ID, "--comment", "on it", "--actor", "alice"); !strings.Contains(out, "acknowledged by alice") {
		t.Errorf("ack output: %s", out)
	}
	if out := run("resolve", vs[0].ID); !strings.Contains(out, "resolved by api") {
		t.Errorf("resolve output: %s", out)
	}
	sid := strings.TrimSpace(run("silence", "add", "--matchers", `model=bot,severity=~"P3|P4"`, "--duration", "2h", "--comment", "maintenance", "--author", "bob"))
	s, err := m.Silence(sid)
	if err != nil || s.CreatedBy != "bob" || s.EndsAt.Sub(s.StartsAt) != 2*time.Hour {
		t.Fatalf("silence %q = %+v, %v", sid, s, err)
	}
	if out := run("silence", "list", "--state", "active"); !strings.Contains(out, sid) || !strings.Contains(out, `severity=~"P3|P4"`) {
		t.Errorf("silence list:\n%s", out)
	}
	run("silence", "expire", sid)
	if out := run("silence", "list", "--state", "active"); strings.Contains(out, sid) {
		t.Errorf("expired silence still active:\n%s", out)
	}

	var ue *cli.UsageError
	for _, args := range [][]string{{}, {"frob"}, {"ack"}, {"silence"}, {"silence", "add", "--matchers", "x"}, {"silence", "add", "--matchers", "a=b", "--duration", "1h"}, {"list", "--bogus"}} {
		if err := RunCLI(ctx, args, c, &bytes.Buffer{}); !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want UsageError", args, err)
		}
	}
	var ae *httpx.Error
	err = RunCLI(ctx, []string{"ack", "missing"}, c, &bytes.Buffer{})
	if !errors.As(err, &ae) || ae.Status != 404 || strings.Contains(err.Error(), c.Token) {
		t.Errorf("ack missing: %v", err)
	}
	bad := &Client{BaseURL: "http://127.0.0.1:1", Token: "secret-token"}
	if err := RunCLI(ctx, []string{"list"}, bad, &bytes.Buffer{}); err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("unreachable server: %v", err)
	}
}
