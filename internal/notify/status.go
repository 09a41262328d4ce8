package notify

import (
	"container/list"
	"slices"
	"strings"
	"sync"
	"time"
)

// DeliveryState is where one notification to one receiver stands.
type DeliveryState string

// Delivery states.
const (
	StatePending DeliveryState = "pending" // being delivered or waiting for a retry
	StateSent    DeliveryState = "sent"
	StateFailed  DeliveryState = "failed" // retries exhausted or a permanent error; dead-lettered
)

// Status is the latest delivery to one receiver for one alert.
type Status struct {
	AlertID   string        `json:"alert_id"`
	Receiver  string        `json:"receiver"`
	Kind      Kind          `json:"kind"`
	Level     int           `json:"level"`
	State     DeliveryState `json:"state"`
	Attempts  int           `json:"attempts"`
	LastError string        `json:"last_error,omitempty"`
	UpdatedAt time.Time     `json:"updated_at"`
	SentAt    *time.Time    `json:"sent_at,omitempty"`
}

// StatusBook records the latest delivery status per alert per receiver. It keeps at most a
// bounded number of alerts, forgetting the least recently updated first. Safe for concurrent use.
type StatusBook struct {
	mu   sync.Mutex
	max  int
	byID map[string]*list.Element // alert id → element holding *statusEntry
	lru  *list.List               // front: least recently updated
}

type statusEntry struct {
	alertID    string
	byReceiver map[string]Status
}

// NewStatusBook returns a book that remembers up to maxAlerts alerts (10,000 when <= 0).
func NewStatusBook(maxAlerts int) *StatusBook {
	if maxAlerts <= 0 {
		maxAlerts = 10000
	}
	return &StatusBook{max: maxAlerts, byID: map[string]*list.Element{}, lru: list.New()}
}

func (b *StatusBook) put(s Status) {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.byID[s.AlertID]
	if ok {
		b.lru.MoveToBack(el)
	} else {
		el = b.lru.PushBack(&statusEntry{alertID: s.AlertID, byReceiver: map[string]Status{}})
		b.byID[s.AlertID] = el
	}
	el.Value.(*statusEntry).byReceiver[s.Receiver] = s
	for b.lru.Len() > b.max {
		front := b.lru.Front()
		b.lru.Remove(front)
		delete(b.byID, front.Value.(*statusEntry).alertID)
	}
}

// Alert returns the statuses for one alert, sorted by receiver; nil when unknown.
func (b *StatusBook) Alert(alertID string) []Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.byID[alertID]
	if !ok {
		return nil
	}
	m := el.Value.(*statusEntry).byReceiver
	out := make([]Status, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Receiver, b.Receiver) })
	return out
}

// Get returns the status of one alert at one receiver.
func (b *StatusBook) Get(alertID, receiver string) (Status, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.byID[alertID]
	if !ok {
		return Status{}, false
	}
	s, ok := el.Value.(*statusEntry).byReceiver[receiver]
	return s, ok
}

// Forget drops everything recorded for an alert.
func (b *StatusBook) Forget(alertID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byID[alertID]; ok {
		b.lru.Remove(el)
		delete(b.byID, alertID)
	}
}

// Len returns the number of alerts recorded.
func (b *StatusBook) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byID)
}
