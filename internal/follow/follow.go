// Package follow runs the readers that follow the audit log (the index writer, the analysis
// worker, the daily aggregates): catch up with every entry appended so far, then sleep until
// the log grows, a periodic task is due or the context ends. One loop serves them all, so they
// agree on waking, retrying and stopping.
package follow

import (
	"context"
	"log/slog"
	"time"
)

// Follower is one reader of the log.
type Follower interface {
	// CatchUp processes every entry appended so far and returns how many it processed.
	CatchUp(ctx context.Context) (int, error)
	// Stop is called once when the context ends; its error is Run's.
	Stop() error
}

// Task is a periodic job run on the follower's goroutine, between catch-ups, so it needs no
// lock against them. It runs every Every (> 0) and, when After > 0, also once at most After
// after a catch-up that processed entries (counted from its previous run): work owed to new
// entries, done soon but never more often than every After. A task with neither never runs.
type Task struct {
	Every time.Duration
	After time.Duration
	Do    func(ctx context.Context)
}

// Options configure Run. The zero value polls once a second.
type Options struct {
	// Grown returns a channel closed when the log next grows (audit.Log.Grown). Without it
	// Run polls every Idle.
	Grown func() <-chan struct{}
	// Idle is the longest sleep between catch-ups, a safety net for a missed wake (default 1 s).
	Idle time.Duration
	// Retry is the wait after a failed catch-up (default 1 s).
	Retry time.Duration
	// Coalesce, when set, is a pause after a catch-up of at least CoalesceAbove entries, so
	// that under load the next catch-up processes a bigger batch.
	Coalesce      time.Duration
	CoalesceAbove int
	// Tasks run every Task.Every.
	Tasks  []Task
	Logger *slog.Logger
	Name   string // for log lines
}

// Run follows the log until ctx ends, then returns f.Stop().
func Run(ctx context.Context, f Follower, o Options) error {
	if o.Idle <= 0 {
		o.Idle = time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var tasks []Task
	for _, t := range o.Tasks {
		if t.Every > 0 || t.After > 0 {
			tasks = append(tasks, t)
		}
	}
	// next: the periodic run (zero: none); owed: the run owed to new entries (zero: none).
	next, owed, last := make([]time.Time, len(tasks)), make([]time.Time, len(tasks)), make([]time.Time, len(tasks))
	for i, t := range tasks {
		if t.Every > 0 {
			next[i] = time.Now().Add(t.Every)
		}
	}
	for {
		var grown <-chan struct{}
		if o.Grown != nil {
			grown = o.Grown() // before catching up: an append during the catch-up wakes us
		}
		wait := o.Idle
		n, err := f.CatchUp(ctx)
		switch {
		case ctx.Err() != nil:
			return f.Stop()
		case err != nil:
			o.Logger.Error("catching up with the audit log failed; retrying", "follower", o.Name, "err", err)
			grown, wait = nil, o.Retry
		case o.Coalesce > 0 && n > 0 && n >= o.CoalesceAbove:
			grown, wait = nil, o.Coalesce
		}
		if n > 0 {
			for i, t := range tasks {
				if t.After > 0 && owed[i].IsZero() {
					owed[i] = last[i].Add(t.After)
				}
			}
		}
		for i := range tasks {
			for _, at := range []time.Time{next[i], owed[i]} {
				if !at.IsZero() {
					wait = min(wait, time.Until(at))
				}
			}
		}
		if !sleep(ctx, grown, wait) {
			return f.Stop()
		}
		for i, t := range tasks {
			now := time.Now()
			due := !next[i].IsZero() && !now.Before(next[i])
			if !due && (owed[i].IsZero() || now.Before(owed[i])) {
				continue
			}
			t.Do(ctx)
			if t.Every > 0 {
				next[i] = now.Add(t.Every)
			}
			owed[i], last[i] = time.Time{}, now
		}
		if ctx.Err() != nil {
			return f.Stop()
		}
	}
}

// sleep waits for the log to grow or for wait to pass, and reports false when ctx ended.
func sleep(ctx context.Context, grown <-chan struct{}, wait time.Duration) bool {
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-grown:
	case <-timer.C:
	}
	return true
}
