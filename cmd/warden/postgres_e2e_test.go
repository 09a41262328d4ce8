package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServeWithPostgresIndex runs the binary with the PostgreSQL index store (the distributed
// mode's shared index) against the machine's real PostgreSQL, in a schema of its own.
func TestServeWithPostgresIndex(t *testing.T) {
	base := os.Getenv("WARDEN_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is required (127.0.0.1:5432, database test): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "warden_e2e_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })

	cfgPath := filepath.Join(t.TempDir(), "warden.yaml")
	cfg := "store:\n  driver: postgres\n  dsn: \"" + base + "&search_path=" + schema + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), "--config", cfgPath)
	if code, body := s.do(t, "POST", "/v1/events", s.ingt, bytes.NewReader(ndjson("pg", 0, 40))); code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	s.waitAnalysed(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := s.do(t, "GET", "/v1/events?model=bot-1&user=user-1&limit=100", s.admin, nil)
		var page struct {
			Events []json.RawMessage `json:"events"`
		}
		if code == 200 && json.Unmarshal(body, &page) == nil && len(page.Events) == 2 {
			break // i%3==1 and i%7==1 below 40: 1 and 22
		}
		if time.Now().After(deadline) {
			t.Fatalf("search through PostgreSQL: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".warden_events WHERE type = 'inference'").Scan(&n); err != nil || n != 40 {
		t.Fatalf("rows in PostgreSQL: %d %v", n, err)
	}
}
