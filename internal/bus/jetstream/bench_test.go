package jetstream

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
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
