package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres keeps sessions in the table warden_console_sessions, shared by every API node that
// uses the same database.
type Postgres struct {
	pool *pgxpool.Pool
}

const pgSchema = `
CREATE TABLE IF NOT EXISTS warden_console_sessions (
  key     bytea PRIMARY KEY,
  "user"  text NOT NULL,
  role    text NOT NULL,
  sso     boolean NOT NULL,
  csrf    text NOT NULL,
  created timestamptz NOT NULL,
  seen    timestamptz NOT NULL
)`

// OpenPostgres connects to dsn (a small pool of its own) and creates the table if needed.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sessions: postgres dsn: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sessions: connect: %w", err)
	}
	if _, err := pool.Exec(ctx, pgSchema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sessions: create table: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Close releases the connections.
func (p *Postgres) Close() { p.pool.Close() }

// Put stores s under k.
func (p *Postgres) Put(ctx context.Context, k Key, s Session) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO warden_console_sessions (key, "user", role, sso, csrf, created, seen)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key) DO UPDATE SET "user" = $2, role = $3, sso = $4, csrf = $5, created = $6, seen = $7`,
		k[:], s.User, s.Role, s.SSO, s.CSRF, s.Created.UTC(), s.Seen.UTC())
	if err != nil {
		return fmt.Errorf("sessions: put: %w", err)
	}
	return nil
}

// Get returns the session under k.
func (p *Postgres) Get(ctx context.Context, k Key) (Session, bool, error) {
	var s Session
	err := p.pool.QueryRow(ctx, `SELECT "user", role, sso, csrf, created, seen FROM warden_console_sessions WHERE key = $1`, k[:]).
		Scan(&s.User, &s.Role, &s.SSO, &s.CSRF, &s.Created, &s.Seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("sessions: get: %w", err)
	}
	return s, true, nil
}

// Touch sets the last-seen time of the session under k (never moving it back).
func (p *Postgres) Touch(ctx context.Context, k Key, seen time.Time) error {
	if _, err := p.pool.Exec(ctx, `UPDATE warden_console_sessions SET seen = greatest(seen, $2) WHERE key = $1`, k[:], seen.UTC()); err != nil {
		return fmt.Errorf("sessions: touch: %w", err)
	}
	return nil
}

// Delete removes the session under k.
func (p *Postgres) Delete(ctx context.Context, k Key) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM warden_console_sessions WHERE key = $1`, k[:]); err != nil {
		return fmt.Errorf("sessions: delete: %w", err)
	}
	return nil
}

// DeleteExpired removes sessions last seen before idleBefore or created before createdBefore.
func (p *Postgres) DeleteExpired(ctx context.Context, idleBefore, createdBefore time.Time) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM warden_console_sessions WHERE seen < $1 OR created < $2`, idleBefore.UTC(), createdBefore.UTC()); err != nil {
		return fmt.Errorf("sessions: expire: %w", err)
	}
	return nil
}
