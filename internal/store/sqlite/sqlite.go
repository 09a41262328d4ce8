// Package sqlite is the embedded index store on modernc.org/sqlite (pure Go, so the binary
// stays CGO_ENABLED=0). One writer connection applies batches in single transactions; readers
// use a separate pool (WAL mode).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

// Store is the SQLite index store.
type Store struct {
	w, r *sql.DB
	// Prepared once on the single writer connection and bound to each Apply transaction.
	insEvent, insText, setPos *sql.Stmt
}

var _ store.Store = (*Store)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS events (
  seq   INTEGER PRIMARY KEY,
  id    TEXT NOT NULL,
  time  INTEGER NOT NULL,
  type  TEXT NOT NULL,
  model TEXT NOT NULL,
  user  TEXT NOT NULL,
  leaf  BLOB NOT NULL
);
-- Secondary indexes end in seq, the order searches return (newest first): a page then costs
-- about "limit" index reads however many events a user has; a time bound is checked on the way.
CREATE INDEX IF NOT EXISTS events_model_user_seq ON events(model, user, seq);
CREATE INDEX IF NOT EXISTS events_user_seq ON events(user, seq);
-- Partial indexes of the event types other than inference, in seq order: a search by type
-- (the monthly report's probe results, the console's access events) reads only those events,
-- and an inference event costs nothing more to index. Search names the type as a literal so
-- the planner can use them.
CREATE INDEX IF NOT EXISTS events_access_seq ON events(seq) WHERE type = 'access';
CREATE INDEX IF NOT EXISTS events_pipeline_seq ON events(seq) WHERE type = 'pipeline';
CREATE INDEX IF NOT EXISTS events_feedback_seq ON events(seq) WHERE type = 'feedback';
CREATE INDEX IF NOT EXISTS events_probe_seq ON events(seq) WHERE type = 'probe';
CREATE TABLE IF NOT EXISTS texts (
  seq    INTEGER PRIMARY KEY,
  tier   TEXT NOT NULL,
  time   INTEGER NOT NULL,
  input  TEXT NOT NULL,
  output TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS texts_tier_time ON texts(tier, time);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
`

// Open opens (creating) the index database at path, mode 0600.
func Open(ctx context.Context, path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create index db: %w", err)
	}
	f.Close()
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_pragma=temp_store(MEMORY)"
	// The writer gets a page cache that holds the hot right-hand pages of the secondary indexes
	// (one per model/user pair) and checkpoints the WAL less often, so a page rewritten by many
	// batches is copied to the database file once (ingest benchmark: fewer page writes per row).
	// secure_delete: deleted and overwritten text is zeroed in its page, so retention and
	// erasure leave none of it in the database file (the WAL is truncated after them).
	wdsn := dsn + "&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(8192)&_pragma=secure_delete(ON)"
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("open index db: %w", err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("create index schema: %w", err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open index db: %w", err)
	}
	r.SetMaxOpenConns(4)
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Chmod(path+suffix, 0o600)
	}
	s := &Store{w: w, r: r}
	for _, st := range []struct {
		dst **sql.Stmt
		sql string
	}{
		// Upserts rather than INSERT OR REPLACE: the same result for the one unique key (seq) without
		// REPLACE's statement journal (BenchmarkApply: ~10% less CPU per row).
		{&s.insEvent, `INSERT INTO events(seq,id,time,type,model,user,leaf) VALUES(?,?,?,?,?,?,?)
  ON CONFLICT(seq) DO UPDATE SET id=excluded.id, time=excluded.time, type=excluded.type, model=excluded.model, user=excluded.user, leaf=excluded.leaf`},
		{&s.insText, `INSERT INTO texts(seq,tier,time,input,output) VALUES(?,?,?,?,?)
  ON CONFLICT(seq) DO UPDATE SET tier=excluded.tier, time=excluded.time, input=excluded.input, output=excluded.output`},
		{&s.setPos, `INSERT INTO meta(k,v) VALUES('position',?) ON CONFLICT(k) DO UPDATE SET v=excluded.v`},
	} {
		if *st.dst, err = w.PrepareContext(ctx, st.sql); err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare index statements: %w", err)
		}
	}
	return s, nil
}

// Apply implements store.Store.
func (s *Store) Apply(ctx context.Context, rows []store.Row) error {
	if len(rows) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	ev := tx.StmtContext(ctx, s.insEvent)
	tx2 := tx.StmtContext(ctx, s.insText)
	for _, row := range rows {
		e := row.Event
		if _, err := ev.ExecContext(ctx, int64(row.Seq), e.ID, e.Time.UnixNano(), string(e.Type), e.Model.Name, e.ActorKey(), row.Leaf); err != nil {
			return fmt.Errorf("index event %d: %w", row.Seq, err)
		}
		if !row.Text.Empty() {
			if _, err := tx2.ExecContext(ctx, int64(row.Seq), row.Tier, e.Time.UnixNano(), row.Text.Input, row.Text.Output); err != nil {
				return fmt.Errorf("index text %d: %w", row.Seq, err)
			}
		}
	}
	next := rows[len(rows)-1].Seq + 1
	if _, err := tx.StmtContext(ctx, s.setPos).ExecContext(ctx, int64(next)); err != nil {
		return fmt.Errorf("record position: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Position implements store.Store.
func (s *Store) Position(ctx context.Context) (uint64, error) {
	var v int64
	err := s.w.QueryRowContext(ctx, `SELECT v FROM meta WHERE k='position'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read position: %w", err)
	}
	return uint64(v), nil
}

// Search implements store.Store: newest first, keyset-paginated on seq.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	q.Normalize()
	var where []string
	var args []any
	hi := int64(-1) // the cursor's seq (exclusive), when there is one
	if q.Cursor != "" {
		seq, err := store.DecodeCursor(q.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		where = append(where, "e.seq < ?")
		args = append(args, seq)
		hi = seq
	}
	// Without a user the secondary indexes cannot return rows in seq order, so a bounded search
	// walks the primary key over the newest Scan entries only (the unary + keeps SQLite from
	// sorting every row of a model instead).
	lo := int64(-1)
	modelCol := "e.model"
	if q.Scan > 0 && q.User == "" {
		if hi < 0 {
			if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), -1) + 1 FROM events`).Scan(&hi); err != nil {
				return store.Page{}, fmt.Errorf("search: %w", err)
			}
		}
		if hi-int64(q.Scan) > 0 {
			lo = hi - int64(q.Scan)
			where = append(where, "e.seq >= ?")
			args = append(args, lo)
			modelCol = "+e.model"
		}
	}
	partialType := q.Type == "access" || q.Type == "pipeline" || q.Type == "feedback" || q.Type == "probe"
	if partialType && q.User == "" {
		modelCol = "+e.model" // the type's partial index returns rows in seq order; the model's would need a sort
	}
	if q.Model != "" {
		where = append(where, modelCol+" = ?")
		args = append(args, q.Model)
	}
	if q.User != "" {
		where = append(where, "e.user = ?")
		args = append(args, q.User)
	}
	switch {
	case partialType: // a literal from a fixed set, so the planner can use the partial index
		where = append(where, "e.type = '"+q.Type+"'")
	case q.Type != "":
		where = append(where, "e.type = ?")
		args = append(args, q.Type)
	}
	if !q.Since.IsZero() {
		where = append(where, "e.time >= ?")
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, "e.time < ?")
		args = append(args, q.Until.UnixNano())
	}
	if q.Q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q.Q) + "%"
		where = append(where, `(t.input LIKE ? ESCAPE '\' OR t.output LIKE ? ESCAPE '\' OR CAST(e.leaf AS TEXT) LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like)
	}
	query := `SELECT e.seq, e.leaf, coalesce(t.input,''), coalesce(t.output,'') FROM events e LEFT JOIN texts t ON t.seq = e.seq`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY e.seq DESC LIMIT ?"
	args = append(args, q.Limit+1)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	page, err := store.ReadPage(rows, q.Limit)
	if err != nil {
		return page, err
	}
	return store.BoundPage(page, lo), nil
}

// PruneText implements store.Store. The deleted text is scrubbed from the database file and
// the WAL before it returns.
func (s *Store) PruneText(ctx context.Context, tier string, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM texts WHERE tier = ? AND time < ?`, tier, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune text: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return n, err
	}
	if n > 0 {
		return n, s.scrub(ctx)
	}
	// Also when nothing was deleted now: an earlier truncation may have been kept busy.
	return n, s.truncateWAL(ctx)
}

// PruneEvents implements store.Store. Like PruneText it scrubs what it deleted from the
// database file and the WAL.
func (s *Store) PruneEvents(ctx context.Context, set store.ModelSet, before time.Time) (int64, error) {
	if len(set.Models) == 0 && !set.Others {
		return 0, nil
	}
	cond := "1"
	args := []any{before.UnixNano()}
	if len(set.Models) > 0 {
		cond = "model IN (" + strings.TrimSuffix(strings.Repeat("?,", len(set.Models)), ",") + ")"
		if set.Others {
			cond = "NOT " + cond
		}
		for _, m := range set.Models {
			args = append(args, m)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM texts WHERE seq IN (SELECT seq FROM events WHERE time < ? AND `+cond+`)`, args...); err != nil {
		return 0, fmt.Errorf("prune events: text: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE time < ? AND `+cond, args...)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	if n > 0 {
		return n, s.scrub(ctx)
	}
	return 0, nil
}

// EraseText deletes the stored text of every event of actor (the event's user, or its service
// account, consumer or key when it has no user) and returns their log indices, ascending.
func (s *Store) EraseText(ctx context.Context, actor string) ([]uint64, error) {
	rows, err := s.w.QueryContext(ctx, `DELETE FROM texts WHERE seq IN (SELECT seq FROM events WHERE user = ?) RETURNING seq`, actor)
	if err != nil {
		return nil, fmt.Errorf("erase text: %w", err)
	}
	var seqs []uint64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return nil, fmt.Errorf("erase text: %w", err)
		}
		seqs = append(seqs, uint64(seq))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("erase text: %w", err)
	}
	slices.Sort(seqs)
	if len(seqs) == 0 {
		return nil, nil
	}
	return seqs, s.scrub(ctx)
}

// scrub removes every trace of deleted text from the files. secure_delete zeroes a deleted
// cell, but when a page is rebalanced SQLite moves cells without clearing the bytes they
// leave behind, so copies of text that was live at the time can survive in free space and
// outlive its deletion. VACUUM rewrites the database from the live rows (its cost grows with
// the database: see docs/TRUST.md); the checkpoint then truncates the WAL.
func (s *Store) scrub(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("vacuum index: %w", err)
	}
	return s.truncateWAL(ctx)
}

// truncateWAL copies the WAL into the database and truncates it to zero bytes.
func (s *Store) truncateWAL(ctx context.Context) error {
	var busy, logPages, done int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("checkpoint index WAL: %w", err)
	}
	if busy != 0 {
		return errors.New("checkpoint index WAL: a reader kept it busy; the next retention run retries")
	}
	return nil
}

// notProbe excludes Warden's own probe traffic (event.IsProbeTraffic) from aggregates.
const notProbe = `NOT (user = '` + event.ProbeServiceAccount + `' AND json_extract(CAST(leaf AS TEXT), '$.actor.service_account') = '` + event.ProbeServiceAccount +
	`' AND json_extract(CAST(leaf AS TEXT), '$.attributes."` + event.AttrProbeRun + `"') IS NOT NULL)`

// Aggregate implements store.Store.
func (s *Store) Aggregate(ctx context.Context, from, to time.Time) (store.Aggregates, error) {
	var agg store.Aggregates
	f, t := from.UnixNano(), to.UnixNano()
	rows, err := s.r.QueryContext(ctx, `
SELECT model, count(*),
       sum(json_extract(CAST(leaf AS TEXT), '$.response.status') = 'error'),
       sum(json_extract(CAST(leaf AS TEXT), '$.response.status') = 'blocked'),
       total(json_extract(CAST(leaf AS TEXT), '$.cost_usd'))
FROM events WHERE type = 'inference' AND time >= ? AND time < ? AND `+notProbe+` GROUP BY model ORDER BY model`, f, t)
	if err != nil {
		return agg, fmt.Errorf("aggregate: %w", err)
	}
	for rows.Next() {
		var m store.ModelAggregate
		var errs, blocked sql.NullInt64
		if err := rows.Scan(&m.Model, &m.Events, &errs, &blocked, &m.CostUSD); err != nil {
			rows.Close()
			return agg, fmt.Errorf("aggregate: %w", err)
		}
		m.Errors, m.Blocked = errs.Int64, blocked.Int64
		agg.Models = append(agg.Models, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return agg, fmt.Errorf("aggregate: %w", err)
	}
	for i := range agg.Models {
		m := &agg.Models[i]
		var n int64
		const lat = `json_extract(CAST(leaf AS TEXT), '$.response.latency_ms')`
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE model = ? AND type = 'inference' AND time >= ? AND time < ? AND `+notProbe+` AND `+lat+` IS NOT NULL`, m.Model, f, t).Scan(&n); err != nil {
			return agg, fmt.Errorf("aggregate latency: %w", err)
		}
		if n == 0 {
			continue
		}
		off := int64(float64(n)*0.95+0.5) - 1
		if off < 0 {
			off = 0
		}
		if err := s.r.QueryRowContext(ctx, `SELECT `+lat+` AS l FROM events WHERE model = ? AND type = 'inference' AND time >= ? AND time < ? AND `+notProbe+` AND l IS NOT NULL ORDER BY l LIMIT 1 OFFSET ?`, m.Model, f, t, off).Scan(&m.LatencyP95Ms); err != nil {
			return agg, fmt.Errorf("aggregate latency: %w", err)
		}
	}
	var allowed, denied, compliant sql.NullInt64
	err = s.r.QueryRowContext(ctx, `
SELECT count(*),
       sum(json_extract(CAST(leaf AS TEXT), '$.decision') = 'allow'),
       sum(json_extract(CAST(leaf AS TEXT), '$.decision') = 'deny'),
       sum(json_extract(CAST(leaf AS TEXT), '$.decision') = 'allow' AND
           (coalesce(json_extract(CAST(leaf AS TEXT), '$.privilege'), '') != 'elevated' OR coalesce(json_extract(CAST(leaf AS TEXT), '$.approval_id'), '') != ''))
FROM events WHERE type = 'access' AND time >= ? AND time < ? AND `+notProbe, f, t).Scan(&agg.Access.Total, &allowed, &denied, &compliant)
	if err != nil {
		return agg, fmt.Errorf("aggregate access: %w", err)
	}
	agg.Access.Allowed, agg.Access.Denied, agg.Access.Compliant = allowed.Int64, denied.Int64, compliant.Int64
	return agg, nil
}

// Reset implements store.Store.
func (s *Store) Reset(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM events; DELETE FROM texts; DELETE FROM meta;`)
	if err != nil {
		return fmt.Errorf("reset index: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.insEvent, s.insText, s.setPos} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}
