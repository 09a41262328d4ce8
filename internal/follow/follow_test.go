package follow

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logStub is a log that grows when told to; its Grown channel works like audit.Log's.
type logStub struct {
	mu    sync.Mutex
	size  int
	grown chan struct{}
}

func newLogStub() *logStub { return &logStub{grown: make(chan struct{})} }

func (l *logStub) Grown() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grown
}

func (l *logStub) append(n int) {
	l.mu.Lock()
	l.size += n
	close(l.grown)
	l.grown = make(chan struct{})
	l.mu.Unlock()
}

func (l *logStub) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// reader follows a logStub, failing the catch-ups it is told to fail.
type reader struct {
	log      *logStub
	pos      atomic.Int64
	calls    atomic.Int64
	failNext atomic.Int64
	stops    atomic.Int64
	stopErr  error
	caught   chan int // receives the position after every successful catch-up
}

func (r *reader) CatchUp(ctx context.Context) (int, error) {
	r.calls.Add(1)
	if r.failNext.Load() > 0 {
		r.failNext.Add(-1)
		return 0, errors.New("disk on fire")
	}
	n := r.log.len() - int(r.pos.Load())
	r.pos.Store(int64(r.log.len()))
	select {
	case r.caught <- int(r.pos.Load()):
	default:
	}
	return n, nil
}

func (r *reader) Stop() error { r.stops.Add(1); return r.stopErr }

func waitPos(t *testing.T, r *reader, want int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-r.caught:
			if p >= want {
				return
			}
		case <-deadline:
			t.Fatalf("reader at %d, want %d", r.pos.Load(), want)
		}
	}
}

func TestRunWakesOnGrowthNotOnTheIdleTimer(t *testing.T) {
	l := newLogStub()
	r := &reader{log: l, caught: make(chan int, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, r, Options{Grown: l.Grown, Idle: time.Hour}) }()
	waitPos(t, r, 0)
	for i := 1; i <= 5; i++ {
		l.append(10)
		waitPos(t, r, 10*i) // an hour's idle timer would fail the test's deadline
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.stops.Load(); n != 1 {
		t.Fatalf("Stop called %d times, want 1", n)
	}
}

func TestRunRetriesAFailedCatchUpAndReturnsStopsError(t *testing.T) {
	l := newLogStub()
	l.append(3)
	stopErr := errors.New("snapshot failed")
	r := &reader{log: l, caught: make(chan int, 16), stopErr: stopErr}
	r.failNext.Store(2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, r, Options{Grown: l.Grown, Idle: time.Hour, Retry: 10 * time.Millisecond})
	}()
	waitPos(t, r, 3) // reached only by retrying: nothing else grows the log
	if c := r.calls.Load(); c < 3 {
		t.Fatalf("%d catch-ups, want at least 3 (two failures, one success)", c)
	}
	cancel()
	if err := <-done; !errors.Is(err, stopErr) {
		t.Fatalf("Run returned %v, want Stop's error", err)
	}
}

func TestRunPollsWithoutGrown(t *testing.T) {
	l := newLogStub()
	r := &reader{log: l, caught: make(chan int, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = Run(ctx, r, Options{Idle: 5 * time.Millisecond}) }()
	l.append(7)
	waitPos(t, r, 7)
}

func TestRunRunsTasksOnItsGoroutine(t *testing.T) {
	l := newLogStub()
	r := &reader{log: l, caught: make(chan int, 16)}
	var fast, slow atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, r, Options{Grown: l.Grown, Idle: time.Hour, Tasks: []Task{
			{Every: 5 * time.Millisecond, Do: func(context.Context) { fast.Add(1) }},
			{Every: time.Hour, Do: func(context.Context) { slow.Add(1) }},
		}})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for fast.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if fast.Load() < 5 {
		t.Fatalf("the 5 ms task ran %d times", fast.Load())
	}
	if slow.Load() != 0 {
		t.Fatalf("the hourly task ran %d times", slow.Load())
	}
}

func TestRunCoalescesLargeCatchUps(t *testing.T) {
	l := newLogStub()
	r := &reader{log: l, caught: make(chan int, 16)}
	l.append(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = Run(ctx, r, Options{Grown: l.Grown, Idle: time.Hour, Coalesce: 2 * time.Second, CoalesceAbove: 50})
	}()
	waitPos(t, r, 100)
	// After a large catch-up the follower pauses instead of waking at once: two appends
	// during the pause are processed by one catch-up.
	l.append(1)
	l.append(1)
	waitPos(t, r, 102)
	if c := r.calls.Load(); c != 2 {
		t.Fatalf("%d catch-ups, want 2 (one large, one after the pause)", c)
	}
}

// TestTaskAfterRunsSoonAfterNewEntries: a task with After runs shortly after a catch-up that
// processed entries — although its Every is an hour — and not again until more arrive.
func TestTaskAfterRunsSoonAfterNewEntries(t *testing.T) {
	l := newLogStub()
	r := &reader{log: l, caught: make(chan int, 16)}
	var runs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, r, Options{Grown: l.Grown, Idle: time.Hour,
			Tasks: []Task{{Every: time.Hour, After: 20 * time.Millisecond, Do: func(context.Context) { runs.Add(1) }}}})
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitPos(t, r, 0)
	time.Sleep(100 * time.Millisecond)
	if n := runs.Load(); n != 0 {
		t.Fatalf("task ran %d times with no entries", n)
	}
	for i := 1; i <= 3; i++ {
		l.append(5)
		deadline := time.Now().Add(5 * time.Second)
		for runs.Load() < int64(i) {
			if time.Now().After(deadline) {
				t.Fatalf("task owed to entry batch %d did not run within 5 s (After 20ms, Every 1h)", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if n := runs.Load(); n != int64(i) {
			t.Fatalf("after batch %d the task ran %d times, want %d (once per batch)", i, n, i)
		}
	}
}
