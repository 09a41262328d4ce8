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

// Rows is the part of a result set (database/sql and pgx alike) that ReadPage uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadPage assembles a search page from rows of (seq, leaf, input, output) read newest first.
// The query asks for limit+1 rows: the extra row only tells that there is a next page, and then
// NextCursor points after the last event returned.
func ReadPage(rows Rows, limit int) (Page, error) {
	var (
		page Page
		last int64
	)
	for rows.Next() {
		if len(page.Events) == limit {
			page.NextCursor = EncodeCursor(last)
			break
		}
		var seq int64
		var leaf []byte
		var t event.Text
		if err := rows.Scan(&seq, &leaf, &t.Input, &t.Output); err != nil {
			return Page{}, fmt.Errorf("search: %w", err)
		}
		ev, err := event.ParseLeaf(leaf)
		if err != nil {
			return Page{}, fmt.Errorf("search: row %d: %w", seq, err)
		}
		ev.SetText(t)
		page.Events = append(page.Events, ev)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("search: %w", err)
	}
	return page, nil
}

// BoundPage completes a page of a search bounded below at log index lo (-1: unbounded): when
// the page did not fill before the bound, the next page continues below lo.
func BoundPage(p Page, lo int64) Page {
	if lo < 0 {
		return p
	}
	p.ScannedFrom = lo
	if p.NextCursor == "" {
		p.Bounded = true
		p.NextCursor = EncodeCursor(lo)
	}
	return p
}
