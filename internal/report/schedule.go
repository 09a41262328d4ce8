package report

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Period returns the last complete period of kind that ends at or before t, in loc: the
// previous day, the previous ISO week (Monday to Monday), month or calendar quarter.
func Period(kind Kind, t time.Time, loc *time.Location) (from, to time.Time) {
	t = t.In(loc)
	y, mo, d := t.Date()
	switch kind {
	case Weekly:
		to = time.Date(y, mo, d-(int(t.Weekday())+6)%7, 0, 0, 0, 0, loc)
		return to.AddDate(0, 0, -7), to
	case Monthly:
		to = time.Date(y, mo, 1, 0, 0, 0, 0, loc)
		return to.AddDate(0, -1, 0), to
	case Quarterly:
		to = time.Date(y, mo-(mo-1)%3, 1, 0, 0, 0, 0, loc)
		return to.AddDate(0, -3, 0), to
	default:
		to = time.Date(y, mo, d, 0, 0, 0, 0, loc)
		return to.AddDate(0, 0, -1), to
	}
}

// next returns the end of the period containing t: when the next report of kind is due.
func next(kind Kind, t time.Time, loc *time.Location) time.Time {
	_, to := Period(kind, t, loc)
	for !to.After(t) {
		switch kind {
		case Weekly:
			to = to.AddDate(0, 0, 7)
		case Monthly:
			to = to.AddDate(0, 1, 0)
		case Quarterly:
			to = to.AddDate(0, 3, 0)
		default:
			to = to.AddDate(0, 0, 1)
		}
	}
	return to
}

// Scheduler writes each kind's report into Dir when its period ends (files
// <kind>-<from date>.json and .html, mode 0600; Dir 0700), plus Delay so that late events
// have arrived.
type Scheduler struct {
	Source   Source
	Dir      string
	Kinds    []Kind         // default all
	Location *time.Location // default UTC
	Delay    time.Duration  // default 5m
	Logger   *slog.Logger
	// OnReport, when set, is called after each report is written (e.g. to notify).
	OnReport func(ctx context.Context, r *Report, jsonPath, htmlPath string)
}

// Run generates reports on schedule until ctx is done. A report whose files exist is not
// regenerated, so a restart does not duplicate work; a period missed while down is not
// back-filled (use Generate on demand).
func (s *Scheduler) Run(ctx context.Context) error {
	kinds, loc, delay, log := s.Kinds, s.Location, s.Delay, s.Logger
	if len(kinds) == 0 {
		kinds = Kinds
	}
	if loc == nil {
		loc = time.UTC
	}
	if delay <= 0 {
		delay = 5 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "report")
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	due := map[Kind]time.Time{}
	now := time.Now()
	for _, k := range kinds {
		due[k] = next(k, now, loc).Add(delay)
	}
	for {
		var soonest time.Time
		for _, t := range due {
			if soonest.IsZero() || t.Before(soonest) {
				soonest = t
			}
		}
		timer := time.NewTimer(time.Until(soonest))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		now := time.Now()
		for _, k := range kinds {
			if now.Before(due[k]) {
				continue
			}
			from, to := Period(k, now.Add(-delay), loc)
			if err := s.write(ctx, k, from, to, log); err != nil {
				log.Error("scheduled report", "kind", string(k), "err", err)
			}
			due[k] = next(k, now.Add(-delay), loc).Add(delay)
		}
	}
}

func (s *Scheduler) write(ctx context.Context, k Kind, from, to time.Time, log *slog.Logger) error {
	base := filepath.Join(s.Dir, fmt.Sprintf("%s-%s", k, from.Format("2006-01-02")))
	if _, err := os.Stat(base + ".json"); err == nil {
		return nil
	}
	r, err := Generate(ctx, k, from, to, s.Source)
	if err != nil {
		return err
	}
	var j, h bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		return err
	}
	if err := r.WriteHTML(&h); err != nil {
		return err
	}
	// HTML first: the JSON file marks the report as done.
	if err := os.WriteFile(base+".html", h.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(base+".json", j.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	log.Info("report written", "kind", string(k), "from", from, "to", to)
	if s.OnReport != nil {
		s.OnReport(ctx, &r, base+".json", base+".html")
	}
	return nil
}
