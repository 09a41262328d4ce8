package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// PayloadVersion is the version of the JSON payloads Warden sends (webhook body "version").
const PayloadVersion = "1"

// Kind says why a notification is sent.
type Kind string

// Notification kinds.
const (
	KindFiring       Kind = "firing"
	KindAcknowledged Kind = "acknowledged"
	KindResolved     Kind = "resolved"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindFiring, KindAcknowledged, KindResolved:
		return true
	}
	return false
}

// Notification is one delivery to one receiver: one or more alerts of the same group and why
// they are being sent. Notifiers must not modify it.
type Notification struct {
	// Kind is firing, acknowledged or resolved.
	Kind Kind `json:"kind"`
	// Level is the escalation level that sent this notification: 0 for the first level of a
	// policy, 1 for the next one and so on. Escalations are firing notifications with Level > 0.
	Level int `json:"level"`
	// Reminder marks a firing notification re-sent because its alerts keep firing
	// unacknowledged (response.repeat_interval).
	Reminder bool `json:"reminder,omitempty"`
	// GroupKey identifies the alert group, if the alerts were grouped.
	GroupKey string `json:"group_key,omitempty"`
	// Severity is the most urgent severity among the alerts (the one that chose the receivers).
	Severity alert.Severity `json:"severity,omitempty"`
	// Alerts are the alerts delivered; at least one.
	Alerts []alert.Alert `json:"alerts"`
	// Time is when the notification was created.
	Time time.Time `json:"time"`
	// Actor and Comment say who acknowledged or resolved the alerts and why (acknowledged and
	// resolved notifications only).
	Actor   string `json:"actor,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Validate checks that n can be delivered.
func (n *Notification) Validate() error {
	if n == nil {
		return fmt.Errorf("notification is nil")
	}
	if !n.Kind.Valid() {
		return fmt.Errorf("notification kind %q: want firing, acknowledged or resolved", n.Kind)
	}
	if n.Level < 0 {
		return fmt.Errorf("notification level %d: must not be negative", n.Level)
	}
	if len(n.Alerts) == 0 {
		return fmt.Errorf("notification has no alerts")
	}
	for i := range n.Alerts {
		if n.Alerts[i].ID == "" {
			return fmt.Errorf("notification alert %d: id is empty", i)
		}
	}
	return nil
}

// AlertIDs lists the ids of n's alerts in order.
func (n *Notification) AlertIDs() []string {
	ids := make([]string, len(n.Alerts))
	for i := range n.Alerts {
		ids[i] = n.Alerts[i].ID
	}
	return ids
}

// Notifier delivers a notification to one receiver. See the package documentation for the
// contract on errors and secrets.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// NotifierFunc adapts a function to [Notifier].
type NotifierFunc func(ctx context.Context, n *Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n *Notification) error { return f(ctx, n) }

var _ Notifier = NotifierFunc(nil)
