package app

import (
	"context"
	"strings"
	"testing"

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
