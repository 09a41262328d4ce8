package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// store is what the console needs of a session store; both implementations pass the same suite.
type store interface {
	Put(ctx context.Context, k Key, s Session) error
	Get(ctx context.Context, k Key) (Session, bool, error)
	Touch(ctx context.Context, k Key, seen time.Time) error
	Delete(ctx context.Context, k Key) error
	DeleteExpired(ctx context.Context, idleBefore, createdBefore time.Time) error
}

var (
	_ store = (*Memory)(nil)
	_ store = (*Postgres)(nil)
)

func run(t *testing.T, a, b store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	k1, k2 := sha256.Sum256([]byte("cookie-1")), sha256.Sum256([]byte("cookie-2"))
	s1 := Session{User: "ann@example.com", Role: "analyst", SSO: true, CSRF: "tok-1", Created: t0, Seen: t0}
	if err := a.Put(ctx, k1, s1); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, k2, Session{User: "bob", Role: "viewer", CSRF: "tok-2", Created: t0.Add(-13 * time.Hour), Seen: t0}); err != nil {
		t.Fatal(err)
	}
	// b is another node on the same store (the same Memory in one process).
	got, ok, err := b.Get(ctx, k1)
	if err != nil || !ok || got.User != s1.User || got.Role != s1.Role || !got.SSO || got.CSRF != s1.CSRF || !got.Created.Equal(t0) || !got.Seen.Equal(t0) {
		t.Fatalf("Get from the other node: %+v %v %v", got, ok, err)
	}
	if err := b.Touch(ctx, k1, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := a.Get(ctx, k1); !got.Seen.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("touch not seen by the first node: %v", got.Seen)
	}
	if err := a.DeleteExpired(ctx, t0.Add(-30*time.Minute), t0.Add(-12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, k2); ok {
		t.Fatal("a session past its absolute limit survived DeleteExpired")
	}
	if _, ok, _ := b.Get(ctx, k1); !ok {
		t.Fatal("a live session was expired")
	}
	if err := b.Delete(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Get(ctx, k1); ok || err != nil {
		t.Fatalf("logged out on one node, still in on the other: %v %v", ok, err)
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory()
	run(t, m, m)
}

// TestPostgres runs the suite with two connections pools (two API nodes) on a real
// PostgreSQL (WARDEN_TEST_POSTGRES_DSN, default the local test database); unreachable fails.
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("WARDEN_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL for tests is unreachable (set WARDEN_TEST_POSTGRES_DSN): %v", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "warden_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = admin.Close(ctx)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	var nodes [2]*Postgres
	for i := range nodes {
		if nodes[i], err = OpenPostgres(ctx, u.String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nodes[i].Close)
	}
	run(t, nodes[0], nodes[1])
}
