package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/bus"
)

func benchRecords(prefix string, n int) ([]audit.Record, []string) {
	text := strings.Repeat("lorem ipsum dolor sit amet ", 37) // ~1 KB, like the ingest benchmark
	recs := make([]audit.Record, n)
	models := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = audit.Record{ID: id, Leaf: []byte(`{"id":"` + id + `","type":"inference","model":{"name":"m"}}`), Blob: []byte(text)}
		models[i] = fmt.Sprintf("model-%d", i%100)
	}
	return recs, models
}

// BenchmarkPublish: one ingest process publishing batches of 100 × 1 KB records and waiting for
// every acknowledgement (what a 202 waits for), against a local single nats-server.
func BenchmarkPublish(b *testing.B) {
	ns := startNATS(b)
	bus, err := Open(context.Background(), Options{URL: ns.url()})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	recs, models := benchRecords("p", b.N*100)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := bus.Publish(context.Background(), recs[i*100:(i+1)*100], models[i*100:(i+1)*100]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAppender: the single appender's path — read EVENTS in order, append to the audit log
// (fsync), republish to LOGGED — over b.N×1000 records published beforehand.
func BenchmarkAppender(b *testing.B) {
	ns := startNATS(b)
	bus, err := Open(context.Background(), Options{URL: ns.url()})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	n := b.N * 1000
	recs, models := benchRecords("a", n)
	for i := 0; i < n; i += 1000 {
		if _, err := bus.Publish(context.Background(), recs[i:i+1000], models[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	log, err := audit.Open(audit.DefaultOptions(filepath.Join(dir, "log")))
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	a, err := bus.NewAppender(AppenderOptions{Log: log, PositionFile: filepath.Join(dir, "bus.position")})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	go func() { _ = a.Run(ctx) }()
	for log.Size() < uint64(n) { //nolint:gosec // n > 0
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// statePartition is a partition whose analysis costs nothing and whose state is size bytes
// of JSON-like text: what is left is the partition machinery — fetch, state save, acks.
type statePartition struct{ state []byte }

func (statePartition) Handle(context.Context, []bus.Entry) error { return nil }
func (statePartition) Tick(context.Context)                      {}
func (p statePartition) State() ([]byte, error)                  { return p.state, nil }
func (statePartition) Close()                                    {}

// BenchmarkPartitions: one worker owning 16 partitions drains b.N×1000 LOGGED entries (1 KB
// each), storing a 64 KB partition state (gzip, KV compare-and-set) before every acknowledgement.
func BenchmarkPartitions(b *testing.B) {
	ns := startNATS(b)
	bs, err := Open(context.Background(), Options{URL: ns.url(), Partitions: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	n := b.N * 1000
	recs, _ := benchRecords("w", n)
	futs := make([]jetstream.PubAckFuture, 0, n)
	for i := range recs {
		msg := &nats.Msg{Subject: fmt.Sprintf("%s.logged.%d", bs.prefix, i%16), Data: bus.EncodeRecord(recs[i].Leaf, recs[i].Blob), Header: nats.Header{}}
		msg.Header.Set(IndexHeader, fmt.Sprint(i))
		f, err := bs.js.PublishMsgAsync(msg, jetstream.WithMsgID(recs[i].ID))
		if err != nil {
			b.Fatal(err)
		}
		futs = append(futs, f)
	}
	if err := waitAcks(context.Background(), futs); err != nil {
		b.Fatal(err)
	}
	var state bytes.Buffer
	for i := 0; state.Len() < 64<<10; i++ {
		fmt.Fprintf(&state, `{"k":"model-%d","n":%d,"mean":%g},`, i, i*7, float64(i)/3)
	}
	var done atomic.Int64
	w, err := bs.NewWorkers(WorkerOptions{Node: "bench", Batch: 1000, Open: func(int, []byte) (Partition, error) {
		return countedPartition{statePartition{state.Bytes()}, &done}, nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	go func() { _ = w.Run(ctx) }()
	for done.Load() < int64(n) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
}

type countedPartition struct {
	statePartition
	n *atomic.Int64
}

func (p countedPartition) Handle(_ context.Context, es []bus.Entry) error {
	p.n.Add(int64(len(es)))
	return nil
}

// BenchmarkAlertApplier: the alert applier's path — read ALERTS in order, decode, hand over
// (here to a counter: the alert manager's own cost is BenchmarkReceive in alert/lifecycle),
// record the position — over b.N×100 raises published beforehand in batches of 100.
func BenchmarkAlertApplier(b *testing.B) {
	ns := startNATS(b)
	bus, err := Open(context.Background(), Options{URL: ns.url()})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	n := b.N * 100
	t0 := time.Now()
	for i := 0; i < n; i += 100 {
		msgs := make([]AlertMsg, 100)
		for j := range msgs {
			key := fmt.Sprintf("warden.sec.prompt_injection|model-%d|user-%d", (i+j)%100, i+j)
			msgs[j] = RaiseMsg(alert.Alert{ID: fmt.Sprintf("a%d", i+j), RuleID: "warden.sec.prompt_injection", Severity: alert.P2,
				Summary: "prompt injection on model-1 by user-1 (score 0.97)", DedupKey: key, Model: "model-1", Actor: "user-1",
				EventIDs: []string{fmt.Sprintf("ev-%d", i+j)}, Values: map[string]float64{"score": 0.97}, StartsAt: t0, Count: 1})
		}
		if err := bus.PublishAlerts(context.Background(), msgs); err != nil {
			b.Fatal(err)
		}
	}
	var applied atomic.Int64
	done := make(chan struct{})
	a, err := bus.NewAlertApplier(AlertApplierOptions{PositionFile: filepath.Join(b.TempDir(), "alerts.position"), Apply: func(context.Context, AlertMsg) error {
		if applied.Add(1) == int64(n) {
			close(done)
		}
		return nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	go func() { _ = a.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d applied", applied.Load(), n)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "alerts/s")
}
