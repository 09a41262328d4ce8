package store

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/warden-ai/warden/internal/event"
)

// Search limits shared by every implementation.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Normalize applies the default and maximum page size.
func (q *Query) Normalize() {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
}

// EncodeCursor makes the cursor after the event at log index seq: 8 bytes big-endian,
// base64url. Every implementation uses it, so cursors mean the same across drivers for an
// index rebuilt from the same log.
func EncodeCursor(seq int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor returns the seq a cursor continues below, or ErrBadCursor.
func DecodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 8 {
		return 0, ErrBadCursor
	}
	v := binary.BigEndian.Uint64(b)
	if v > math.MaxInt64 {
		return 0, ErrBadCursor
	}
	return int64(v), nil
}

// PageBuilder assembles a search page from rows read newest first, asking for limit+1 rows:
// the extra row only tells that there is a next page.
type PageBuilder struct {
	limit int
	page  Page
	last  int64
}

// NewPageBuilder returns a builder for pages of limit events.
func NewPageBuilder(limit int) *PageBuilder { return &PageBuilder{limit: limit} }

// Add takes the next row. It reports false once the page is full (then NextCursor is set and
// the caller stops reading).
func (b *PageBuilder) Add(seq int64, leaf []byte, text event.Text) (bool, error) {
	if len(b.page.Events) == b.limit {
		b.page.NextCursor = EncodeCursor(b.last)
		return false, nil
	}
	ev, err := event.ParseLeaf(leaf)
	if err != nil {
		return false, fmt.Errorf("search: row %d: %w", seq, err)
	}
	ev.SetText(text)
	b.page.Events = append(b.page.Events, ev)
	b.last = seq
	return true, nil
}

// Page returns the assembled page.
func (b *PageBuilder) Page() Page { return b.page }
