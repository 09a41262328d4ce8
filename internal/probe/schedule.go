package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Due is one model the scheduler may probe.
type Due struct {
	Model    string
	Interval time.Duration
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Models lists the opted-in models and their cadence; it is called on every check, so
	// configuration changes apply without a restart.
	Models func() []Due
	// Run probes one model; the scheduler never runs two at once.
	Run func(ctx context.Context, model string) error
	// StateFile keeps the last run per model across restarts ("" keeps it in memory).
	StateFile string
	// StartDelay is the wait before the first check (default 10s); Check how often due runs
	// are looked for (default 1s).
	StartDelay, Check time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
}

// Scheduler runs opted-in models by cadence.
type Scheduler struct {
	opts SchedulerOptions
	log  *slog.Logger
	mu   sync.Mutex
	last map[string]time.Time
}

// NewScheduler returns a scheduler with the last runs read from the state file.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if opts.Models == nil || opts.Run == nil {
		return nil, errors.New("probe: SchedulerOptions.Models and Run are required")
	}
	if opts.StartDelay <= 0 {
		opts.StartDelay = 10 * time.Second
	}
	if opts.Check <= 0 {
		opts.Check = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Scheduler{opts: opts, log: opts.Logger.With("component", "probe-scheduler"), last: map[string]time.Time{}}
	if opts.StateFile != "" {
		b, err := os.ReadFile(opts.StateFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read probe schedule state: %w", err)
		default:
			if err := json.Unmarshal(b, &s.last); err != nil {
				s.log.Warn("probe schedule state unreadable; every opted-in model is due", "err", err)
				s.last = map[string]time.Time{}
			}
		}
	}
	return s, nil
}

// Ran records a run of model at t (manual runs count too: they reset the cadence).
func (s *Scheduler) Ran(model string, t time.Time) {
	s.mu.Lock()
	s.last[model] = t
	snap, _ := json.Marshal(s.last)
	s.mu.Unlock()
	if s.opts.StateFile == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(s.opts.StateFile), 0o700); err != nil {
		s.log.Error("probe schedule state not saved", "err", err)
		return
	}
	tmp := s.opts.StateFile + ".tmp"
	if err := os.WriteFile(tmp, snap, 0o600); err == nil {
		err = os.Rename(tmp, s.opts.StateFile)
		if err != nil {
			s.log.Error("probe schedule state not saved", "err", err)
		}
	} else {
		s.log.Error("probe schedule state not saved", "err", err)
	}
}

// Next returns when model is next due (the zero time: now).
func (s *Scheduler) Next(model string, interval time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.last[model]
	if !ok {
		return time.Time{}
	}
	return last.Add(interval)
}

// Run checks for due models until ctx ends; each due model is run in turn.
func (s *Scheduler) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(s.opts.StartDelay):
	}
	t := time.NewTicker(s.opts.Check)
	defer t.Stop()
	for {
		for _, d := range s.opts.Models() {
			if ctx.Err() != nil {
				return nil
			}
			if now := s.opts.Now(); !now.Before(s.Next(d.Model, d.Interval)) {
				s.Ran(d.Model, now)
				if err := s.opts.Run(ctx, d.Model); err != nil && ctx.Err() == nil {
					s.log.Error("scheduled probe run failed", "model", d.Model, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
