// Package access holds Warden's roles and permissions and the one check used by both the API and
// the console: a [Principal] (who is calling, with which [Role]) may do what its role grants.
//
// Roles, from least to most: viewer (dashboards, no raw text), analyst (+ act on alerts,
// incidents, containment and baselines, and read the events behind them), auditor (read-only
// everything including raw events and evidence export; changes nothing), admin (+ users, keys,
// configuration and erasure). Two machine roles stand beside them: ingest (may only send events)
// and metrics (may only scrape /metrics).
package access

import (
	"context"
	"fmt"
	"slices"
)

// Role is what a principal may do.
type Role string

// Roles.
const (
	Viewer  Role = "viewer"
	Analyst Role = "analyst"
	Auditor Role = "auditor"
	Admin   Role = "admin"
	// Ingest and Metrics are the roles of the automation tokens; no person has them.
	Ingest  Role = "ingest"
	Metrics Role = "metrics"
)

// PersonRoles are the roles a person (a user) may have, least first.
var PersonRoles = []Role{Viewer, Analyst, Auditor, Admin}

// ParseRole returns the person role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(PersonRoles, r) {
		return "", fmt.Errorf("unknown role %q (want viewer, analyst, auditor or admin)", s)
	}
	return r, nil
}

// Permission is one kind of operation.
type Permission string

// Permissions.
const (
	// View: dashboards, alerts, incidents, models, metrics and reports — no raw event text.
	View Permission = "view"
	// ReadRaw: events with their stored text, proofs, case files, evidence and subject exports,
	// key and user lists.
	ReadRaw Permission = "read_raw"
	// Respond: acknowledge, resolve and silence alerts; open and work incidents; apply and lift
	// containment; set baselines.
	Respond Permission = "respond"
	// Administer: users, virtual keys, configuration, data-subject erasure.
	Administer Permission = "administer"
	// Send: send events (POST /v1/events, /v1/traces).
	Send Permission = "send"
	// Scrape: read /metrics.
	Scrape Permission = "scrape"
)

var grants = map[Role][]Permission{
	Viewer:  {View, Scrape},
	Analyst: {View, ReadRaw, Respond, Scrape},
	Auditor: {View, ReadRaw, Scrape},
	Admin:   {View, ReadRaw, Respond, Administer, Send, Scrape},
	Ingest:  {Send},
	Metrics: {Scrape},
}

// Can reports whether role r grants p.
func (r Role) Can(p Permission) bool { return slices.Contains(grants[r], p) }

// Principal is an authenticated caller: a person (User is their name) or an automation token
// (User is "admin", "ingest" or "metrics").
type Principal struct {
	User string
	Role Role
}

// Can reports whether the principal's role grants p.
func (p Principal) Can(perm Permission) bool { return p.Role.Can(perm) }

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal stored by WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
