package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/bus"
)

// natsServer is a real nats-server process with JetStream, on a port and store of its own.
type natsServer struct {
	t     testing.TB
	port  string
	store string
	cmd   *exec.Cmd
	out   *bytes.Buffer
}

func natsBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Fatal("nats-server is required (apt-get install nats-server)")
	return ""
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	s := &natsServer{t: t, port: port, store: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) url() string { return "nats://127.0.0.1:" + s.port }

func (s *natsServer) start() {
	s.t.Helper()
	s.out = new(bytes.Buffer)
	s.cmd = exec.Command(natsBinary(s.t), "-a", "127.0.0.1", "-p", s.port, "-js", "-sd", s.store)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+s.port)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server did not start: %s", s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *natsServer) stop() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

func openBus(t *testing.T, url string, ttl time.Duration) *Bus {
	t.Helper()
	b, err := Open(context.Background(), Options{URL: url, Partitions: 4, LeaseTTL: ttl, AckWait: 2 * time.Second, PublishTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func openLog(t *testing.T, dir string) *audit.Log {
	t.Helper()
	l, err := audit.Open(audit.DefaultOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func records(prefix string, from, n int) ([]audit.Record, []string) {
	recs := make([]audit.Record, n)
	models := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, from+i)
		recs[i] = audit.Record{ID: id, Leaf: []byte(`{"id":"` + id + `"}`), Blob: []byte("text of " + id)}
		models[i] = fmt.Sprintf("model-%d", i%5)
	}
	return recs, models
}

// runAppender runs an appender over log until the returned stop is called.
func runAppender(t *testing.T, b *Bus, log *audit.Log, dir, node string) (*Appender, func()) {
	t.Helper()
	a, err := b.NewAppender(AppenderOptions{Log: log, PositionFile: filepath.Join(dir, "bus.position"), Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return a, runInBackground(t, a.Run)
}

// runInBackground runs run until the returned stop (also called at cleanup) cancels it and
// waits for it to return.
func runInBackground(t *testing.T, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublishAppendConsume: events published to EVENTS reach the audit log in stream order, once
// each even when re-published, and reach a worker with their log index.
func TestPublishAppendConsume(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), 2*time.Second)
	dir := t.TempDir()
	log := openLog(t, filepath.Join(dir, "log"))
	defer log.Close()
	_, stop := runAppender(t, b, log, dir, "a")
	defer stop()

	ctx := context.Background()
	recs, models := records("ev", 0, 500)
	if idx, err := b.Publish(ctx, recs, models); err != nil || idx != nil {
		t.Fatalf("publish: %v %v", idx, err)
	}
	if _, err := b.Publish(ctx, recs[:100], models[:100]); err != nil { // re-sent: acknowledged, stored once
		t.Fatal(err)
	}
	waitFor(t, "500 entries in the log", 10*time.Second, func() bool { return log.Size() >= 500 })

	got := map[string]uint64{}
	var mu sync.Mutex
	stopWorkers := runWorkers(t, b, "w", func(es []bus.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range es {
			if _, dup := got[e.ID]; dup {
				t.Errorf("entry %s delivered twice", e.ID)
			}
			got[e.ID] = e.Index
			if want := `{"id":"` + e.ID + `"}`; string(e.Leaf) != want || string(e.Blob) != "text of "+e.ID {
				t.Errorf("entry %s: leaf %q blob %q", e.ID, e.Leaf, e.Blob)
			}
		}
		return nil
	})
	waitFor(t, "500 entries consumed", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 500 })
	stopWorkers()
	if log.Size() != 500 {
		t.Fatalf("log has %d entries, want 500 (re-sent events appended again?)", log.Size())
	}
	for id, i := range got {
		if j, ok := log.Lookup(id); !ok || j != i {
			t.Fatalf("entry %s: worker saw index %d, log has %d (%v)", id, i, j, ok)
		}
	}
	// Stream order is publish order: the first publish call's records are 0..499 in order.
	for k := range 500 {
		if i, _ := log.Lookup(recs[k].ID); i != uint64(k) { //nolint:gosec // k ≥ 0
			t.Fatalf("record %d at log index %d: not in stream order", k, i)
		}
	}
	lag, err := b.WorkerLag(ctx)
	if err != nil || lag != 0 {
		t.Fatalf("worker lag after consuming everything: %d %v", lag, err)
	}
}

// TestFailedBatchIsRedelivered: a handler error (index store down) leaves the batch to be
// delivered again, and the lag says so meanwhile.
func TestFailedBatchIsRedelivered(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), 2*time.Second)
	dir := t.TempDir()
	log := openLog(t, filepath.Join(dir, "log"))
	defer log.Close()
	_, stop := runAppender(t, b, log, dir, "a")
	defer stop()
	recs, models := records("r", 0, 50)
	if _, err := b.Publish(context.Background(), recs, models); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "50 entries in the log", 10*time.Second, func() bool { return log.Size() == 50 })

	var mu sync.Mutex
	fail := true
	seen := map[string]int{}
	runWorkers(t, b, "w", func(es []bus.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("index store down")
		}
		for _, e := range es {
			seen[e.ID]++
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	if lag, err := b.WorkerLag(context.Background()); err != nil || lag != 50 {
		t.Fatalf("lag while the handler fails: %d %v, want 50", lag, err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	waitFor(t, "all 50 entries after recovery", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 50 })
	waitFor(t, "no worker lag", 10*time.Second, func() bool { lag, err := b.WorkerLag(context.Background()); return err == nil && lag == 0 })
}

// TestAppenderLeaseAndResume: only the lease holder appends; when it stops, another process
// takes the lease and, on the same log directory, resumes after the last appended sequence
// without appending anything twice.
func TestAppenderLeaseAndResume(t *testing.T) {
	ns := startNATS(t)
	ttl := time.Second
	b1 := openBus(t, ns.url(), ttl)
	b2 := openBus(t, ns.url(), ttl)
	dir := t.TempDir()
	log1 := openLog(t, filepath.Join(dir, "log"))
	a1, stop1 := runAppender(t, b1, log1, dir, "one")
	waitFor(t, "a leader", 5*time.Second, a1.Leader)

	otherDir := t.TempDir()
	other := openLog(t, filepath.Join(otherDir, "log"))
	defer other.Close()
	a2, stop2 := runAppender(t, b2, other, otherDir, "two")
	recs, models := records("l", 0, 300)
	if _, err := b1.Publish(context.Background(), recs, models); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "300 entries", 10*time.Second, func() bool { return log1.Size() == 300 })
	time.Sleep(3 * ttl) // several renewals: the lease must stay with one
	if a2.Leader() || other.Size() != 0 {
		t.Fatalf("second appender led (%v) or appended (%d) while the first held the lease", a2.Leader(), other.Size())
	}
	stop2()
	stop1()
	pos := a1.Position()
	if err := log1.Close(); err != nil {
		t.Fatal(err)
	}
	if pos != 300 {
		t.Fatalf("first appender's position %d, want 300", pos)
	}

	// More events while nobody appends; a new process on the same directory takes over.
	more, mmodels := records("l", 300, 200)
	if _, err := b2.Publish(context.Background(), more, mmodels); err != nil {
		t.Fatal(err)
	}
	log3 := openLog(t, filepath.Join(dir, "log"))
	defer log3.Close()
	b3 := openBus(t, ns.url(), ttl)
	a3, stop3 := runAppender(t, b3, log3, dir, "three")
	defer stop3()
	waitFor(t, "500 entries after the take-over", 10*time.Second, func() bool { return log3.Size() >= 500 })
	time.Sleep(200 * time.Millisecond)
	if log3.Size() != 500 || !a3.Leader() || a3.Position() != 500 {
		t.Fatalf("after take-over: size %d leader %v position %d", log3.Size(), a3.Leader(), a3.Position())
	}
	for k, r := range append(recs, more...) {
		if i, ok := log3.Lookup(r.ID); !ok || i != uint64(k) { //nolint:gosec // k ≥ 0
			t.Fatalf("%s at %d (%v), want %d", r.ID, i, ok, k)
		}
	}
}

// TestEmptyLogReplaysTheStream: an appender whose log is empty (a new api node) rebuilds the same
// log from the stream: same entries, same order, same root.
func TestEmptyLogReplaysTheStream(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), time.Second)
	d1 := t.TempDir()
	l1 := openLog(t, filepath.Join(d1, "log"))
	_, stop := runAppender(t, b, l1, d1, "one")
	recs, models := records("p", 0, 120)
	if _, err := b.Publish(context.Background(), recs, models); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "120 entries", 10*time.Second, func() bool { return l1.Size() == 120 })
	stop()
	d2 := t.TempDir()
	l2 := openLog(t, filepath.Join(d2, "log"))
	_, stop2 := runAppender(t, b, l2, d2, "two")
	waitFor(t, "120 replayed entries", 10*time.Second, func() bool { return l2.Size() == 120 })
	stop2()
	for i := range uint64(120) {
		x, _ := l1.Leaf(i)
		y, _ := l2.Leaf(i)
		if !bytes.Equal(x, y) {
			t.Fatalf("entry %d differs: %q vs %q", i, x, y)
		}
	}
	_ = l1.Close()
	_ = l2.Close()
}

// TestNATSDownAtStart: a server that is not there is a clear error naming the URL.
func TestNATSDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String()
	ln.Close()
	_, err = Open(context.Background(), Options{URL: url})
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "connect to NATS") {
		t.Fatalf("Open(%s) = %v, want an error naming the URL", url, err)
	}
}

// TestNATSLostWhileRunning: publishing fails fast with ErrUnavailable while the server is down,
// and works again once it is back (the client reconnects by itself); nothing acknowledged before
// the outage is lost (file storage).
func TestNATSLostWhileRunning(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), time.Second)
	ctx := context.Background()
	recs, models := records("o", 0, 100)
	if _, err := b.Publish(ctx, recs, models); err != nil {
		t.Fatal(err)
	}
	ns.stop()
	waitFor(t, "the client to notice", 5*time.Second, func() bool { return !b.Connected() })
	start := time.Now()
	more, mmodels := records("o", 100, 10)
	if _, err := b.Publish(ctx, more, mmodels); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish while down = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("publish while down took %v; it must fail fast", d)
	}
	ns.start()
	waitFor(t, "reconnection", 10*time.Second, b.Connected)
	waitFor(t, "a publish after reconnection", 10*time.Second, func() bool { _, err := b.Publish(ctx, more, mmodels); return err == nil })

	dir := t.TempDir()
	log := openLog(t, filepath.Join(dir, "log"))
	defer log.Close()
	_, stop := runAppender(t, b, log, dir, "a")
	defer stop()
	waitFor(t, "all 110 events in the log", 10*time.Second, func() bool { return log.Size() == 110 })
}
