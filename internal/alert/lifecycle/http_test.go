package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/httpx"
)

// client is a bare JSON client for these tests (the CLI's client is cli.Client).
type client struct{ base string }

func (c *client) Do(ctx context.Context, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, &body)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func newServer(t *testing.T) (*Manager, *httptest.Server, *client) {
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
	return m, srv, &client{base: srv.URL}
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
	if err := c.Do(ctx, "POST", "/v1/alerts/"+id+"/ack", ChangeRequest{Actor: "alice", Comment: "mine"}, &a); err != nil {
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
