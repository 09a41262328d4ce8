package lifecycle

import (
	"errors"
	"fmt"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// Silence mutes the alerts its matchers select between StartsAt and EndsAt. A muted alert keeps
// its lifecycle (it can be acknowledged and resolved) but is neither notified nor escalated.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  Matchers  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Silence states derived from the clock.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// State is pending, active or expired at now.
func (s *Silence) State(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return SilencePending
	case now.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

// ErrInvalid is wrapped by every validation error of this package; FieldError names the field.
var ErrInvalid = errors.New("invalid")

// FieldError is a validation error that names the offending field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func (s *Silence) validate() error {
	if len(s.Matchers) == 0 {
		return &FieldError{Field: "matchers", Msg: "at least one matcher is required"}
	}
	if err := s.Matchers.compile(); err != nil {
		return &FieldError{Field: "matchers", Msg: err.Error()}
	}
	// A silence whose every matcher also matches the empty label set would mute everything.
	if s.Matchers.Matches(map[string]string{}) {
		return &FieldError{Field: "matchers", Msg: "at least one matcher must not match the empty value"}
	}
	if s.CreatedBy == "" {
		return &FieldError{Field: "created_by", Msg: "required"}
	}
	if s.Comment == "" {
		return &FieldError{Field: "comment", Msg: "required"}
	}
	if s.EndsAt.IsZero() {
		return &FieldError{Field: "ends_at", Msg: "required"}
	}
	if !s.EndsAt.After(s.StartsAt) {
		return &FieldError{Field: "ends_at", Msg: "must be after starts_at"}
	}
	if len(s.Comment) > 4096 {
		return &FieldError{Field: "comment", Msg: "longer than 4096 bytes"}
	}
	return nil
}

// InhibitRule mutes target alerts while a source alert is active (not resolved), as in
// Alertmanager: sources match SourceMatch, targets match TargetMatch, and both carry equal
// values for every label in Equal. An alert never inhibits itself.
type InhibitRule struct {
	SourceMatch Matchers `json:"source_match"`
	TargetMatch Matchers `json:"target_match"`
	Equal       []string `json:"equal"`
}

// DefaultInhibitRules returns the default inhibition: a P1 for a model suppresses that
// model's P3 and P4 alerts.
func DefaultInhibitRules() []InhibitRule {
	return []InhibitRule{{
		SourceMatch: Matchers{{Name: "severity", Type: MatchEqual, Value: string(alert.P1)}},
		TargetMatch: Matchers{{Name: "severity", Type: MatchRegexp, Value: "P3|P4"}},
		Equal:       []string{"model"},
	}}
}

func (r *InhibitRule) compile() error {
	if len(r.SourceMatch) == 0 || len(r.TargetMatch) == 0 {
		return fmt.Errorf("%w: inhibit rule needs source_match and target_match", ErrInvalid)
	}
	if err := r.SourceMatch.compile(); err != nil {
		return fmt.Errorf("source_match: %w", err)
	}
	if err := r.TargetMatch.compile(); err != nil {
		return fmt.Errorf("target_match: %w", err)
	}
	return nil
}

func (r *InhibitRule) inhibits(source, target map[string]string) bool {
	if !r.TargetMatch.Matches(target) || !r.SourceMatch.Matches(source) {
		return false
	}
	for _, l := range r.Equal {
		if source[l] != target[l] {
			return false
		}
	}
	return true
}
