package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/bus/jetstream"
	"github.com/warden-ai/warden/internal/config"
)

func TestParseRoles(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		has     []string
		hasNot  []string
		wantErr string
	}{
		{in: "", want: "all", has: []string{RoleAPI, RoleIngest, RoleWorker, RoleGateway}},
		{in: "all", want: "all", has: []string{RoleWorker}},
		{in: "ingest", want: "ingest", has: []string{RoleIngest}, hasNot: []string{RoleAPI, RoleWorker, RoleGateway}},
		{in: " ingest , api,ingest", want: "ingest,api", has: []string{RoleIngest, RoleAPI}, hasNot: []string{RoleWorker}},
		{in: "worker,console", wantErr: `unknown role "console"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rs, err := ParseRoles(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || rs.String() != tt.want {
				t.Fatalf("ParseRoles(%q) = %v, %v; want %s", tt.in, rs, err, tt.want)
			}
			for _, r := range tt.has {
				if !rs.Has(r) {
					t.Errorf("%s lacks %s", rs, r)
				}
			}
			for _, r := range tt.hasNot {
				if rs.Has(r) {
					t.Errorf("%s has %s", rs, r)
				}
			}
		})
	}
}

// TestRolesNeedTheNATSBus: a role other than all without bus.driver nats is refused before
// anything is opened.
func TestRolesNeedTheNATSBus(t *testing.T) {
	_, err := New(context.Background(), Options{DataDir: t.TempDir(), Config: config.Default(), Roles: Roles{RoleWorker}})
	if err == nil || !strings.Contains(err.Error(), "bus: {driver: nats") {
		t.Fatalf("New with --role worker and the inproc bus = %v", err)
	}
}

// TestApplyClusterAlert: the api role's applier hands ALERTS messages to the alert manager —
// a raise records an alert, the same dedup key again counts it up, a message the manager
// refuses is skipped (nil: the stream moves on), a resolution resolves the open alert.
func TestApplyClusterAlert(t *testing.T) {
	env := map[string]string{"WARDEN_ADMIN_TOKEN": "admin-token-0123456789", "WARDEN_INGEST_TOKEN": "ingest-token-0123456789"}
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), Options{DataDir: t.TempDir() + "/data", Listen: "127.0.0.1:0", GatewayListen: "off",
		Config: cfg, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.runCleanups()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	raise := func(sev alert.Severity) jetstream.AlertMsg {
		return jetstream.RaiseMsg(alert.Alert{ID: "r1", RuleID: "t.r", Severity: sev, Summary: "s", DedupKey: "t.r|bot", Model: "bot", StartsAt: t0, Count: 1})
	}
	for _, step := range []struct {
		name  string
		msg   jetstream.AlertMsg
		state alert.State
		count int
	}{
		{"raise", raise(alert.P3), alert.Firing, 1},
		{"raised again", raise(alert.P3), alert.Firing, 2},
		{"refused", raise("P9"), alert.Firing, 2},
		{"resolved", jetstream.ResolveMsg("t.r|bot", t0.Add(time.Minute)), alert.Resolved, 2},
	} {
		if err := a.applyClusterAlert(ctx, step.msg); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		vs, _, err := a.alerts.List(lifecycle.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 || vs[0].State != step.state || vs[0].Count != step.count {
			t.Fatalf("%s: alerts %+v, want one %s of count %d", step.name, vs, step.state, step.count)
		}
	}
}
