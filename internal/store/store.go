// Package store defines the index store: the searchable copy of the audit log (event metadata,
// and text as the model's store_text policy allows). The audit log is the system of record; an
// index can always be dropped and rebuilt from it. Implementations: store/sqlite (embedded
// default); a PostgreSQL implementation plugs in behind the same contract for the distributed mode.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// Row is one audit-log entry as the index writer hands it to the store.
type Row struct {
	Seq   uint64       // audit log index
	Event *event.Event // decoded leaf, without text
	Leaf  []byte       // the leaf bytes as in the log
	Text  event.Text   // text after the store_text policy (empty for none)
	Tier  string       // risk tier of the model, for retention
}

// Query selects events. Zero values mean "any".
type Query struct {
	Model, User, Type, Q string
	Since, Until         time.Time
	Limit                int
	Cursor               string // opaque; from a previous Page
	// Scan, when positive, bounds the work of a search that no index narrows (no user): only
	// the Scan newest index entries below the cursor are examined. A page that stops at that
	// bound has Bounded set and a NextCursor below it, possibly with fewer than Limit events.
	// The console sets it so every page answers in bounded time; the API leaves it 0.
	Scan int
}

// Page is one page of search results, newest first.
type Page struct {
	Events     []*event.Event `json:"events"`
	NextCursor string         `json:"next_cursor,omitempty"`
	// Bounded: the search stopped at Query.Scan entries; NextCursor continues below them.
	Bounded bool `json:"-"`
	// ScannedFrom is the lowest log index examined when Bounded.
	ScannedFrom int64 `json:"-"`
}

// Aggregates are per-model inference totals and access-decision totals.
type Aggregates struct {
	Models []ModelAggregate `json:"models"`
	Access AccessAggregate  `json:"access"`
}

// ModelAggregate is one model's inference totals.
type ModelAggregate struct {
	Model        string  `json:"model"`
	Events       int64   `json:"events"`
	Errors       int64   `json:"errors"`
	Blocked      int64   `json:"blocked"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	CostUSD      float64 `json:"cost_usd"`
}

// AccessAggregate counts access decisions. Compliant are allowed requests that used no
// elevated privilege, or used it with an approval.
type AccessAggregate struct {
	Total     int64 `json:"total"`
	Allowed   int64 `json:"allowed"`
	Denied    int64 `json:"denied"`
	Compliant int64 `json:"compliant"`
}

// ModelSet selects events by model name: the listed models, or with Others every model that
// is not listed (events without a model included).
type ModelSet struct {
	Models []string
	Others bool
}

// ErrBadCursor is returned for a cursor the store did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// Store is the index store contract.
type Store interface {
	// Apply indexes rows in order and records that the log is indexed up to the last Seq+1,
	// atomically: after a crash, Position tells where to resume and nothing is indexed twice.
	Apply(ctx context.Context, rows []Row) error
	// Position returns the next log index to apply.
	Position(ctx context.Context) (uint64, error)
	Search(ctx context.Context, q Query) (Page, error)
	// PruneText deletes stored text of events of a risk tier older than before; metadata stays.
	PruneText(ctx context.Context, tier string, before time.Time) (int64, error)
	// PruneEvents deletes the events of the models of set whose time is before before —
	// metadata and text, so they are no longer found — and returns how many.
	PruneEvents(ctx context.Context, set ModelSet, before time.Time) (int64, error)
	// Aggregate summarises the events whose time is in [from, to), for reports.
	Aggregate(ctx context.Context, from, to time.Time) (Aggregates, error)
	// Reset drops everything (for a rebuild from the log).
	Reset(ctx context.Context) error
	Close() error
}
