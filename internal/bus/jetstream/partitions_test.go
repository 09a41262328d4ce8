package jetstream

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/bus"
)

// handlerPartition hands batches to a function and keeps no state.
type handlerPartition struct{ h func([]bus.Entry) error }

func (p handlerPartition) Handle(_ context.Context, es []bus.Entry) error { return p.h(es) }
func (handlerPartition) Tick(context.Context)                             {}
func (handlerPartition) State() ([]byte, error)                           { return nil, nil }
func (handlerPartition) Close()                                           {}

// runWorkers runs a partition owner whose partitions hand their batches to h.
func runWorkers(t *testing.T, b *Bus, node string, h func([]bus.Entry) error) (stop func()) {
	t.Helper()
	return runOwner(t, b, node, func(int, []byte) (Partition, error) { return handlerPartition{h}, nil })
}

func runOwner(t *testing.T, b *Bus, node string, open OpenPartition) (stop func()) {
	t.Helper()
	w, err := b.NewWorkers(WorkerOptions{Node: node, Open: open, Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// countingPartition is a stateful analysis: how many entries it analysed and the next log index
// it expects; redelivered entries before that are skipped, as the worker does.
type countingPartition struct {
	p     int
	owner string
	rec   *ownership
	S     struct {
		Next uint64 `json:"next"`
		N    int    `json:"n"`
	}
}

func (c *countingPartition) Handle(_ context.Context, es []bus.Entry) error {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	for _, e := range es {
		if e.Index < c.S.Next {
			continue
		}
		c.S.Next, c.S.N = e.Index+1, c.S.N+1
		c.rec.by[c.p] = c.owner
		c.rec.n[c.p] = c.S.N
	}
	return nil
}
func (*countingPartition) Tick(context.Context)     {}
func (c *countingPartition) State() ([]byte, error) { return json.Marshal(c.S) }
func (*countingPartition) Close()                   {}

// ownership records, per partition, the last worker that analysed it and its count.
type ownership struct {
	mu sync.Mutex
	by map[int]string
	n  map[int]int
}

func (o *ownership) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, v := range o.n {
		n += v
	}
	return n
}

func (o *ownership) opener(owner string) OpenPartition {
	return func(p int, state []byte) (Partition, error) {
		c := &countingPartition{p: p, owner: owner, rec: o}
		if len(state) > 0 {
			if err := json.Unmarshal(state, &c.S); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
}

// TestWorkersOwnPartitions: two workers split the partitions between them, each partition
// owned by one; when one dies (its NATS connection cut, its leases left to expire), the other
// takes its partitions over from their stored state, and every entry is analysed exactly once.
func TestWorkersOwnPartitions(t *testing.T) {
	ns := startNATS(t)
	b := openBus(t, ns.url(), 2*time.Second)
	dir := t.TempDir()
	log := openLog(t, filepath.Join(dir, "log"))
	defer log.Close()
	_, stopAppender := runAppender(t, b, log, dir, "a")
	defer stopAppender()
	publish := func(prefix string, n int) {
		t.Helper()
		recs, models := records(prefix, 0, n)
		if _, err := b.Publish(context.Background(), recs, models); err != nil {
			t.Fatal(err)
		}
	}
	rec := &ownership{by: map[int]string{}, n: map[int]int{}}
	ba := openBus(t, ns.url(), 2*time.Second)
	bb := openBus(t, ns.url(), 2*time.Second)
	wa, err := ba.NewWorkers(WorkerOptions{Node: "a", Open: rec.opener("a"), Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	go func() { _ = wa.Run(actx) }()
	publish("one", 300)
	waitFor(t, "300 analysed by a", 60*time.Second, func() bool { return rec.total() == 300 })
	if got := wa.Owned(); len(got) != 4 {
		t.Fatalf("a alone owns %v, want all 4 partitions", got)
	}

	// Member ids end in a random part, and with 4 partitions one member of two wins all of
	// them one time in eight: b is made until the hashing splits them.
	var wb *Workers
	for split := false; !split; {
		if wb, err = bb.NewWorkers(WorkerOptions{Node: "b", Open: rec.opener("b"), Batch: 64}); err != nil {
			t.Fatal(err)
		}
		owners := map[string]bool{}
		for p := range 4 {
			owners[Owner(p, []string{wa.ID(), wb.ID()})] = true
		}
		split = len(owners) == 2
	}
	bctx, bcancel := context.WithCancel(context.Background())
	defer bcancel()
	go func() { _ = wb.Run(bctx) }()
	waitFor(t, "the partitions split between a and b", 60*time.Second, func() bool {
		oa, ob := wa.Owned(), wb.Owned()
		all := slices.Sorted(slices.Values(append(slices.Clone(oa), ob...)))
		return len(oa) > 0 && len(ob) > 0 && slices.Equal(all, []int{0, 1, 2, 3})
	})
	publish("two", 300)
	waitFor(t, "600 analysed", 60*time.Second, func() bool { return rec.total() == 600 })

	// a dies: no hand-over, its leases expire; b takes its partitions with their state.
	ba.nc.Close()
	publish("three", 300)
	waitFor(t, "b owns every partition", 60*time.Second, func() bool { return len(wb.Owned()) == 4 })
	waitFor(t, "900 analysed", 60*time.Second, func() bool { return rec.total() == 900 })
	time.Sleep(500 * time.Millisecond) // nothing more may come: each entry once
	if n := rec.total(); n != 900 {
		t.Fatalf("%d entries analysed, want 900 exactly", n)
	}
	rec.mu.Lock()
	for p, o := range rec.by {
		if o != "b" {
			t.Errorf("partition %d last analysed by %s after a died", p, o)
		}
	}
	rec.mu.Unlock()
	if lag, err := b.WorkerLag(context.Background()); err != nil || lag != 0 {
		t.Fatalf("worker lag: %d %v", lag, err)
	}
}

func TestOwnerIsStableAndSpread(t *testing.T) {
	members := []string{"w1", "w2", "w3"}
	count := map[string]int{}
	moved := 0
	for p := range 1024 {
		o := Owner(p, members)
		count[o]++
		if o != "w3" && Owner(p, members[:2]) != o {
			moved++ // a partition not on the leaving member must stay put
		}
	}
	for _, m := range members {
		if c := count[m]; c < 1024/3-100 || c > 1024/3+100 {
			t.Errorf("member %s owns %d of 1024 partitions: %v", m, c, count)
		}
	}
	if moved != 0 {
		t.Fatalf("%d partitions moved between the members that stayed", moved)
	}
	if Owner(0, nil) != "" {
		t.Fatal("an owner without members")
	}
}
