// Package postgres is the PostgreSQL index store for the distributed mode (docs/ARCHITECTURE.md §4),
// on github.com/jackc/pgx/v5 (pgxpool). It implements store.Store with the same semantics as
// store/sqlite and passes the same conformance suite (store/storetest).
//
// Tables are created on Open, idempotently, with a warden_ prefix and unqualified names, so the
// DSN's search_path chooses the schema: several Warden instances share one database by giving
// each its own schema (postgres://…/db?search_path=warden_eu). Open uses the first schema of
// search_path that exists (current_schema()) and fails when none does; it creates no schema.
//
// Events keep their leaf as jsonb (reports aggregate with jsonb operators) and their time as
// Unix nanoseconds (bigint), exactly as the SQLite store, so both answer the same windows.
// Text after the store_text policy lives in a separate table that PruneText deletes from.
// PostgreSQL cannot store NUL characters or unpaired surrogates in text or jsonb; the store
// replaces them with U+FFFD in its copy (the audit log keeps the original).
//
// Apply writes a batch with one multi-row INSERT … SELECT FROM unnest(arrays) … ON CONFLICT
// (seq) DO UPDATE per table, and the position, in one transaction; concurrent Apply and Reset
// calls on the same schema (from any process) are serialised by a transaction-scoped advisory
// lock. Pool settings come from the DSN (pool_max_conns, …).
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

// Store is the PostgreSQL index store. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	lock  int64 // advisory lock key of this store's schema
	probe int   // windowProbe; smaller in tests
}

var _ store.Store = (*Store)(nil)

// schema creates the tables. Search pages newest first by seq, so the secondary indexes end in
// seq: a page of a user's events reads `limit` index entries whatever the user's volume.
// warden_events_time_seq serves time windows (Since/Until, see order; Aggregate), and
// warden_texts_tier_time serves PruneText.
const schema = `
CREATE TABLE IF NOT EXISTS warden_events (
  seq   bigint PRIMARY KEY,
  id    text   NOT NULL,
  time  bigint NOT NULL,
  type  text   NOT NULL,
  model text   NOT NULL,
  actor text   NOT NULL,
  leaf  jsonb  NOT NULL
);
CREATE INDEX IF NOT EXISTS warden_events_model_actor_seq ON warden_events (model, actor, seq);
CREATE INDEX IF NOT EXISTS warden_events_actor_seq ON warden_events (actor, seq);
CREATE INDEX IF NOT EXISTS warden_events_time_seq ON warden_events (time, seq);
CREATE TABLE IF NOT EXISTS warden_texts (
  seq    bigint PRIMARY KEY,
  tier   text   NOT NULL,
  time   bigint NOT NULL,
  input  text   NOT NULL,
  output text   NOT NULL
);
CREATE INDEX IF NOT EXISTS warden_texts_tier_time ON warden_texts (tier, time);
CREATE TABLE IF NOT EXISTS warden_meta (
  k text PRIMARY KEY,
  v bigint NOT NULL
);`

// Open connects to the database at dsn (a postgres:// URL or key=value string, as pgx accepts)
// and creates the tables if needed. Errors never contain the password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in parse errors.
		return nil, fmt.Errorf("parse index store dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open index store: %w", err)
	}
	s := &Store{pool: pool, probe: windowProbe}
	if err := s.init(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// init creates the schema under an advisory lock (concurrent CREATE … IF NOT EXISTS can
// otherwise fail on the catalog's unique indexes) and derives this schema's lock key.
func (s *Store) init(ctx context.Context) error {
	var sch *string
	var enc string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema(), current_setting('server_encoding')`).Scan(&sch, &enc); err != nil {
		return fmt.Errorf("connect index store: %w", err)
	}
	if enc != "UTF8" {
		// jsonb cannot hold most \u escapes in another encoding, which would stall indexing.
		return fmt.Errorf("index store: database encoding is %s; it must be UTF8", enc)
	}
	if sch == nil {
		return errors.New("index store: no schema of search_path exists; create it first")
	}
	if err := s.pool.QueryRow(ctx, `SELECT hashtextextended('warden_index:' || $1, 0)`, *sch).Scan(&s.lock); err != nil {
		return fmt.Errorf("index store lock key: %w", err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		return fmt.Errorf("create index schema in %q: %w", *sch, err)
	}
	return nil
}

const (
	applyEvents = `
INSERT INTO warden_events (seq, id, time, type, model, actor, leaf)
SELECT seq, id, time, type, model, actor, leaf::jsonb
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
  AS u(seq, id, time, type, model, actor, leaf)
ON CONFLICT (seq) DO UPDATE SET id = excluded.id, time = excluded.time, type = excluded.type,
  model = excluded.model, actor = excluded.actor, leaf = excluded.leaf`
	applyTexts = `
INSERT INTO warden_texts (seq, tier, time, input, output)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[])
ON CONFLICT (seq) DO UPDATE SET tier = excluded.tier, time = excluded.time,
  input = excluded.input, output = excluded.output`
	setPosition = `
INSERT INTO warden_meta (k, v) VALUES ('position', $1)
ON CONFLICT (k) DO UPDATE SET v = excluded.v`
)

// Apply implements store.Store. When rows repeat a Seq, the last one wins (as in SQLite).
func (s *Store) Apply(ctx context.Context, rows []store.Row) error {
	if len(rows) == 0 {
		return nil
	}
	rows = lastPerSeq(rows)
	n := len(rows)
	var (
		seq, tm                  = make([]int64, 0, n), make([]int64, 0, n)
		id, typ, model, actor, l = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		tSeq, tTime              []int64
		tTier, tIn, tOut         []string
	)
	for _, r := range rows {
		e := r.Event
		if e == nil {
			return fmt.Errorf("index event %d: no decoded event", r.Seq)
		}
		if r.Seq > math.MaxInt64 {
			return fmt.Errorf("index event %d: seq out of range", r.Seq)
		}
		ns := e.Time.UnixNano()
		seq, tm = append(seq, int64(r.Seq)), append(tm, ns)
		id, typ = append(id, pgText(e.ID)), append(typ, pgText(string(e.Type)))
		model, actor = append(model, pgText(e.Model.Name)), append(actor, pgText(e.ActorKey()))
		l = append(l, pgJSON(r.Leaf))
		if !r.Text.Empty() {
			tSeq, tTime = append(tSeq, int64(r.Seq)), append(tTime, ns)
			tTier = append(tTier, pgText(r.Tier))
			tIn, tOut = append(tIn, pgText(r.Text.Input)), append(tOut, pgText(r.Text.Output))
		}
	}
	next := int64(rows[len(rows)-1].Seq + 1)
	if last := rows[len(rows)-1].Seq; last == math.MaxInt64 {
		return fmt.Errorf("index event %d: seq out of range", last)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, s.lock)
		b.Queue(applyEvents, seq, id, tm, typ, model, actor, l)
		if len(tSeq) > 0 {
			b.Queue(applyTexts, tSeq, tTier, tTime, tIn, tOut)
		}
		b.Queue(setPosition, next)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("index events %d..%d: %w", rows[0].Seq, rows[len(rows)-1].Seq, explain(err, rows))
	}
	return nil
}

// lastPerSeq drops rows whose Seq occurs again later in the batch: one INSERT … ON CONFLICT
// cannot update the same row twice.
func lastPerSeq(rows []store.Row) []store.Row {
	ascending := true
	for i := 1; i < len(rows); i++ {
		if rows[i].Seq <= rows[i-1].Seq {
			ascending = false
			break
		}
	}
	if ascending {
		return rows
	}
	last := make(map[uint64]int, len(rows))
	for i, r := range rows {
		last[r.Seq] = i
	}
	out := make([]store.Row, 0, len(last))
	for i, r := range rows {
		if last[r.Seq] == i {
			out = append(out, r)
		}
	}
	return out
}

// explain names the row whose leaf PostgreSQL rejected as JSON, which would otherwise fail the
// batch without saying which entry to look at.
func explain(err error, rows []store.Row) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22P02" {
		return err
	}
	for _, r := range rows {
		if !json.Valid(r.Leaf) {
			return fmt.Errorf("event %d: leaf is not valid JSON: %w", r.Seq, err)
		}
	}
	return err
}

// Position implements store.Store.
func (s *Store) Position(ctx context.Context) (uint64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT v FROM warden_meta WHERE k = 'position'`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read position: %w", err)
	}
	return uint64(v), nil
}

// likeEscaper makes a search string literal inside LIKE (whose default escape is backslash).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Search implements store.Store: newest first, keyset-paginated on seq. Q matches a substring
// of the stored input or output text or of the leaf's JSON text (as PostgreSQL prints jsonb:
// `"key": value`, keys reordered), ignoring the case of ASCII letters only, as SQLite's LIKE
// does (COLLATE "C" also halves the cost of ILIKE, which otherwise lower-cases every row
// through the locale). Q is not indexed: a rare Q scans every event the other filters allow.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Page, error) {
	q.Normalize()
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	hi := int64(-1)
	if q.Cursor != "" {
		seq, err := store.DecodeCursor(q.Cursor)
		if err != nil {
			return store.Page{}, err
		}
		arg("e.seq < ?", seq)
		hi = seq
	}
	lo := int64(-1) // a bounded search examines only the newest q.Scan entries (store.Query)
	if q.Scan > 0 && q.User == "" {
		if hi < 0 {
			if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), -1) + 1 FROM warden_events`).Scan(&hi); err != nil {
				return store.Page{}, fmt.Errorf("search: %w", err)
			}
		}
		if hi-int64(q.Scan) > 0 {
			lo = hi - int64(q.Scan)
			arg("e.seq >= ?", lo)
		}
	}
	if q.Model != "" {
		arg("e.model = ?", pgText(q.Model))
	}
	if q.User != "" {
		arg("e.actor = ?", pgText(q.User))
	}
	if q.Type != "" {
		arg("e.type = ?", pgText(q.Type))
	}
	if !q.Since.IsZero() {
		arg("e.time >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		arg("e.time < ?", q.Until.UnixNano())
	}
	if q.Q != "" {
		arg(`(t.input COLLATE "C" ILIKE ? OR t.output COLLATE "C" ILIKE ? OR e.leaf::text COLLATE "C" ILIKE ?)`, "%"+likeEscaper.Replace(pgText(q.Q))+"%")
	}
	// The inner query picks the page's seqs (from an index alone where the filters allow);
	// leaves and texts are read for the page only.
	inner := `SELECT e.seq FROM warden_events e`
	if q.Q != "" {
		inner += ` LEFT JOIN warden_texts t ON t.seq = e.seq`
	}
	if len(where) > 0 {
		inner += " WHERE " + strings.Join(where, " AND ")
	}
	order, err := s.order(ctx, q)
	if err != nil {
		return store.Page{}, err
	}
	args = append(args, q.Limit+1)
	inner += " ORDER BY " + order + " LIMIT $" + strconv.Itoa(len(args))
	query := `SELECT e.seq, e.leaf, coalesce(t.input, ''), coalesce(t.output, '') FROM (` + inner +
		`) p JOIN warden_events e ON e.seq = p.seq LEFT JOIN warden_texts t ON t.seq = p.seq ORDER BY e.seq DESC`
	rows, err := s.pool.Query(ctx, query, args...)
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

// windowProbe bounds the index entries order counts.
const windowProbe = 5_000

// order chooses how Search reaches a page of a time window. Seq and time are strongly
// correlated (events are indexed about when they happen), which the planner does not model:
// for a window it walks the primary key newest first, expecting matches to be spread evenly,
// and so reads every event newer than the window, and every event older than it when the
// window holds fewer matches than the page. That walk is right only for a large window at the
// newest end of the log (the console's "last 24 hours"). Otherwise ordering by seq + 0 makes
// the planner read the window through warden_events_time_seq (time, seq) and sort it, which
// costs the window's size. Two counts of at most windowProbe index entries tell the cases
// apart; either way the result is the same. Model and user searches walk their own (…, seq) indexes, bounded by that volume.
func (s *Store) order(ctx context.Context, q store.Query) (string, error) {
	const walk, sort = "e.seq DESC", "e.seq + 0 DESC"
	if q.Model != "" || q.User != "" || (q.Since.IsZero() && q.Until.IsZero()) {
		return walk, nil
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.Since.IsZero() {
		lo = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		hi = q.Until.UnixNano()
	}
	var inWindow, newer int
	err := s.pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM (SELECT FROM warden_events WHERE time >= $1 AND time < $2 LIMIT $4) w),
       (SELECT count(*) FROM (SELECT FROM warden_events WHERE time >= $2 AND $3 LIMIT $4) n)`,
		lo, hi, !q.Until.IsZero(), s.probe).Scan(&inWindow, &newer)
	if err != nil {
		return "", fmt.Errorf("search: size time window: %w", err)
	}
	if inWindow >= s.probe && newer < s.probe {
		return walk, nil
	}
	return sort, nil
}

// PruneText implements store.Store.
func (s *Store) PruneText(ctx context.Context, tier string, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM warden_texts WHERE tier = $1 AND time < $2`, pgText(tier), before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune text: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, nil
	}
	return tag.RowsAffected(), s.vacuumTexts(ctx)
}

// PruneEvents implements store.Store.
func (s *Store) PruneEvents(ctx context.Context, set store.ModelSet, before time.Time) (int64, error) {
	if len(set.Models) == 0 && !set.Others {
		return 0, nil
	}
	cond := "true"
	args := []any{before.UnixNano()}
	if len(set.Models) > 0 {
		cond = "model = ANY($2)"
		if set.Others {
			cond = "NOT (" + cond + ")"
		}
		names := make([]string, len(set.Models))
		for i, m := range set.Models {
			names[i] = pgText(m)
		}
		args = append(args, names)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `DELETE FROM warden_texts WHERE seq IN (SELECT seq FROM warden_events WHERE time < $1 AND `+cond+`)`, args...); err != nil {
		return 0, fmt.Errorf("prune events: text: %w", err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM warden_events WHERE time < $1 AND `+cond, args...)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, nil
	}
	if err := s.vacuumTexts(ctx); err != nil {
		return tag.RowsAffected(), err
	}
	if _, err := s.pool.Exec(ctx, `VACUUM warden_events`); err != nil {
		return tag.RowsAffected(), fmt.Errorf("vacuum events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// EraseText deletes the stored text of every event of actor and returns their log indices,
// ascending.
func (s *Store) EraseText(ctx context.Context, actor string) ([]uint64, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM warden_texts WHERE seq IN (SELECT seq FROM warden_events WHERE actor = $1) RETURNING seq`, pgText(actor))
	if err != nil {
		return nil, fmt.Errorf("erase text: %w", err)
	}
	seqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (uint64, error) {
		var seq int64
		err := r.Scan(&seq)
		return uint64(seq), err
	})
	if err != nil {
		return nil, fmt.Errorf("erase text: %w", err)
	}
	slices.Sort(seqs)
	if len(seqs) == 0 {
		return nil, nil
	}
	return seqs, s.vacuumTexts(ctx)
}

// vacuumTexts removes the deleted rows' tuples from the table's pages at once instead of
// whenever autovacuum runs. PostgreSQL's own WAL and backups are outside Warden's reach
// (docs/TRUST.md).
func (s *Store) vacuumTexts(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `VACUUM warden_texts`); err != nil {
		return fmt.Errorf("vacuum texts: %w", err)
	}
	return nil
}

// num reads a JSON number at a jsonb path as float8, and NULL for anything else, so that one
// odd leaf cannot fail a report.
func num(path string) string {
	return `(CASE WHEN jsonb_typeof(` + path + `) = 'number' THEN (` + path + `)::float8 END)`
}

var (
	// aggModels orders models by their bytes, as SQLite does, whatever the database collation.
	// notProbe excludes Warden's own probe traffic (event.IsProbeTraffic) from aggregates.
	notProbe = `NOT (coalesce(leaf->'actor'->>'service_account', '') = '` + event.ProbeServiceAccount +
		`' AND leaf->'attributes' ? '` + event.AttrProbeRun + `')`
	aggModels = `
SELECT model, count(*),
       count(*) FILTER (WHERE leaf->'response'->>'status' = 'error'),
       count(*) FILTER (WHERE leaf->'response'->>'status' = 'blocked'),
       coalesce(sum(` + num(`leaf->'cost_usd'`) + `), 0)
FROM warden_events WHERE type = 'inference' AND time >= $1 AND time < $2 AND ` + notProbe + `
GROUP BY model ORDER BY model COLLATE "C"`
	// aggLatency picks, per model, the latency at 1-based rank max(⌊0.95·n + 0.5⌋, 1) in
	// ascending order: the rank the SQLite store uses, so both report the same P95.
	aggLatency = `
WITH l AS (
  SELECT model, ` + num(`leaf->'response'->'latency_ms'`) + ` AS l
  FROM warden_events WHERE type = 'inference' AND time >= $1 AND time < $2 AND ` + notProbe + `
), r AS (
  SELECT model, l, row_number() OVER (PARTITION BY model ORDER BY l) AS rn, count(*) OVER (PARTITION BY model) AS n
  FROM l WHERE l IS NOT NULL
)
SELECT model, l FROM r WHERE rn = greatest(floor(n::float8 * 0.95::float8 + 0.5::float8)::bigint, 1)`
	aggAccess = `
SELECT count(*),
       count(*) FILTER (WHERE leaf->>'decision' = 'allow'),
       count(*) FILTER (WHERE leaf->>'decision' = 'deny'),
       count(*) FILTER (WHERE leaf->>'decision' = 'allow' AND
         (coalesce(leaf->>'privilege', '') <> 'elevated' OR coalesce(leaf->>'approval_id', '') <> ''))
FROM warden_events WHERE type = 'access' AND time >= $1 AND time < $2 AND ` + notProbe
)

// Aggregate implements store.Store. The three queries run in one repeatable-read, read-only
// transaction, so they describe the same snapshot.
func (s *Store) Aggregate(ctx context.Context, from, to time.Time) (store.Aggregates, error) {
	var agg store.Aggregates
	f, t := from.UnixNano(), to.UnixNano()
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, aggModels, f, t)
		if err != nil {
			return err
		}
		agg.Models, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ModelAggregate, error) {
			var m store.ModelAggregate
			err := r.Scan(&m.Model, &m.Events, &m.Errors, &m.Blocked, &m.CostUSD)
			return m, err
		})
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, aggLatency, f, t)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		p95 := map[string]float64{}
		var model string
		var l float64
		if _, err := pgx.ForEachRow(rows, []any{&model, &l}, func() error { p95[model] = l; return nil }); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		for i := range agg.Models {
			agg.Models[i].LatencyP95Ms = p95[agg.Models[i].Model]
		}
		a := &agg.Access
		if err := tx.QueryRow(ctx, aggAccess, f, t).Scan(&a.Total, &a.Allowed, &a.Denied, &a.Compliant); err != nil {
			return fmt.Errorf("access: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.Aggregates{}, fmt.Errorf("aggregate: %w", err)
	}
	return agg, nil
}

// Reset implements store.Store.
func (s *Store) Reset(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `TRUNCATE warden_events, warden_texts; DELETE FROM warden_meta`)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset index: %w", err)
	}
	return nil
}

// Close implements store.Store. It waits for connections in use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
