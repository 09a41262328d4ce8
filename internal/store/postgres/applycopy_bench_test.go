package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/warden-ai/warden/internal/store"
)

// applyCopy is the alternative to Apply's INSERT … SELECT FROM unnest(arrays): COPY into
// temporary staging tables, then INSERT … SELECT … ON CONFLICT. It is kept beside the
// benchmark that compares the two; on this machine they were within noise of each other, so
// Apply uses the single-statement form (no temporary tables per connection).
func (s *Store) applyCopy(ctx context.Context, rows []store.Row) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS warden_stage_events (seq bigint, id text, time bigint, type text, model text, actor text, leaf jsonb) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS warden_stage_texts (seq bigint, tier text, time bigint, input text, output text) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"warden_stage_events"}, []string{"seq", "id", "time", "type", "model", "actor", "leaf"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				e := r.Event
				return []any{int64(r.Seq), pgText(e.ID), e.Time.UnixNano(), pgText(string(e.Type)), pgText(e.Model.Name), pgText(e.ActorKey()), []byte(pgJSON(r.Leaf))}, nil
			}))
		if err != nil {
			return err
		}
		var texts [][]any
		for _, r := range rows {
			if !r.Text.Empty() {
				texts = append(texts, []any{int64(r.Seq), pgText(r.Tier), r.Event.Time.UnixNano(), pgText(r.Text.Input), pgText(r.Text.Output)})
			}
		}
		if len(texts) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"warden_stage_texts"}, []string{"seq", "tier", "time", "input", "output"}, pgx.CopyFromRows(texts)); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO warden_events SELECT * FROM warden_stage_events ON CONFLICT (seq) DO UPDATE SET id = excluded.id, time = excluded.time, type = excluded.type,
  model = excluded.model, actor = excluded.actor, leaf = excluded.leaf`)
		if len(texts) > 0 {
			b.Queue(`INSERT INTO warden_texts SELECT * FROM warden_stage_texts ON CONFLICT (seq) DO UPDATE SET tier = excluded.tier, time = excluded.time,
  input = excluded.input, output = excluded.output`)
		}
		b.Queue(setPosition, int64(rows[len(rows)-1].Seq+1))
		return tx.SendBatch(ctx, b).Close()
	})
}

// BenchmarkApplyVariants compares Apply with applyCopy by text size and batch size.
func BenchmarkApplyVariants(b *testing.B) {
	ctx := context.Background()
	for _, text := range []int{0, 1024} {
		for _, batch := range []int{1000, 5000} {
			for _, v := range []string{"unnest", "copy"} {
				b.Run(fmt.Sprintf("%s/text=%d/batch=%d", v, text, batch), func(b *testing.B) {
					s, err := Open(ctx, newSchema(b))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					tmpl := benchRows(b, 0, batch, text)
					rows := make([]store.Row, batch)
					next := 0
					for b.Loop() {
						for i := range rows {
							rows[i] = tmpl[i]
							rows[i].Seq = uint64(next + i)
						}
						next += batch
						apply := s.Apply
						if v == "copy" {
							apply = s.applyCopy
						}
						if err := apply(ctx, rows); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "rows/s")
				})
			}
		}
	}
}
