package incident

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
)

// Options configures a Manager. Every func is optional unless noted; a missing one leaves the
// corresponding part of the case file empty and says so in CaseFile.Missing.
type Options struct {
	// Dir holds incidents.journal and casefiles/ (0700 dirs, 0600 files). Empty keeps them in memory.
	Dir string
	// MaxClosed bounds the closed (post-incident) incidents kept: beyond it the longest-resolved
	// ones are dropped, with their case files (default 10,000). Open incidents are never dropped.
	MaxClosed int
	// Retention drops closed incidents resolved longer ago than this (0: kept until MaxClosed).
	Retention time.Duration
	// AutoSeverities open an incident automatically; default P1, P2.
	AutoSeverities []alert.Severity
	// Snapshot returns, as JSON, what was in force for model when an incident opens: model
	// version, policy and rules.
	Snapshot func(ctx context.Context, model string) (json.RawMessage, error)
	// Search returns the actor's events between from and to (the ±24h activity).
	Search func(ctx context.Context, actor string, from, to time.Time) ([]json.RawMessage, error)
	// Containment returns the containment actions related to the incident's model and actors.
	Containment func(ctx context.Context, model string, actors []string, from, to time.Time) ([]json.RawMessage, error)
	// ExportEvidence writes a signed evidence package (events + inclusion proofs + checkpoint)
	// for the event ids to w; required for Export.
	ExportEvidence func(ctx context.Context, w io.Writer, eventIDs []string) error
	// Raise sends Art. 73 deadline reminders through the alert manager (and so through
	// escalation); ResolveReminder auto-resolves them once the report is submitted.
	Raise           func(ctx context.Context, as []alert.Alert) error
	ResolveReminder func(ctx context.Context, dedupKey string) (bool, error)
	Audit           lifecycle.AuditFunc
	// Provider fills the provider section of the Art. 73 report draft.
	Provider Provider
	// MaxEventIDs bounds the triggering event ids kept per incident (default 1000).
	MaxEventIDs int
	Logger      *slog.Logger
}

// Provider identifies the provider of the AI system in the Art. 73 report.
type Provider struct {
	Name           string `json:"name"`
	Address        string `json:"address,omitempty"`
	Contact        string `json:"contact,omitempty"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
	EURegistration string `json:"eu_database_registration,omitempty"`
}

// Errors.
var (
	ErrNotFound = lifecycle.ErrNotFound
	ErrState    = lifecycle.ErrState
)

// Manager keeps incidents. It is safe for concurrent use; Run drives reminders and case-file
// compilation.
type Manager struct {
	opt  Options
	log  *slog.Logger
	mu   sync.Mutex
	inc  map[string]*Incident
	byAl map[string]string // alert id → incident id
	// pending lists incidents whose case file must be (re)compiled.
	pending map[string]bool
	wake    chan struct{}
	j       *journal
}

// New loads incidents from opt.Dir.
func New(opt Options) (*Manager, error) {
	if len(opt.AutoSeverities) == 0 {
		opt.AutoSeverities = []alert.Severity{alert.P1, alert.P2}
	}
	if opt.MaxEventIDs <= 0 {
		opt.MaxEventIDs = 1000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opt: opt, log: opt.Logger.With("component", "incident"), inc: map[string]*Incident{},
		byAl: map[string]string{}, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
	if opt.MaxClosed <= 0 {
		opt.MaxClosed = 10_000
	}
	if opt.Dir != "" {
		if err := os.MkdirAll(filepath.Join(opt.Dir, "casefiles"), 0o700); err != nil {
			return nil, fmt.Errorf("incident store: %w", err)
		}
		j, err := openJournal(opt.Dir, m.inc)
		if err != nil {
			return nil, err
		}
		m.j = j
		for _, i := range m.inc {
			for _, a := range i.AlertIDs {
				m.byAl[a] = i.ID
			}
			if i.CaseFileAt == nil {
				m.pending[i.ID] = true
			}
		}
	}
	return m, nil
}

// Close closes the journal.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.j == nil {
		return nil
	}
	err := m.j.close()
	m.j = nil
	return err
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return "inc-" + hex.EncodeToString(b[:])
}

// saveLocked appends the changed incidents to the journal (fsynced), applies retention and
// compacts the journal when most of its lines are superseded.
func (m *Manager) saveLocked(changed ...*Incident) error {
	if m.j == nil {
		return nil
	}
	recs := make([]jrec, 0, len(changed))
	for _, i := range changed {
		recs = append(recs, jrec{Incident: i})
	}
	recs = append(recs, m.retainLocked(time.Now())...)
	if err := m.j.append(recs...); err != nil {
		return err
	}
	if m.j.lines > 2*len(m.inc)+256 {
		return m.j.rewrite(m.inc)
	}
	return nil
}

// retainLocked drops closed incidents past Retention or beyond MaxClosed (longest resolved
// first) and returns their drop records.
func (m *Manager) retainLocked(now time.Time) []jrec {
	var closed []*Incident
	for _, i := range m.inc {
		if !i.Open() {
			closed = append(closed, i)
		}
	}
	if len(closed) <= m.opt.MaxClosed && m.opt.Retention <= 0 {
		return nil
	}
	resolved := func(i *Incident) time.Time {
		if i.ResolvedAt != nil {
			return *i.ResolvedAt
		}
		return i.OpenedAt
	}
	sort.Slice(closed, func(a, b int) bool { return resolved(closed[a]).Before(resolved(closed[b])) })
	var drops []jrec
	for k, i := range closed {
		old := m.opt.Retention > 0 && now.Sub(resolved(i)) > m.opt.Retention
		if len(closed)-k <= m.opt.MaxClosed && !old {
			break
		}
		delete(m.inc, i.ID)
		delete(m.pending, i.ID)
		for _, a := range i.AlertIDs {
			delete(m.byAl, a)
		}
		if m.opt.Dir != "" {
			_ = os.Remove(m.caseFilePath(i.ID))
		}
		drops = append(drops, jrec{Drop: i.ID})
	}
	if len(drops) > 0 {
		m.log.Info("closed incidents dropped by retention", "incidents", len(drops))
	}
	return drops
}

func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) audit(ctx context.Context, action string, d map[string]any) {
	if m.opt.Audit != nil {
		m.opt.Audit(ctx, action, d)
	}
}

func clone(i *Incident) Incident {
	c := *i
	c.Timeline = slices.Clone(i.Timeline)
	c.AlertIDs = slices.Clone(i.AlertIDs)
	c.EventIDs = slices.Clone(i.EventIDs)
	c.Actors = slices.Clone(i.Actors)
	if i.Serious != nil {
		s := *i.Serious
		c.Serious = &s
	}
	return c
}

// ObserveAlert follows the alert lifecycle (wire it as lifecycle.Options.OnChange): a new firing
// alert of an auto severity opens an incident, or joins the open incident of its group; state
// changes of linked alerts land on the timeline.
func (m *Manager) ObserveAlert(ctx context.Context, a alert.Alert) {
	if strings.HasPrefix(a.DedupKey, reminderPrefix) {
		return // our own Art. 73 reminders
	}
	m.mu.Lock()
	if id, ok := m.byAl[a.ID]; ok {
		inc := m.inc[id]
		var err error
		changed := m.updateFromAlertLocked(inc, &a)
		if changed { // a re-fired alert with nothing new costs no write
			err = m.saveLocked(inc)
		}
		m.mu.Unlock()
		if err != nil {
			m.log.Error("save incident", "incident", id, "err", err)
		}
		if changed {
			m.kick()
		}
		return
	}
	if a.State != alert.Firing || !slices.Contains(m.opt.AutoSeverities, a.Severity) {
		m.mu.Unlock()
		return
	}
	for _, inc := range m.inc {
		if inc.Open() && a.GroupKey != "" && slices.Contains(inc.GroupKeys, a.GroupKey) {
			m.attachLocked(inc, &a)
			err := m.saveLocked(inc)
			m.mu.Unlock()
			if err != nil {
				m.log.Error("save incident", "incident", inc.ID, "err", err)
			}
			return
		}
	}
	m.mu.Unlock()
	// A new incident: take the snapshot outside the lock.
	inc := m.newIncident(ctx, a.Summary, DeriveType(&a), a.Severity, a.Model, "warden")
	m.mu.Lock()
	if id, ok := m.byAl[a.ID]; ok { // opened concurrently
		m.updateFromAlertLocked(m.inc[id], &a)
		m.mu.Unlock()
		return
	}
	m.attachLocked(inc, &a)
	m.inc[inc.ID] = inc
	m.pending[inc.ID] = true
	err := m.saveLocked(inc)
	m.mu.Unlock()
	if err != nil {
		m.log.Error("save incident", "incident", inc.ID, "err", err)
	}
	m.audit(ctx, "incident.open", map[string]any{"incident_id": inc.ID, "alert_id": a.ID, "severity": string(a.Severity), "type": string(inc.Type)})
	m.kick()
}

func (m *Manager) newIncident(ctx context.Context, title string, t Type, sev alert.Severity, model, by string) *Incident {
	now := time.Now()
	inc := &Incident{ID: newID(), Title: title, Type: t, Phase: Detection, Severity: sev, Model: model, OpenedAt: now, OpenedBy: by}
	inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "opened", Actor: by, Text: "incident opened"})
	if m.opt.Snapshot != nil {
		snap, err := m.opt.Snapshot(ctx, model)
		if err != nil {
			m.log.Warn("incident snapshot", "model", model, "err", err)
			inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "action", Actor: "warden", Text: "snapshot of model, policy and rules failed"})
		} else {
			inc.Snapshot = snap
		}
	}
	return inc
}

func (m *Manager) attachLocked(inc *Incident, a *alert.Alert) {
	inc.AlertIDs = append(inc.AlertIDs, a.ID)
	m.byAl[a.ID] = inc.ID
	if a.GroupKey != "" && !slices.Contains(inc.GroupKeys, a.GroupKey) {
		inc.GroupKeys = append(inc.GroupKeys, a.GroupKey)
	}
	if a.Severity.Rank() < inc.Severity.Rank() {
		inc.Severity = a.Severity
	}
	if inc.DetectedAt.IsZero() || a.StartsAt.Before(inc.DetectedAt) {
		inc.DetectedAt = a.StartsAt
	}
	inc.Timeline = append(inc.Timeline, Entry{Time: time.Now(), Kind: "alert", AlertID: a.ID, Actor: "warden",
		Text: fmt.Sprintf("%s %s: %s", a.Severity, a.RuleName, a.Summary)})
	m.updateFromAlertLocked(inc, a)
}

// updateFromAlertLocked merges what a adds to inc and reports whether anything changed.
func (m *Manager) updateFromAlertLocked(inc *Incident, a *alert.Alert) bool {
	fingerprint := func() [6]int64 {
		resolved := int64(0)
		if inc.AlertsResolvedAt != nil {
			resolved = 1
		}
		return [6]int64{int64(len(inc.Actors)), int64(len(inc.Tags)), int64(len(inc.EventIDs)), int64(len(inc.Timeline)), inc.FirstEvidenceAt.UnixNano(), resolved}
	}
	before0 := fingerprint()
	if !a.FirstEvent.IsZero() && (inc.FirstEvidenceAt.IsZero() || a.FirstEvent.Before(inc.FirstEvidenceAt)) {
		inc.FirstEvidenceAt = a.FirstEvent
	}
	if a.Actor != "" && !slices.Contains(inc.Actors, a.Actor) {
		inc.Actors = append(inc.Actors, a.Actor)
	}
	for _, t := range a.Tags {
		if !slices.Contains(inc.Tags, t) {
			inc.Tags = append(inc.Tags, t)
		}
	}
	before := len(inc.EventIDs)
	for _, id := range a.EventIDs {
		if len(inc.EventIDs) >= m.opt.MaxEventIDs {
			break
		}
		if !slices.Contains(inc.EventIDs, id) {
			inc.EventIDs = append(inc.EventIDs, id)
		}
	}
	if len(inc.EventIDs) != before {
		m.pending[inc.ID] = true
	}
	last := ""
	for _, e := range inc.Timeline {
		if e.AlertID == a.ID {
			last = e.Kind + "/" + e.Text
		}
	}
	switch a.State {
	case alert.Acknowledged:
		if !strings.HasPrefix(last, "action/acknowledged") {
			inc.Timeline = append(inc.Timeline, Entry{Time: time.Now(), Kind: "action", Actor: a.AckedBy, AlertID: a.ID, Text: "acknowledged alert " + a.ID})
		}
	case alert.Resolved:
		if !strings.HasPrefix(last, "action/resolved") {
			inc.Timeline = append(inc.Timeline, Entry{Time: time.Now(), Kind: "action", Actor: a.ResolvedBy, AlertID: a.ID, Text: "resolved alert " + a.ID})
		}
		m.noteAlertsResolved(inc, time.Now())
	}
	return fingerprint() != before0
}

// noteAlertsResolved sets AlertsResolvedAt once the timeline shows every linked alert resolved.
func (m *Manager) noteAlertsResolved(inc *Incident, now time.Time) {
	if inc.AlertsResolvedAt != nil {
		return
	}
	resolved := map[string]bool{}
	for _, e := range inc.Timeline {
		if e.Kind == "action" && strings.HasPrefix(e.Text, "resolved alert ") {
			resolved[e.AlertID] = true
		}
	}
	for _, id := range inc.AlertIDs {
		if !resolved[id] {
			return
		}
	}
	if len(inc.AlertIDs) > 0 {
		inc.AlertsResolvedAt = &now
	}
}

// OpenRequest opens an incident by hand.
type OpenRequest struct {
	Title    string         `json:"title"`
	Type     Type           `json:"type"`
	Severity alert.Severity `json:"severity"`
	Model    string         `json:"model"`
	Owner    string         `json:"owner"`
	AlertIDs []string       `json:"alert_ids"`
	EventIDs []string       `json:"event_ids"`
	Actor    string         `json:"actor"`
}

// Open creates an incident by hand.
func (m *Manager) Open(ctx context.Context, r OpenRequest) (Incident, error) {
	switch {
	case r.Title == "":
		return Incident{}, &lifecycle.FieldError{Field: "title", Msg: "required"}
	case !slices.Contains(Types, r.Type):
		return Incident{}, &lifecycle.FieldError{Field: "type", Msg: "must be safety, performance, security, compliance or bias"}
	case !r.Severity.Valid():
		return Incident{}, &lifecycle.FieldError{Field: "severity", Msg: "must be P1..P4"}
	case r.Actor == "":
		return Incident{}, &lifecycle.FieldError{Field: "actor", Msg: "required"}
	}
	inc := m.newIncident(ctx, r.Title, r.Type, r.Severity, r.Model, r.Actor)
	inc.Owner = r.Owner
	inc.EventIDs = slices.Compact(slices.Clone(r.EventIDs))
	if len(inc.EventIDs) > m.opt.MaxEventIDs {
		inc.EventIDs = inc.EventIDs[:m.opt.MaxEventIDs]
	}
	m.mu.Lock()
	for _, id := range r.AlertIDs {
		if other, ok := m.byAl[id]; ok {
			m.mu.Unlock()
			return Incident{}, &lifecycle.FieldError{Field: "alert_ids", Msg: fmt.Sprintf("alert %s already belongs to %s", id, other)}
		}
	}
	for _, id := range r.AlertIDs {
		inc.AlertIDs = append(inc.AlertIDs, id)
		m.byAl[id] = inc.ID
	}
	m.inc[inc.ID] = inc
	m.pending[inc.ID] = true
	if err := m.saveLocked(inc); err != nil {
		delete(m.inc, inc.ID)
		for _, id := range r.AlertIDs {
			delete(m.byAl, id)
		}
		m.mu.Unlock()
		return Incident{}, err
	}
	out := clone(inc)
	m.mu.Unlock()
	m.audit(ctx, "incident.open", map[string]any{"incident_id": inc.ID, "actor": r.Actor, "type": string(r.Type), "severity": string(r.Severity)})
	m.kick()
	return out, nil
}

// Get returns one incident.
func (m *Manager) Get(id string) (Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inc, ok := m.inc[id]
	if !ok {
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return clone(inc), nil
}

// Filter selects incidents; zero fields do not filter.
type Filter struct {
	Phase   Phase
	Type    Type
	Open    *bool
	Serious *bool
	Since   time.Time // opened at or after
}

// List returns matching incidents, newest first.
func (m *Manager) List(f Filter) []Incident {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Incident
	for _, inc := range m.inc {
		if (f.Phase != "" && inc.Phase != f.Phase) || (f.Type != "" && inc.Type != f.Type) ||
			(f.Open != nil && inc.Open() != *f.Open) || (f.Serious != nil && (inc.Serious != nil) != *f.Serious) ||
			(!f.Since.IsZero() && inc.OpenedAt.Before(f.Since)) {
			continue
		}
		out = append(out, clone(inc))
	}
	slices.SortFunc(out, func(a, b Incident) int {
		if c := b.OpenedAt.Compare(a.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Update changes phase and/or owner and/or adds a note (or a containment/other action).
type Update struct {
	Phase  Phase  `json:"phase,omitempty"`
	Owner  string `json:"owner,omitempty"`
	Note   string `json:"note,omitempty"`
	Action string `json:"action,omitempty"` // a response action taken, for the timeline
	Actor  string `json:"actor"`
}

// Apply applies u. Phases may move forward or back (an incident can be reopened), but moving to
// post-incident sets ResolvedAt (once) and leaving it clears it.
func (m *Manager) Apply(ctx context.Context, id string, u Update) (Incident, error) {
	if u.Actor == "" {
		return Incident{}, &lifecycle.FieldError{Field: "actor", Msg: "required"}
	}
	if u.Phase != "" && !slices.Contains(Phases, u.Phase) {
		return Incident{}, &lifecycle.FieldError{Field: "phase", Msg: "must be detection, containment, investigation, resolution or post-incident"}
	}
	if u.Phase == "" && u.Owner == "" && u.Note == "" && u.Action == "" {
		return Incident{}, &lifecycle.FieldError{Field: "phase", Msg: "nothing to change: give phase, owner, note or action"}
	}
	if len(u.Note) > 16<<10 || len(u.Action) > 16<<10 {
		return Incident{}, &lifecycle.FieldError{Field: "note", Msg: "longer than 16 KiB"}
	}
	now := time.Now()
	m.mu.Lock()
	inc, ok := m.inc[id]
	if !ok {
		m.mu.Unlock()
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	prev := clone(inc)
	details := map[string]any{"incident_id": id, "actor": u.Actor}
	if u.Phase != "" && u.Phase != inc.Phase {
		details["phase"], details["previous_phase"] = string(u.Phase), string(inc.Phase)
		inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "phase", Actor: u.Actor, Text: fmt.Sprintf("phase %s → %s", inc.Phase, u.Phase)})
		inc.Phase = u.Phase
		if u.Phase == PostIncident {
			inc.ResolvedAt = &now
			m.noteAlertsResolved(inc, now)
		} else {
			inc.ResolvedAt = nil
		}
	}
	if u.Owner != "" && u.Owner != inc.Owner {
		details["owner"] = u.Owner
		inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "owner", Actor: u.Actor, Text: "owner " + u.Owner})
		inc.Owner = u.Owner
	}
	if u.Note != "" {
		details["note"] = true
		inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "note", Actor: u.Actor, Text: u.Note})
	}
	if u.Action != "" {
		details["action"] = u.Action
		inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "action", Actor: u.Actor, Text: u.Action})
	}
	if err := m.saveLocked(inc); err != nil {
		*inc = prev
		m.mu.Unlock()
		return Incident{}, err
	}
	out := clone(inc)
	m.mu.Unlock()
	m.audit(ctx, "incident.update", details)
	return out, nil
}

// FlagSerious marks the incident serious (Art. 73) with its category; aware is when the
// provider became aware (zero: now). Re-flagging changes the category and recomputes the
// deadline from the original awareness.
func (m *Manager) FlagSerious(ctx context.Context, id string, c Category, aware time.Time, actor string) (Incident, error) {
	if actor == "" {
		return Incident{}, &lifecycle.FieldError{Field: "actor", Msg: "required"}
	}
	now := time.Now()
	if aware.IsZero() {
		aware = now
	}
	if aware.After(now.Add(time.Minute)) {
		return Incident{}, &lifecycle.FieldError{Field: "aware_at", Msg: "must not be in the future"}
	}
	if _, err := Deadline(c, aware); err != nil {
		return Incident{}, &lifecycle.FieldError{Field: "category", Msg: err.Error()}
	}
	m.mu.Lock()
	inc, ok := m.inc[id]
	if !ok {
		m.mu.Unlock()
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	prev := clone(inc)
	if inc.Serious != nil {
		if inc.Serious.ReportedAt != nil {
			m.mu.Unlock()
			return Incident{}, fmt.Errorf("incident %s was already reported: %w", id, ErrState)
		}
		aware = inc.Serious.AwareAt
	}
	k := categories[c]
	s := &Serious{Category: c, Clause: k.clause, Basis: k.basis, AwareAt: aware, Deadline: aware.Add(k.deadline), FlaggedBy: actor, FlaggedAt: now}
	// Skip reminder stages already past (their time is gone), except the last one.
	for s.NextReminder < len(reminderStages)-1 && !s.reminderAt(s.NextReminder).After(now) {
		s.NextReminder++
	}
	if inc.Serious != nil {
		s.NextReminder = min(s.NextReminder, inc.Serious.NextReminder)
	}
	inc.Serious = s
	inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "serious", Actor: actor,
		Text: fmt.Sprintf("flagged serious (%s, %s); report due %s", c, k.clause, s.Deadline.UTC().Format(time.RFC3339))})
	if err := m.saveLocked(inc); err != nil {
		*inc = prev
		m.mu.Unlock()
		return Incident{}, err
	}
	out := clone(inc)
	m.mu.Unlock()
	m.audit(ctx, "incident.serious", map[string]any{"incident_id": id, "actor": actor, "category": string(c), "aware_at": aware, "deadline": s.Deadline})
	m.kick()
	return out, nil
}

// MarkReported records the submission of the Art. 73 report; reminders stop and open
// reminder alerts are resolved.
func (m *Manager) MarkReported(ctx context.Context, id, reference, actor string) (Incident, error) {
	if actor == "" {
		return Incident{}, &lifecycle.FieldError{Field: "actor", Msg: "required"}
	}
	now := time.Now()
	m.mu.Lock()
	inc, ok := m.inc[id]
	if !ok {
		m.mu.Unlock()
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	if inc.Serious == nil || inc.Serious.ReportedAt != nil {
		m.mu.Unlock()
		return Incident{}, fmt.Errorf("incident %s is not a serious incident awaiting its report: %w", id, ErrState)
	}
	prev := clone(inc)
	inc.Serious.ReportedAt, inc.Serious.ReportedBy, inc.Serious.Reference = &now, actor, reference
	late := ""
	if now.After(inc.Serious.Deadline) {
		late = " (after the deadline)"
	}
	inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "reported", Actor: actor, Text: "Art. 73 report submitted" + late, Data: map[string]any{"reference": reference}})
	if err := m.saveLocked(inc); err != nil {
		*inc = prev
		m.mu.Unlock()
		return Incident{}, err
	}
	out := clone(inc)
	sent := inc.Serious.NextReminder
	m.mu.Unlock()
	if m.opt.ResolveReminder != nil {
		for i := range sent {
			if _, err := m.opt.ResolveReminder(ctx, reminderKey(id, i)); err != nil {
				m.log.Warn("resolve reminder", "incident", id, "err", err)
			}
		}
	}
	m.audit(ctx, "incident.reported", map[string]any{"incident_id": id, "actor": actor, "reference": reference})
	return out, nil
}

const reminderPrefix = "art73/"

func reminderKey(id string, stage int) string {
	return reminderPrefix + id + "/" + reminderStages[stage].name
}

// Run raises due Art. 73 reminders and compiles pending case files until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	for {
		m.remind(ctx)
		m.compilePending(ctx)
		next := m.nextReminder()
		if t := m.nextCompile(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (m *Manager) nextReminder() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, inc := range m.inc {
		if inc.Serious == nil {
			continue
		}
		if t := inc.Serious.DueReminder(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

func (m *Manager) remind(ctx context.Context) {
	now := time.Now()
	var raise []alert.Alert
	var changed []*Incident
	m.mu.Lock()
	for _, inc := range m.inc {
		s := inc.Serious
		if s == nil {
			continue
		}
		if t := s.DueReminder(); !t.IsZero() && !t.After(now) {
			changed = append(changed, inc)
		}
		for t := s.DueReminder(); !t.IsZero() && !t.After(now); t = s.DueReminder() {
			st := reminderStages[s.NextReminder]
			left := s.Deadline.Sub(now).Round(time.Minute)
			summary := fmt.Sprintf("Art. 73 report for incident %s due %s (%s left)", inc.ID, s.Deadline.UTC().Format(time.RFC3339), left)
			if st.name == "overdue" {
				summary = fmt.Sprintf("Art. 73 report for incident %s is overdue (deadline %s)", inc.ID, s.Deadline.UTC().Format(time.RFC3339))
			}
			raise = append(raise, alert.Alert{
				RuleID: "art73-deadline", RuleName: "Art. 73 reporting deadline", Severity: alert.Severity(st.severity),
				Summary: summary, Model: inc.Model, DedupKey: reminderKey(inc.ID, s.NextReminder),
				Labels: map[string]string{"incident": inc.ID, "category": string(s.Category), "stage": st.name},
				Tags:   []string{"compliance", "eu-ai-act:art73"},
			})
			inc.Timeline = append(inc.Timeline, Entry{Time: now, Kind: "reminder", Actor: "warden", Text: summary})
			s.NextReminder++
		}
	}
	var err error
	if len(raise) > 0 {
		err = m.saveLocked(changed...)
	}
	m.mu.Unlock()
	if err != nil {
		m.log.Error("save incidents", "err", err)
	}
	if len(raise) > 0 && m.opt.Raise != nil {
		if err := m.opt.Raise(ctx, raise); err != nil {
			m.log.Error("raise Art. 73 reminders", "err", err)
		}
	}
}
