// Package contain holds Warden's containment state: proportional, reversible actions that the
// gateway enforces — suspend a virtual key, pause a model route (the gateway answers 503),
// rate-limit a consumer, block a consumer. Each action has a TTL, can be lifted early by a human
// (the override is recorded), and produces an audit event (an access event with action
// "containment.<kind>" or "containment.lift") through the injected [Emitter].
//
// State lives in <data>/contain/state.json, written under an advisory lock so the CLI, the admin
// API and a rules engine ([Store.Apply]) can change it concurrently; a running gateway notices a
// change within [Options.PollInterval] (default 250 ms) through a cheap stat on its hot path.
package contain

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys/statefile"
)

// Kind is the kind of containment action.
type Kind string

// The containment kinds.
const (
	SuspendKey    Kind = "suspend_key"    // target: a virtual key id
	PauseModel    Kind = "pause_model"    // target: a model name
	RateLimit     Kind = "rate_limit"     // target: a consumer; RPM requests per minute
	BlockConsumer Kind = "block_consumer" // target: a consumer
)

// Kinds lists every kind.
var Kinds = []Kind{SuspendKey, PauseModel, RateLimit, BlockConsumer}

// Errors.
var (
	ErrInvalid  = errors.New("invalid containment action")
	ErrNotFound = errors.New("no active containment with that id")
)

// Emitter receives the audit events; the app passes the durable ingest pipeline.
type Emitter interface {
	Emit(ctx context.Context, evs []*event.Event) error
}

// Action is one containment action.
type Action struct {
	ID        string        `json:"id"`
	Kind      Kind          `json:"kind"`
	Target    string        `json:"target"`
	RPM       int           `json:"rpm,omitempty"` // rate_limit only
	TTL       time.Duration `json:"-"`
	Reason    string        `json:"reason,omitempty"`
	By        string        `json:"by,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	ExpiresAt time.Time     `json:"expires_at,omitzero"` // zero: until lifted
	LiftedAt  time.Time     `json:"lifted_at,omitzero"`
	LiftedBy  string        `json:"lifted_by,omitempty"`
	LiftNote  string        `json:"lift_reason,omitempty"`
	// Audited and LiftAudited record that the audit event was handed to an Emitter. Actions
	// written by a process without one (the CLI) are audited by a server's [Store.Run].
	Audited     bool `json:"audited,omitempty"`
	LiftAudited bool `json:"lift_audited,omitempty"`
}

// Active reports whether the action is in force at now.
func (a *Action) Active(now time.Time) bool {
	return a.LiftedAt.IsZero() && (a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt))
}

func (a *Action) validate() error {
	if !slices.Contains(Kinds, a.Kind) {
		return fmt.Errorf("%w: kind %q is not one of suspend_key, pause_model, rate_limit, block_consumer", ErrInvalid, a.Kind)
	}
	if a.Target == "" || len(a.Target) > 256 {
		return fmt.Errorf("%w: target is required (1..256 bytes)", ErrInvalid)
	}
	if a.TTL < 0 {
		return fmt.Errorf("%w: ttl must be ≥ 0", ErrInvalid)
	}
	if a.Kind == RateLimit && a.RPM <= 0 {
		return fmt.Errorf("%w: rate_limit needs rpm > 0", ErrInvalid)
	}
	if a.Kind != RateLimit && a.RPM != 0 {
		return fmt.Errorf("%w: rpm applies to rate_limit only", ErrInvalid)
	}
	return nil
}

// Options configure a Store.
type Options struct {
	Dir          string // normally <data>/contain
	Emitter      Emitter
	Logger       *slog.Logger
	Now          func() time.Time
	PollInterval time.Duration
	Environment  string // for audit events; default "prod"
}

type fileFormat struct {
	Version int      `json:"version"`
	Actions []Action `json:"actions"`
}

// snapshot indexes the actions that may be active; expiry is checked at lookup time.
type snapshot struct {
	actions   []Action
	keys      map[string]*Action
	models    map[string]*Action
	blocked   map[string]*Action
	ratelimit map[string]*Action
}

// Store is the containment state. It is safe for concurrent use, also across processes.
type Store struct {
	path  string
	opts  Options
	log   *slog.Logger
	state *statefile.JSONFile[fileFormat, snapshot]
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("contain: Options.Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.Environment == "" {
		opts.Environment = "prod"
	}
	s := &Store{path: filepath.Join(opts.Dir, "state.json"), opts: opts, log: opts.Logger.With("component", "contain")}
	state, err := statefile.OpenJSON(s.path, fileFormat{Version: 1, Actions: []Action{}}, opts.PollInterval, s.log, buildState)
	if err != nil {
		return nil, fmt.Errorf("open containment store: %w", err)
	}
	s.state = state
	return s, nil
}

func buildState(f fileFormat) (*snapshot, error) {
	sn := &snapshot{actions: f.Actions, keys: map[string]*Action{}, models: map[string]*Action{}, blocked: map[string]*Action{}, ratelimit: map[string]*Action{}}
	for i := range f.Actions {
		a := &f.Actions[i]
		if !a.LiftedAt.IsZero() {
			continue
		}
		m := sn.index(a.Kind)
		// Several actions on one target: keep the one that lasts longest.
		if prev := m[a.Target]; prev == nil || lastsLonger(a, prev) {
			m[a.Target] = a
		}
	}
	return sn, nil
}

func lastsLonger(a, b *Action) bool {
	if a.ExpiresAt.IsZero() {
		return true
	}
	return !b.ExpiresAt.IsZero() && a.ExpiresAt.After(b.ExpiresAt)
}

func (sn *snapshot) index(k Kind) map[string]*Action {
	switch k {
	case SuspendKey:
		return sn.keys
	case PauseModel:
		return sn.models
	case BlockConsumer:
		return sn.blocked
	}
	return sn.ratelimit
}

func (s *Store) active(k Kind, target string) (Action, bool) {
	a := s.state.Get().index(k)[target]
	if a == nil || !a.Active(s.opts.Now()) {
		return Action{}, false
	}
	return *a, true
}

// KeySuspended returns the active suspension of a key id, if any.
func (s *Store) KeySuspended(keyID string) (Action, bool) { return s.active(SuspendKey, keyID) }

// ModelPaused returns the active pause of a model route, if any.
func (s *Store) ModelPaused(model string) (Action, bool) { return s.active(PauseModel, model) }

// ConsumerBlocked returns the active block of a consumer, if any.
func (s *Store) ConsumerBlocked(consumer string) (Action, bool) {
	return s.active(BlockConsumer, consumer)
}

// ConsumerRateLimit returns the active rate limit of a consumer, if any.
func (s *Store) ConsumerRateLimit(consumer string) (Action, bool) {
	return s.active(RateLimit, consumer)
}

// List returns the actions in force (all, including lifted and expired ones, when all is true),
// newest first.
func (s *Store) List(all bool) []Action {
	sn := s.state.Fresh()
	now := s.opts.Now()
	var out []Action
	for _, a := range sn.actions {
		if all || a.Active(now) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b Action) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// Apply records a containment action and emits its audit event. The ID, CreatedAt and
// ExpiresAt (from TTL; 0 = until lifted) are filled in; the stored action is returned.
func (s *Store) Apply(ctx context.Context, a Action) (Action, error) {
	if err := a.validate(); err != nil {
		return Action{}, err
	}
	id, err := newID()
	if err != nil {
		return Action{}, err
	}
	now := s.opts.Now().UTC()
	a.ID, a.CreatedAt, a.LiftedAt, a.LiftedBy, a.LiftNote = id, now, time.Time{}, "", ""
	if a.TTL > 0 {
		a.ExpiresAt = now.Add(a.TTL)
	} else {
		a.ExpiresAt = time.Time{}
	}
	a.Audited, a.LiftAudited = s.opts.Emitter != nil, false
	if err := s.state.Update(func(f *fileFormat) error {
		// Keep lifted and expired actions for a day so `list --all` shows recent history.
		f.Actions = slices.DeleteFunc(f.Actions, func(x Action) bool {
			return !x.Active(now) && now.Sub(endOf(x)) > 24*time.Hour
		})
		f.Actions = append(f.Actions, a)
		return nil
	}); err != nil {
		return Action{}, err
	}
	if a.Audited {
		s.audit(ctx, a, false)
	}
	return a, nil
}

func endOf(a Action) time.Time {
	if !a.LiftedAt.IsZero() {
		return a.LiftedAt
	}
	return a.ExpiresAt
}

// Lift ends an active action early: the human override. by and reason are recorded.
func (s *Store) Lift(ctx context.Context, id, by, reason string) (Action, error) {
	var out Action
	now := s.opts.Now().UTC()
	err := s.state.Update(func(f *fileFormat) error {
		for i := range f.Actions {
			if f.Actions[i].ID == id && f.Actions[i].Active(now) {
				f.Actions[i].LiftedAt, f.Actions[i].LiftedBy, f.Actions[i].LiftNote = now, by, reason
				f.Actions[i].LiftAudited = s.opts.Emitter != nil
				out = f.Actions[i]
				return nil
			}
		}
		return fmt.Errorf("lift %q: %w", id, ErrNotFound)
	})
	if err != nil {
		return Action{}, err
	}
	if out.LiftAudited {
		s.audit(ctx, out, true)
	}
	return out, nil
}

// Event returns the audit event of an action, or of its lift. Its id is derived from the action
// id, so an event handed to the pipeline twice is stored once (ingest ids are idempotent).
func (s *Store) Event(a Action, lift bool) *event.Event {
	action, by, reason, at, suffix := "containment."+string(a.Kind), a.By, a.Reason, a.CreatedAt, ".apply"
	if lift {
		action, by, reason, at, suffix = "containment.lift", a.LiftedBy, a.LiftNote, a.LiftedAt, ".lift"
	}
	if by == "" {
		by = "unknown"
	}
	ev := &event.Event{
		ID:          a.ID + suffix,
		Type:        event.TypeAccess,
		Time:        at.UTC(),
		Environment: s.opts.Environment,
		Action:      action,
		Resource:    string(a.Kind) + ":" + a.Target,
		Decision:    "allow",
		Reason:      reason,
		Privilege:   "elevated",
		// The containment record itself authorizes the change (an admin-token holder or a
		// rule applied it), so it is not an unapproved use of elevated privilege.
		ApprovalID: a.ID,
		Actor:      event.Actor{User: by},
		Source:     event.Source{Client: "warden-contain"},
		Attributes: map[string]any{
			"containment.id":     a.ID,
			"containment.kind":   string(a.Kind),
			"containment.target": a.Target,
		},
	}
	if a.Kind == PauseModel {
		ev.Model.Name = a.Target
	}
	if !a.ExpiresAt.IsZero() {
		ev.Attributes["containment.expires_at"] = a.ExpiresAt.Format(time.RFC3339)
	}
	if a.RPM > 0 {
		ev.Attributes["containment.rpm"] = float64(a.RPM)
	}
	return ev
}

func (s *Store) audit(ctx context.Context, a Action, lift bool) {
	if err := s.opts.Emitter.Emit(ctx, []*event.Event{s.Event(a, lift)}); err != nil {
		// The action itself is persisted and in force; a missing audit entry must be visible.
		s.log.Error("containment audit event not recorded", "id", a.ID, "lift", lift, "err", err)
	}
}

// Run keeps the state fresh and audits actions written by processes without an Emitter (the
// CLI) until ctx is done. The app runs it once per process that has an Emitter.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		s.state.Get()
		if s.opts.Emitter != nil {
			if err := s.auditPending(ctx); err != nil {
				s.log.Warn("auditing containment actions", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// auditPending emits the events of unaudited actions and marks them, under the file lock.
func (s *Store) auditPending(ctx context.Context) error {
	pending := false
	for _, a := range s.state.Loaded().actions {
		if !a.Audited || (!a.LiftedAt.IsZero() && !a.LiftAudited) {
			pending = true
			break
		}
	}
	if !pending {
		return nil
	}
	// Emit while holding the file lock, and mark only after the pipeline accepted the events,
	// so a failed emit is retried on the next tick instead of being lost.
	return s.state.Update(func(f *fileFormat) error {
		var evs []*event.Event
		var marks []func()
		for i := range f.Actions {
			a := &f.Actions[i]
			if !a.Audited {
				evs = append(evs, s.Event(*a, false))
				marks = append(marks, func() { a.Audited = true })
			}
			if !a.LiftedAt.IsZero() && !a.LiftAudited {
				evs = append(evs, s.Event(*a, true))
				marks = append(marks, func() { a.LiftAudited = true })
			}
		}
		if len(evs) == 0 {
			return nil
		}
		if err := s.opts.Emitter.Emit(ctx, evs); err != nil {
			return fmt.Errorf("emit %d containment audit events: %w", len(evs), err)
		}
		for _, m := range marks {
			m()
		}
		return nil
	})
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate containment id: %w", err)
	}
	return "ct_" + hex.EncodeToString(b[:]), nil
}
