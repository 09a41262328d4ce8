// Package lifecycle runs the alerts raised by rules through their lifecycle: dedup, grouping,
// silences, inhibition, escalation and reminders, acknowledgement and resolution, persisted in
// a journal and served as /v1/alerts and /v1/silences. It hands each notification to the
// notify pipeline; the alert record itself lives in package alert, which the notifiers share.
package lifecycle

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/notify"
)

// Deliverer hands one notification to one named receiver (*notify.Dispatcher). The Manager
// calls it from a single goroutine (Run) and never while holding its lock. An error is logged;
// notify.ErrUnknownReceiver (an escalation level names a receiver that is not configured, e.g.
// the default "manager") only at debug, since the alert stays visible in the API.
type Deliverer interface {
	Deliver(ctx context.Context, receiver string, n *notify.Notification) error
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, receiver string, n *notify.Notification) error

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, receiver string, n *notify.Notification) error {
	return f(ctx, receiver, n)
}

var _ Deliverer = DelivererFunc(nil)

// AuditFunc records a change (silence created/expired, alert acknowledged/resolved) in the
// audit trail. details never holds secrets.
type AuditFunc func(ctx context.Context, action string, details map[string]any)

// Options configures a Manager. Zero values take the documented defaults.
type Options struct {
	// Dir holds the state journal (created 0700, file 0600). Empty keeps state in memory only.
	Dir string
	// Deliverer receives every notification (required).
	Deliverer Deliverer
	// Escalation lists, per severity, ordered levels; nil uses DefaultEscalation.
	Escalation map[alert.Severity][]config.EscalationLevel
	// GroupBy names the labels (see Labels) whose values form a group key when the rule did
	// not set Alert.GroupKey. Default: alertname, model.
	GroupBy []string
	// GroupWait delays a new P3/P4 group and follow-ups: zero means the default 30s, a negative
	// value means no wait (as net/http's IdleTimeout treats negative as none).
	GroupWait      time.Duration
	GroupInterval  time.Duration // default 5m
	RepeatInterval time.Duration // default 4h
	// Inhibit rules; nil uses DefaultInhibitRules, an empty non-nil slice disables inhibition.
	Inhibit []InhibitRule
	// MaxEventIDs bounds Alert.EventIDs (default 100; the first ones are kept, they triggered).
	MaxEventIDs int
	// RetainResolved keeps resolved alerts queryable this long (default 7 days).
	RetainResolved time.Duration
	// MaxAlerts bounds the alerts kept: beyond it the longest-resolved alerts are dropped
	// before RetainResolved (default 50,000). Firing and acknowledged alerts are never dropped.
	MaxAlerts int
	Audit     AuditFunc
	// OnChange is called (outside the lock) after an alert is created, updated, acknowledged
	// or resolved: the incident layer subscribes here.
	OnChange func(ctx context.Context, a alert.Alert)
	// DeliveryStatus, when set, is attached to GET /v1/alerts/{id} as "delivery".
	DeliveryStatus func(alertID string) any
	// RequestActor names the caller of an HTTP request (e.g. from its token); default: the
	// "actor" field of the request body, else "api".
	RequestActor func(r *http.Request) string
	Logger       *slog.Logger
}

// DefaultEscalation is P1: oncall at once, manager after 15m, exec after 30m; P2: oncall at
// once, manager after 1h; P3 and P4: the ticket queue.
func DefaultEscalation() map[alert.Severity][]config.EscalationLevel {
	return map[alert.Severity][]config.EscalationLevel{
		alert.P1: {{After: 0, Receivers: []string{"oncall"}}, {After: 15 * time.Minute, Receivers: []string{"manager"}}, {After: 30 * time.Minute, Receivers: []string{"exec"}}},
		alert.P2: {{After: 0, Receivers: []string{"oncall"}}, {After: time.Hour, Receivers: []string{"manager"}}},
		alert.P3: {{After: 0, Receivers: []string{"tickets"}}},
		alert.P4: {{After: 0, Receivers: []string{"tickets"}}},
	}
}

// OptionsFromConfig takes escalation and grouping settings from the configuration file;
// severities missing from escalation keep their defaults.
func OptionsFromConfig(c *config.Config) Options {
	o := Options{
		GroupWait:      c.Response.GroupWait,
		GroupInterval:  c.Response.GroupInterval,
		RepeatInterval: c.Response.RepeatInterval,
		Escalation:     DefaultEscalation(),
	}
	if o.GroupWait == 0 {
		o.GroupWait = -1 // the file said 0s explicitly (config presets the default): no wait
	}
	for sev, levels := range c.Escalation {
		o.Escalation[sev] = slices.Clone(levels)
	}
	return o
}

// Errors returned by the Manager.
var (
	ErrNotFound = errors.New("not found")
	// ErrState reports a lifecycle transition that is not allowed (e.g. acking a resolved alert).
	ErrState = errors.New("invalid state transition")
)

// Manager owns the alert lifecycle: dedup, grouping, silences, inhibition, escalation and the
// persistence of all of it. It is safe for concurrent use; Run drives its timers.
type Manager struct {
	opt     Options
	log     *slog.Logger
	inhibit []InhibitRule

	mu       sync.Mutex
	j        *journal
	alerts   map[string]*entry
	active   map[string]string // dedup key → id of the unresolved alert
	groups   map[string]*group
	silences map[string]*Silence
	outbox   []delivery
	wake     chan struct{}
}

type delivery struct {
	receiver string
	n        *notify.Notification
}

// New opens (or creates) the state in opt.Dir and returns a Manager; call Run to drive timers
// and Close to release the journal.
func New(opt Options) (*Manager, error) {
	if opt.Deliverer == nil {
		return nil, fmt.Errorf("alert manager: %w", &FieldError{Field: "Deliverer", Msg: "required"})
	}
	if opt.Escalation == nil {
		opt.Escalation = DefaultEscalation()
	}
	opt.Escalation = maps.Clone(opt.Escalation) // sorted below; never modify the caller's map
	for sev, levels := range opt.Escalation {
		if !sev.Valid() {
			return nil, fmt.Errorf("alert manager: %w", &FieldError{Field: "Escalation." + string(sev), Msg: "severity must be P1..P4"})
		}
		sorted := slices.Clone(levels)
		slices.SortStableFunc(sorted, func(a, b config.EscalationLevel) int { return cmp.Compare(a.After, b.After) })
		opt.Escalation[sev] = sorted
	}
	if len(opt.GroupBy) == 0 {
		opt.GroupBy = []string{"alertname", "model"}
	}
	switch {
	case opt.GroupWait == 0:
		opt.GroupWait = 30 * time.Second
	case opt.GroupWait < 0:
		opt.GroupWait = 0
	}
	if opt.GroupInterval <= 0 {
		opt.GroupInterval = 5 * time.Minute
	}
	if opt.RepeatInterval <= 0 {
		opt.RepeatInterval = 4 * time.Hour
	}
	if opt.MaxEventIDs <= 0 {
		opt.MaxEventIDs = 100
	}
	if opt.RetainResolved <= 0 {
		opt.RetainResolved = 7 * 24 * time.Hour
	}
	if opt.MaxAlerts <= 0 {
		opt.MaxAlerts = 50_000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	inhibit := opt.Inhibit
	if inhibit == nil {
		inhibit = DefaultInhibitRules()
	}
	inhibit = slices.Clone(inhibit)
	for i := range inhibit {
		if err := inhibit[i].compile(); err != nil {
			return nil, fmt.Errorf("alert manager: inhibit rule %d: %w", i, err)
		}
	}
	m := &Manager{
		opt:      opt,
		log:      opt.Logger.With("component", "alert"),
		inhibit:  inhibit,
		alerts:   map[string]*entry{},
		active:   map[string]string{},
		groups:   map[string]*group{},
		silences: map[string]*Silence{},
		wake:     make(chan struct{}, 1),
	}
	if opt.Dir != "" {
		j, snap, err := openJournal(opt.Dir)
		if err != nil {
			return nil, fmt.Errorf("alert manager: %w", err)
		}
		m.j = j
		m.alerts, m.groups, m.silences = snap.alerts, snap.groups, snap.silences
		for id, e := range m.alerts {
			if e.A.State != alert.Resolved {
				m.active[e.A.DedupKey] = id
			}
		}
		m.mu.Lock()
		err = m.compactLocked(time.Now())
		m.mu.Unlock()
		if err != nil {
			j.close()
			return nil, fmt.Errorf("alert manager: %w", err)
		}
	}
	return m, nil
}

// Close releases the journal. Run must have returned.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.j.close()
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// persist journals recs (one write, one fsync) and compacts the journal when superseded lines
// dominate, so a hot dedup key cannot grow it without bound.
func (m *Manager) persist(recs ...record) error {
	if m.j == nil {
		return nil
	}
	if err := m.j.append(recs); err != nil {
		return err
	}
	if err := m.compactLocked(time.Now()); err != nil {
		m.log.Error("compact alert journal", "err", err)
	}
	return nil
}

func alertRec(e *entry) record { return record{Kind: recAlert, Alert: e} }
func groupRec(g *group) record { return record{Kind: recGroup, Group: g} }

func (m *Manager) levels(sev alert.Severity) []config.EscalationLevel { return m.opt.Escalation[sev] }

// groupKey is the rule's GroupKey when set, otherwise the GroupBy label values.
func (m *Manager) groupKey(a *alert.Alert) string {
	if a.GroupKey != "" {
		return a.GroupKey
	}
	l := Labels(a)
	var b strings.Builder
	for i, name := range m.opt.GroupBy {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteString("=")
		b.WriteString(quote(l[name]))
	}
	return "{" + b.String() + "}"
}

// Receive takes alerts raised by the rules engine. An alert whose DedupKey matches an
// unresolved one updates it (Count, UpdatedAt, Values, EventIDs appended up to MaxEventIDs);
// otherwise a new firing alert is created and grouped. Invalid alerts are rejected as a whole
// batch before anything is stored.
func (m *Manager) Receive(ctx context.Context, in []alert.Alert) error {
	for i := range in {
		switch {
		case in[i].DedupKey == "":
			return &FieldError{Field: fmt.Sprintf("alerts[%d].dedup_key", i), Msg: "required"}
		case !in[i].Severity.Valid():
			return &FieldError{Field: fmt.Sprintf("alerts[%d].severity", i), Msg: fmt.Sprintf("%q is not P1..P4", in[i].Severity)}
		}
	}
	now := time.Now()
	var changed []alert.Alert
	m.mu.Lock()
	var recs []record
	touched := map[string]*group{}
	for i := range in {
		a := in[i]
		if id, ok := m.active[a.DedupKey]; ok {
			e := m.alerts[id]
			e.A.Count += max(a.Count, 1)
			e.A.UpdatedAt = now
			if len(a.Values) > 0 {
				e.A.Values = a.Values
			}
			e.A.EventIDs = appendBounded(e.A.EventIDs, a.EventIDs, m.opt.MaxEventIDs)
			if !a.FirstEvent.IsZero() && (e.A.FirstEvent.IsZero() || a.FirstEvent.Before(e.A.FirstEvent)) {
				e.A.FirstEvent = a.FirstEvent
			}
			recs = append(recs, alertRec(e))
			changed = append(changed, e.A)
			continue
		}
		a.ID = newID()
		a.State = alert.Firing
		if a.StartsAt.IsZero() || a.StartsAt.After(now) {
			a.StartsAt = now
		}
		a.UpdatedAt = now
		a.Count = max(a.Count, 1)
		a.AckedAt, a.AckedBy, a.ResolvedAt, a.ResolvedBy = nil, "", nil, ""
		a.EventIDs = appendBounded(nil, a.EventIDs, m.opt.MaxEventIDs)
		a.GroupKey = m.groupKey(&a)
		e := &entry{A: a}
		m.scheduleEscalation(e, 0)
		m.alerts[a.ID] = e
		m.active[a.DedupKey] = a.ID
		recs = append(recs, alertRec(e))
		changed = append(changed, a)

		g := m.groups[a.GroupKey]
		if g == nil {
			g = &group{Key: a.GroupKey, Created: now}
			m.groups[a.GroupKey] = g
		}
		m.scheduleFlush(g, &a, now)
		touched[g.Key] = g
	}
	for _, g := range touched {
		recs = append(recs, groupRec(g))
	}
	err := m.persist(recs...)
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("receive alerts: %w", err)
	}
	m.kick()
	m.changed(ctx, changed)
	return nil
}

// scheduleFlush applies the grouping rules for a new alert a in g: the first P1/P2 alert of a
// group (or one that raises the group to P1/P2) is flushed at once; a new P3/P4 group waits
// group_wait; follow-ups wait group_wait and at least group_interval after the last flush.
func (m *Manager) scheduleFlush(g *group, a *alert.Alert, now time.Time) {
	urgent := a.Severity.Rank() <= 2 && (g.TopRank == 0 || a.Severity.Rank() < g.TopRank)
	var due time.Time
	switch {
	case urgent:
		due = now
	case g.LastFlush.IsZero():
		due = now.Add(m.opt.GroupWait)
	default:
		due = now.Add(m.opt.GroupWait)
		if next := g.LastFlush.Add(m.opt.GroupInterval); next.After(due) {
			due = next
		}
	}
	if g.NextFlush.IsZero() || due.Before(g.NextFlush) {
		g.NextFlush = due
	}
}

// scheduleEscalation sets the due time of the first level at or after from with a delay > 0
// (levels with After 0 are notified by the group flush).
func (m *Manager) scheduleEscalation(e *entry, from int) {
	levels := m.levels(e.A.Severity)
	e.EscalateAt = time.Time{}
	for i := from; i < len(levels); i++ {
		if levels[i].After > 0 {
			e.NextLevel = i
			e.EscalateAt = e.A.StartsAt.Add(levels[i].After)
			return
		}
	}
	e.NextLevel = len(levels)
}

func appendBounded(dst, add []string, limit int) []string {
	seen := make(map[string]bool, len(dst))
	for _, id := range dst {
		seen[id] = true
	}
	for _, id := range add {
		if len(dst) >= limit {
			break
		}
		if id != "" && !seen[id] {
			seen[id] = true
			dst = append(dst, id)
		}
	}
	return dst
}

func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) changed(ctx context.Context, as []alert.Alert) {
	if m.opt.OnChange == nil {
		return
	}
	for _, a := range as {
		m.opt.OnChange(ctx, a)
	}
}

func (m *Manager) audit(ctx context.Context, action string, details map[string]any) {
	if m.opt.Audit != nil {
		m.opt.Audit(ctx, action, details)
	}
}

// Ack acknowledges a firing alert: escalation stops and the receivers notified so far are told.
func (m *Manager) Ack(ctx context.Context, id, actor, comment string) (alert.Alert, error) {
	return m.transition(ctx, id, actor, comment, "", alert.Acknowledged)
}

// Resolve resolves a firing or acknowledged alert; the receivers notified so far are told.
func (m *Manager) Resolve(ctx context.Context, id, actor, comment string) (alert.Alert, error) {
	return m.ResolveAs(ctx, id, actor, comment, "")
}

// ResolveAs is Resolve with the analyst's verdict (alert.FalsePositive, alert.Benign,
// alert.TruePositive or empty), stored with the alert, audited and counted per rule.
func (m *Manager) ResolveAs(ctx context.Context, id, actor, comment, reason string) (alert.Alert, error) {
	if !alert.ValidReason(reason) {
		return alert.Alert{}, &FieldError{Field: "reason", Msg: "must be one of " + strings.Join(alert.ResolveReasons, ", ")}
	}
	return m.transition(ctx, id, actor, comment, reason, alert.Resolved)
}

// ResolveCondition auto-resolves the unresolved alert with dedupKey because its rule's
// condition cleared. It reports whether there was one.
func (m *Manager) ResolveCondition(ctx context.Context, dedupKey string) (bool, error) {
	m.mu.Lock()
	id, ok := m.active[dedupKey]
	m.mu.Unlock()
	if !ok {
		return false, nil
	}
	_, err := m.transition(ctx, id, "warden", "condition cleared", "", alert.Resolved)
	if errors.Is(err, ErrState) || errors.Is(err, ErrNotFound) {
		return false, nil // resolved concurrently
	}
	return err == nil, err
}

func (m *Manager) transition(ctx context.Context, id, actor, comment, reason string, to alert.State) (alert.Alert, error) {
	if actor == "" {
		return alert.Alert{}, &FieldError{Field: "actor", Msg: "required"}
	}
	now := time.Now()
	m.mu.Lock()
	e, ok := m.alerts[id]
	if !ok {
		m.mu.Unlock()
		return alert.Alert{}, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	from := e.A.State
	if from == alert.Resolved || (from == alert.Acknowledged && to == alert.Acknowledged) {
		m.mu.Unlock()
		return alert.Alert{}, fmt.Errorf("alert %s is %s: %w", id, from, ErrState)
	}
	prev := *e
	kind := notify.KindAcknowledged
	e.A.UpdatedAt = now
	if to == alert.Acknowledged {
		e.A.State, e.A.AckedAt, e.A.AckedBy = alert.Acknowledged, &now, actor
	} else {
		kind = notify.KindResolved
		e.A.State, e.A.ResolvedAt, e.A.ResolvedBy, e.A.ResolveReason = alert.Resolved, &now, actor, reason
		delete(m.active, e.A.DedupKey)
	}
	e.EscalateAt = time.Time{}
	if err := m.persist(alertRec(e)); err != nil {
		*e = prev
		if to == alert.Resolved {
			m.active[e.A.DedupKey] = id
		}
		m.mu.Unlock()
		return alert.Alert{}, fmt.Errorf("%s alert %s: %w", to, id, err)
	}
	for _, r := range e.Reached {
		m.outbox = append(m.outbox, delivery{receiver: r, n: &notify.Notification{
			Kind: kind, GroupKey: e.A.GroupKey, Severity: e.A.Severity, Alerts: []alert.Alert{e.A},
			Time: now, Actor: actor, Comment: comment,
		}})
	}
	a := e.A
	m.mu.Unlock()
	m.kick()
	details := map[string]any{"alert_id": id, "actor": actor, "comment": comment, "from": string(from)}
	if reason != "" {
		details["reason"], details["rule_id"] = reason, a.RuleID
	}
	m.audit(ctx, "alert."+string(to), details)
	m.changed(ctx, []alert.Alert{a})
	return a, nil
}

// View is an alert as the API shows it: the record plus why it is muted.
type View struct {
	alert.Alert
	SilencedBy  []string `json:"silenced_by,omitempty"`
	InhibitedBy []string `json:"inhibited_by,omitempty"`
	Delivery    any      `json:"delivery,omitempty"`
}

// Get returns one alert.
func (m *Manager) Get(id string) (View, error) {
	m.mu.Lock()
	e, ok := m.alerts[id]
	if !ok {
		m.mu.Unlock()
		return View{}, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	v := m.viewLocked(e, m.newMuterLocked(time.Now()))
	m.mu.Unlock()
	if m.opt.DeliveryStatus != nil {
		v.Delivery = m.opt.DeliveryStatus(id)
	}
	return v, nil
}

func (m *Manager) viewLocked(e *entry, mu *muter) View {
	v := View{Alert: e.A}
	v.SilencedBy, v.InhibitedBy = mu.muted(&e.A)
	return v
}

// muter answers "is this alert muted, and by what" for one instant; it indexes the active
// silences and the inhibition sources once so each question costs O(silences + rules).
type muter struct {
	silences []*Silence
	rules    []InhibitRule
	// sources[i] maps the Equal label values of rule i's source alerts to their ids.
	sources []map[string][]string
}

func (m *Manager) newMuterLocked(now time.Time) *muter {
	mu := &muter{rules: m.inhibit, sources: make([]map[string][]string, len(m.inhibit))}
	for _, s := range m.silences {
		if s.State(now) == SilenceActive {
			mu.silences = append(mu.silences, s)
		}
	}
	slices.SortFunc(mu.silences, func(a, b *Silence) int { return strings.Compare(a.ID, b.ID) })
	for i := range m.inhibit {
		mu.sources[i] = map[string][]string{}
	}
	if len(m.inhibit) == 0 {
		return mu
	}
	for _, id := range m.active {
		e := m.alerts[id]
		l := Labels(&e.A)
		for i := range m.inhibit {
			r := &m.inhibit[i]
			if r.SourceMatch.Matches(l) {
				k := equalKey(r.Equal, l)
				mu.sources[i][k] = append(mu.sources[i][k], id)
			}
		}
	}
	return mu
}

func equalKey(names []string, l map[string]string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(quote(l[n]))
		b.WriteByte(0)
	}
	return b.String()
}

// muted returns the active silences and the inhibiting alerts that mute a.
func (mu *muter) muted(a *alert.Alert) (silences, inhibitors []string) {
	if a.State == alert.Resolved {
		return nil, nil
	}
	labels := Labels(a)
	for _, s := range mu.silences {
		if s.Matchers.Matches(labels) {
			silences = append(silences, s.ID)
		}
	}
	for i := range mu.rules {
		r := &mu.rules[i]
		if !r.TargetMatch.Matches(labels) {
			continue
		}
		for _, sid := range mu.sources[i][equalKey(r.Equal, labels)] {
			if sid != a.ID {
				inhibitors = append(inhibitors, sid)
			}
		}
	}
	slices.Sort(inhibitors)
	return silences, slices.Compact(inhibitors)
}

func (mu *muter) isMuted(a *alert.Alert) bool {
	s, i := mu.muted(a)
	return len(s) > 0 || len(i) > 0
}

// Filter selects alerts for List. Zero fields do not filter.
type Filter struct {
	State    alert.State
	Severity alert.Severity
	Model    string
	Since    time.Time // StartsAt at or after
	Limit    int       // default 100, at most 1000
	Cursor   string    // from a previous page
}

// List returns alerts newest first and a cursor for the next page ("" when done).
func (m *Manager) List(f Filter) ([]View, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var after *cursor
	if f.Cursor != "" {
		c, err := parseCursor(f.Cursor)
		if err != nil {
			return nil, "", &FieldError{Field: "cursor", Msg: "malformed"}
		}
		after = &c
	}
	now := time.Now()
	m.mu.Lock()
	sel := make([]*entry, 0, len(m.alerts))
	for _, e := range m.alerts {
		a := &e.A
		if (f.State != "" && a.State != f.State) || (f.Severity != "" && a.Severity != f.Severity) ||
			(f.Model != "" && a.Model != f.Model) || (!f.Since.IsZero() && a.StartsAt.Before(f.Since)) {
			continue
		}
		if after != nil && !after.before(a) {
			continue
		}
		sel = append(sel, e)
	}
	slices.SortFunc(sel, func(x, y *entry) int {
		if c := y.A.StartsAt.Compare(x.A.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(y.A.ID, x.A.ID)
	})
	next := ""
	if len(sel) > limit {
		sel = sel[:limit]
		last := sel[limit-1].A
		next = cursor{T: last.StartsAt, ID: last.ID}.String()
	}
	out := make([]View, len(sel))
	mu := m.newMuterLocked(now)
	for i, e := range sel {
		out[i] = m.viewLocked(e, mu)
	}
	m.mu.Unlock()
	return out, next, nil
}

// CreateSilence stores s (a new ID unless s.ID names an existing silence, which is replaced)
// and audits the change. A zero StartsAt means now.
func (m *Manager) CreateSilence(ctx context.Context, s Silence) (Silence, error) {
	now := time.Now()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	s.Matchers = slices.Clone(s.Matchers)
	if err := s.validate(); err != nil {
		return Silence{}, err
	}
	if !s.EndsAt.After(now) {
		return Silence{}, &FieldError{Field: "ends_at", Msg: "must be in the future"}
	}
	s.UpdatedAt = now
	m.mu.Lock()
	action := "silence.create"
	var old *Silence
	if s.ID != "" {
		var ok bool
		if old, ok = m.silences[s.ID]; !ok {
			m.mu.Unlock()
			return Silence{}, fmt.Errorf("silence %s: %w", s.ID, ErrNotFound)
		}
		if old.State(now) == SilenceExpired {
			m.mu.Unlock()
			return Silence{}, fmt.Errorf("silence %s is expired: %w", s.ID, ErrState)
		}
		action = "silence.update"
	} else {
		s.ID = newID()
	}
	stored := s
	if err := m.persist(record{Kind: recSilence, Silence: &stored}); err != nil {
		m.mu.Unlock()
		return Silence{}, fmt.Errorf("store silence: %w", err)
	}
	m.silences[s.ID] = &stored
	m.mu.Unlock()
	m.kick()
	details := map[string]any{"silence_id": s.ID, "matchers": s.Matchers.String(), "starts_at": s.StartsAt,
		"ends_at": s.EndsAt, "created_by": s.CreatedBy, "comment": s.Comment}
	if old != nil {
		details["previous_matchers"] = old.Matchers.String()
		details["previous_ends_at"] = old.EndsAt
	}
	m.audit(ctx, action, details)
	return s, nil
}

// ExpireSilence ends a silence now; actor is audited.
func (m *Manager) ExpireSilence(ctx context.Context, id, actor string) (Silence, error) {
	if actor == "" {
		return Silence{}, &FieldError{Field: "actor", Msg: "required"}
	}
	now := time.Now()
	m.mu.Lock()
	s, ok := m.silences[id]
	if !ok {
		m.mu.Unlock()
		return Silence{}, fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	if s.State(now) == SilenceExpired {
		m.mu.Unlock()
		return Silence{}, fmt.Errorf("silence %s is already expired: %w", id, ErrState)
	}
	ns := *s
	if now.Before(ns.StartsAt) {
		ns.StartsAt = now
	}
	ns.EndsAt, ns.UpdatedAt = now, now
	if err := m.persist(record{Kind: recSilence, Silence: &ns}); err != nil {
		m.mu.Unlock()
		return Silence{}, fmt.Errorf("expire silence: %w", err)
	}
	m.silences[id] = &ns
	// Alerts it muted are notified at their group's next flush; bring that forward.
	for _, g := range m.groups {
		if g.NextFlush.IsZero() || g.NextFlush.After(now.Add(m.opt.GroupWait)) {
			g.NextFlush = now.Add(m.opt.GroupWait)
		}
	}
	m.mu.Unlock()
	m.kick()
	m.audit(ctx, "silence.expire", map[string]any{"silence_id": id, "actor": actor, "matchers": ns.Matchers.String()})
	return ns, nil
}

// Silences lists silences, most recently updated first; expired ones are kept for
// RetainResolved.
func (m *Manager) Silences() []Silence {
	m.mu.Lock()
	out := make([]Silence, 0, len(m.silences))
	for _, s := range m.silences {
		out = append(out, *s)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Silence) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Silence returns one silence.
func (m *Manager) Silence(id string) (Silence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.silences[id]
	if !ok {
		return Silence{}, fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	return *s, nil
}
