package store

import (
	"errors"
	"testing"
)

func TestCursor(t *testing.T) {
	for _, c := range []string{"", "!!", "AAAA", "gAAAAAAAAAA", "AAAAAAAAAAAA"} { // last: 9 bytes
		if _, err := DecodeCursor(c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrBadCursor", c, err)
		}
	}
	for _, seq := range []int64{0, 1, 1 << 40, 1<<63 - 1} {
		if got, err := DecodeCursor(EncodeCursor(seq)); err != nil || got != seq {
			t.Errorf("round trip %d = %d, %v", seq, got, err)
		}
	}
}

// sliceRows is a result set of (seq, leaf) rows with empty text.
type sliceRows struct {
	seqs  []int64
	leafs [][]byte
	i     int
	err   error
}

func (r *sliceRows) Next() bool { r.i++; return r.i <= len(r.seqs) }
func (r *sliceRows) Err() error { return r.err }
func (r *sliceRows) Scan(dest ...any) error {
	*dest[0].(*int64) = r.seqs[r.i-1]
	*dest[1].(*[]byte) = r.leafs[r.i-1]
	*dest[2].(*string), *dest[3].(*string) = "", ""
	return nil
}

func TestReadPage(t *testing.T) {
	leaf := []byte(`{"id":"e","type":"access","time":"2026-01-01T00:00:00Z","action":"login","decision":"allow"}`)
	rows := func(seqs ...int64) *sliceRows {
		r := &sliceRows{seqs: seqs}
		for range seqs {
			r.leafs = append(r.leafs, leaf)
		}
		return r
	}
	p, err := ReadPage(rows(9, 7, 4), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 2 || p.NextCursor != EncodeCursor(7) {
		t.Fatalf("page: %d events, cursor %q", len(p.Events), p.NextCursor)
	}
	if p, err := ReadPage(rows(9, 7), 2); err != nil || len(p.Events) != 2 || p.NextCursor != "" {
		t.Fatalf("exactly limit rows: %+v %v, want no next cursor", p, err)
	}
	if p, err := ReadPage(rows(), 5); err != nil || p.NextCursor != "" || len(p.Events) != 0 {
		t.Fatalf("empty page: %+v %v", p, err)
	}
	bad := rows(1)
	bad.leafs[0] = []byte("{")
	if _, err := ReadPage(bad, 5); err == nil {
		t.Fatal("bad leaf accepted")
	}
	failing := rows(3)
	failing.err = errors.New("connection reset")
	if _, err := ReadPage(failing, 5); err == nil {
		t.Fatal("a result-set error was dropped")
	}
}
