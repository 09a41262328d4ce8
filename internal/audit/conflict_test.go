package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestAppendIDConflict: an id already in the log (published, staged in the same batch, or
// earlier in the same call) with a different leaf fails that call alone, naming the id; the
// same id with the same leaf stays idempotent.
func TestAppendIDConflict(t *testing.T) {
	ctx := context.Background()
	l := openT(t, testOptions(t.TempDir()))
	appendN(t, l, 0, 10)
	other := func(i int) Record { // same id as testRecord(i), different content
		r := testRecord(i)
		r.Leaf = testLeaf(i + 1000)
		return r
	}
	cases := []struct {
		name   string
		recs   []Record
		id     string
		record int
	}{
		{"published", []Record{testRecord(50), other(3)}, "ev-3", 1},
		{"within call", []Record{testRecord(60), testRecord(61), other(60)}, "ev-60", 2},
		{"first of call", []Record{other(0)}, "ev-0", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size := l.Size()
			_, err := l.Append(ctx, tc.recs)
			var ce *IDConflictError
			if !errors.As(err, &ce) || !errors.Is(err, ErrIDConflict) {
				t.Fatalf("Append = %v, want *IDConflictError", err)
			}
			if ce.ID != tc.id || ce.Record != tc.record {
				t.Fatalf("conflict names id %q record %d, want %q record %d", ce.ID, ce.Record, tc.id, tc.record)
			}
			if l.Size() != size {
				t.Fatalf("size %d after a refused call, want %d (all or nothing)", l.Size(), size)
			}
			for _, r := range tc.recs[:tc.record] {
				if _, ok := l.Lookup(r.ID); ok && r.ID != tc.id {
					t.Fatalf("record %s of the refused call was appended", r.ID)
				}
			}
		})
	}
	// The same content again is idempotent.
	idx, err := l.Append(ctx, []Record{testRecord(3), testRecord(3)})
	if err != nil || idx[0] != 3 || idx[1] != 3 {
		t.Fatalf("idempotent re-append = %v, %v; want [3 3]", idx, err)
	}

	// Concurrent calls racing for one new id with different content: exactly one content wins,
	// every call with it gets the same index, every other call a conflict.
	const n = 16
	var wg sync.WaitGroup
	results := make([]error, n)
	indexes := make([]uint64, n)
	for k := range n {
		wg.Go(func() {
			r := Record{ID: "race", Leaf: fmt.Appendf(nil, `{"v":%d}`, k%2)}
			i, err := l.Append(ctx, []Record{r})
			results[k] = err
			if err == nil {
				indexes[k] = i[0]
			}
		})
	}
	wg.Wait()
	winner := -1
	for k, err := range results {
		if err == nil {
			if winner >= 0 && (k%2 != winner%2 || indexes[k] != indexes[winner]) {
				t.Fatalf("calls %d and %d both accepted for id race (indexes %d, %d)", winner, k, indexes[winner], indexes[k])
			}
			winner = k
			continue
		}
		if !errors.Is(err, ErrIDConflict) {
			t.Fatalf("call %d: %v", k, err)
		}
	}
	if winner < 0 {
		t.Fatal("no call accepted for id race")
	}
	// After a reopen the published leaf hashes are still checked.
	dir := l.dir
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openT(t, testOptions(dir))
	if _, err := l2.Append(ctx, []Record{other(7)}); !errors.Is(err, ErrIDConflict) {
		t.Fatalf("after reopen: Append = %v, want a conflict", err)
	}
	if idx, err := l2.Append(ctx, []Record{testRecord(7)}); err != nil || idx[0] != 7 {
		t.Fatalf("after reopen: idempotent Append = %v, %v", idx, err)
	}
}
