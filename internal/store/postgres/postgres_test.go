package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/storetest"
)

// The tests run against a real PostgreSQL; an unreachable server fails them. Each store gets
// a fresh schema, dropped when the test ends.
const defaultTestDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testDSN() string {
	if dsn := os.Getenv("WARDEN_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultTestDSN
}

// withSearchPath returns dsn selecting schema first.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("WARDEN_TEST_POSTGRES_DSN: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// newSchema creates an empty schema and returns a DSN that uses it.
func newSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Fatalf("PostgreSQL for tests is unreachable (set WARDEN_TEST_POSTGRES_DSN): %v", err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "warden_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close(ctx)
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
		admin.Close(ctx)
	})
	return withSearchPath(t, testDSN(), schema)
}

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), newSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

func mkRow(t *testing.T, seq uint64, ev *event.Event, text event.Text) store.Row {
	t.Helper()
	leaf, err := ev.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	return store.Row{Seq: seq, Event: ev, Leaf: leaf, Text: text, Tier: "high"}
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

func TestOpenIsIdempotentAndSchemasAreIsolated(t *testing.T) {
	ctx := context.Background()
	dsnA, dsnB := newSchema(t), newSchema(t)
	// Concurrent first opens of one schema must all succeed.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := Open(ctx, dsnA)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	a, err := Open(ctx, dsnA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsnB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ev := &event.Event{ID: "a-1", Type: event.TypeInference, Time: t0, Model: event.Model{Name: "m"}}
	if err := a.Apply(ctx, []store.Row{mkRow(t, 41, ev, event.Text{})}); err != nil {
		t.Fatal(err)
	}
	if pa, _ := a.Position(ctx); pa != 42 {
		t.Fatalf("position A = %d, want 42", pa)
	}
	if pb, _ := b.Position(ctx); pb != 0 {
		t.Fatalf("position B = %d, want 0 (schemas share state)", pb)
	}
	if p, _ := b.Search(ctx, store.Query{}); len(p.Events) != 0 {
		t.Fatalf("schema B sees %d events of A", len(p.Events))
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "s3cr3t-pw-do-not-log"
	for _, tc := range []struct{ name, dsn string }{
		{"unreachable", "postgres://warden:" + secret + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"},
		{"bad dsn", "postgres://warden:" + secret + "@127.0.0.1:5432/test?sslmode=bogus"},
		{"missing schema", withSearchPath(t, testDSN(), "warden_no_such_schema_x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

// TestHostileText: NUL characters and unpaired surrogates, which PostgreSQL text and jsonb
// reject, must not stall the index; they are stored as U+FFFD.
func TestHostileText(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	ev := &event.Event{ID: "nul\x00id", Type: event.TypeInference, Time: t0, Model: event.Model{Name: "m\x00"},
		Actor: event.Actor{User: "u\x00ser"}, Attributes: map[string]any{"k": "a\x00b"}}
	leaf, err := ev.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(leaf), `\u0000`) {
		t.Fatalf("leaf has no \\u0000 escape: %s", leaf)
	}
	hand := []byte(`{"id":"sur","type":"inference","time":"2026-05-01T12:00:00Z","attributes":{"lone":"x\udc00y\ud800","pair":"\ud83d\ude00"}}`)
	evHand, err := event.ParseLeaf(hand)
	if err != nil {
		t.Fatal(err)
	}
	rows := []store.Row{
		{Seq: 0, Event: ev, Leaf: leaf, Text: event.Text{Input: "in\x00put \xff\xfe end", Output: "out"}, Tier: "high"},
		{Seq: 1, Event: evHand, Leaf: hand, Tier: "high"},
	}
	if err := s.Apply(ctx, rows); err != nil {
		t.Fatalf("apply hostile text: %v", err)
	}
	p, err := s.Search(ctx, store.Query{User: "u\x00ser", Model: "m\x00"})
	if err != nil || len(p.Events) != 1 {
		t.Fatalf("search by NUL user: %d, %v", len(p.Events), err)
	}
	got := p.Events[0]
	if got.ID != "nul\uFFFDid" || got.Attributes["k"] != "a\uFFFDb" || got.Request.Input != "in\uFFFDput \uFFFD\uFFFD end" {
		t.Fatalf("stored %q %q %q", got.ID, got.Attributes["k"], got.Request.Input)
	}
	p, err = s.Search(ctx, store.Query{Q: "😀"})
	if err != nil || len(p.Events) != 1 || p.Events[0].Attributes["lone"] != "x\uFFFDy\uFFFD" || p.Events[0].Attributes["pair"] != "😀" {
		t.Fatalf("surrogates: %+v, %v", p.Events, err)
	}
}

func TestApplyDuplicateSeqLastWins(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	r1 := mkRow(t, 7, &event.Event{ID: "first", Type: event.TypeInference, Time: t0}, event.Text{Input: "one"})
	r2 := mkRow(t, 7, &event.Event{ID: "second", Type: event.TypeInference, Time: t0}, event.Text{Input: "two"})
	r0 := mkRow(t, 3, &event.Event{ID: "third", Type: event.TypeInference, Time: t0}, event.Text{})
	if err := s.Apply(ctx, []store.Row{r1, r2, r0}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Search(ctx, store.Query{})
	if err != nil || len(p.Events) != 2 || p.Events[0].ID != "second" || p.Events[0].Request.Input != "two" {
		t.Fatalf("got %+v, %v", p.Events, err)
	}
	if pos, _ := s.Position(ctx); pos != 4 {
		t.Fatalf("position = %d, want 4 (last row's seq + 1)", pos)
	}
}

func TestApplyRejectsBadRowsAtomically(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	good := mkRow(t, 0, &event.Event{ID: "ok", Type: event.TypeInference, Time: t0}, event.Text{})
	for _, tc := range []struct {
		name string
		bad  store.Row
		want string
	}{
		{"invalid leaf", store.Row{Seq: 1, Event: &event.Event{ID: "x"}, Leaf: []byte(`{"id":`)}, "event 1: leaf is not valid JSON"},
		{"no event", store.Row{Seq: 1, Leaf: []byte(`{}`)}, "no decoded event"},
		{"seq out of range", store.Row{Seq: 1 << 63, Event: &event.Event{ID: "x"}, Leaf: []byte(`{}`)}, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Apply(ctx, []store.Row{good, tc.bad})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if pos, _ := s.Position(ctx); pos != 0 {
				t.Fatalf("position moved to %d after a failed batch", pos)
			}
			if p, _ := s.Search(ctx, store.Query{}); len(p.Events) != 0 {
				t.Fatalf("failed batch left %d events", len(p.Events))
			}
		})
	}
}

func TestSearchTimeKeepsNanoseconds(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	var rows []store.Row
	for i := range 3 {
		rows = append(rows, mkRow(t, uint64(i), &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: t0.Add(time.Duration(i))}, event.Text{}))
	}
	if err := s.Apply(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since, until time.Time
		want         int
	}{
		{t0.Add(1), t0.Add(2), 1},
		{t0.Add(1), time.Time{}, 2},
		{time.Time{}, t0.Add(1), 1},
		{t0.Add(3), time.Time{}, 0},
	} {
		p, err := s.Search(ctx, store.Query{Since: tc.since, Until: tc.until})
		if err != nil || len(p.Events) != tc.want {
			t.Errorf("[%v, %v): %d events, %v; want %d", tc.since, tc.until, len(p.Events), err, tc.want)
		}
	}
}

// TestSearchTimeWindowPlans: both ways order reaches a time window (walking seq newest first,
// or sorting the window) return exactly the brute-force answer, page by page, also when event
// times do not follow seq.
func TestSearchTimeWindowPlans(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const n = 300
	var rows []store.Row
	times := make([]time.Time, n)
	for i := range n {
		times[i] = t0.Add(time.Duration(i) * time.Second)
		if i%7 == 0 { // late arrivals: indexed now, happened long ago
			times[i] = t0.Add(time.Duration(i/3) * time.Second)
		}
		typ := event.TypeInference
		if i%4 == 0 {
			typ = event.TypeAccess
		}
		rows = append(rows, mkRow(t, uint64(i), &event.Event{ID: fmt.Sprint(i), Type: typ, Time: times[i]}, event.Text{}))
	}
	if err := s.Apply(ctx, rows); err != nil {
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	for _, tc := range []struct {
		name         string
		since, until time.Time
		typ          string
	}{
		{"recent, large", at(200), time.Time{}, ""},
		{"recent, small", at(295), time.Time{}, ""},
		{"old, large", at(20), at(120), ""},
		{"old, tiny", at(50), at(53), ""},
		{"until only", time.Time{}, at(250), ""},
		{"empty", at(1000), at(2000), ""},
		{"with type", at(20), at(220), "access"},
	} {
		var want []string
		for i := n - 1; i >= 0; i-- {
			if (tc.since.IsZero() || !times[i].Before(tc.since)) && (tc.until.IsZero() || times[i].Before(tc.until)) &&
				(tc.typ == "" || string(rows[i].Event.Type) == tc.typ) {
				want = append(want, fmt.Sprint(i))
			}
		}
		for _, probe := range []int{1, 10, 1000} {
			t.Run(fmt.Sprintf("%s/probe=%d", tc.name, probe), func(t *testing.T) {
				s.probe = probe
				var got []string
				cursor := ""
				for range n {
					p, err := s.Search(ctx, store.Query{Since: tc.since, Until: tc.until, Type: tc.typ, Limit: 17, Cursor: cursor})
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range p.Events {
						got = append(got, e.ID)
					}
					if cursor = p.NextCursor; cursor == "" {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("got %d events %v…, want %d %v…", len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
				}
			})
		}
	}
}

// TestConcurrentApply: writers in different processes (here: pools) may apply overlapping
// batches of one schema at once, as during a hand-over between workers; the advisory lock
// serialises them, so none fails and every row is indexed once.
func TestConcurrentApply(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	var stores []*Store
	for range 3 {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	var rows []store.Row
	for i := range 200 {
		rows = append(rows, mkRow(t, uint64(i), &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: t0, Model: event.Model{Name: "m"}}, event.Text{Input: fmt.Sprint("text ", i)}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*20)
	for k, s := range stores {
		wg.Go(func() {
			for i := 0; i < len(rows); i += 10 {
				// each writer covers the rows in a different order of batches
				j := (i + k*70) % len(rows)
				errs <- s.Apply(ctx, rows[j:j+10])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent apply: %v", err)
		}
	}
	var n int
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*) FROM warden_events e JOIN warden_texts t USING (seq)`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("indexed %d rows with text, %v; want 200", n, err)
	}
}
