package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user+system CPU time of the process so far: on a shared
// machine, CPU per event is a steadier figure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppend measures durable group-commit throughput: many concurrent
// appenders, each op one Append call of 100 records with ~1 KB leaves (and
// optionally a 1 KB blob). events/s is the figure to compare with the
// product goal of 50,000 events/s.
func BenchmarkAppend(b *testing.B) {
	leaf := make([]byte, 1000)
	for i := range leaf {
		leaf[i] = byte('a' + i%26)
	}
	for _, bc := range []struct {
		appenders int // goroutines per GOMAXPROCS
		blob      bool
	}{{8, false}, {64, false}, {64, true}} {
		b.Run(fmt.Sprintf("appenders=%dxP/blob=%v", bc.appenders, bc.blob), func(b *testing.B) {
			o := DefaultOptions(b.TempDir())
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var next atomic.Int64
			b.SetParallelism(bc.appenders)
			b.SetBytes(100 * int64(len(leaf)))
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				recs := make([]Record, 100)
				for pb.Next() {
					base := next.Add(100)
					for k := range recs {
						recs[k] = Record{ID: fmt.Sprintf("ev-%d", base+int64(k)), Leaf: leaf}
						if bc.blob {
							recs[k].Blob = leaf
						}
					}
					if _, err := l.Append(context.Background(), recs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(next.Load()), "cpu-ns/event")
		})
	}
}

func buildLog(b *testing.B, n, leafSize int) (*Log, string) {
	b.Helper()
	dir := b.TempDir()
	return extendLog(b, dir, n, leafSize), dir
}

// extendLog opens the log in dir and appends entries ev-<size>… until it holds n.
func extendLog(b *testing.B, dir string, n, leafSize int) *Log {
	b.Helper()
	l, err := Open(DefaultOptions(dir))
	if err != nil {
		b.Fatal(err)
	}
	leaf := make([]byte, leafSize)
	recs := make([]Record, 0, 1000)
	for i := int(l.Size()); i < n; i++ {
		recs = append(recs, Record{ID: fmt.Sprintf("ev-%d", i), Leaf: leaf})
		if len(recs) == cap(recs) || i == n-1 {
			if _, err := l.Append(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	return l
}

// BenchmarkVerify reports the cost of verifying one ~1 KB entry; multiply
// ns/entry by 10 M for the full-log estimate.
func BenchmarkVerify(b *testing.B) {
	const n = 50_000
	l, dir := buildLog(b, n, 1000)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * 1000)
	cpu0 := cpuTime()
	for b.Loop() {
		s, err := Verify(dir)
		if err != nil || s.Entries != n {
			b.Fatal(s, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/n, "cpu-ns/entry")
}

func BenchmarkInclusionProof(b *testing.B) {
	const n = 200_000
	l, _ := buildLog(b, n, 100)
	defer l.Close()
	if _, err := l.InclusionProof(n - 1); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := l.InclusionProof(rand.Uint64N(n)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	const n = 200_000
	l, _ := buildLog(b, n, 100)
	defer l.Close()
	for b.Loop() {
		if _, ok := l.Lookup(fmt.Sprintf("ev-%d", rand.IntN(n))); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkOpen measures start-up (Open: recover, id table, hashes) of a closed log of 1 M
// entries (WARDEN_BENCH_OPEN_ENTRIES overrides: 10000000 needs ~8 GB of temporary disk) with
// ~700-byte leaves (about 0.8 GB of segments per million), page cache warm: with the segment
// indexes Close leaves (index=present) and without them (index=absent: every segment is read,
// as before segment indexes existed, and after an upgrade). It reports the bytes Open read
// (rchar of /proc/self/io), which is what grows with the log when start-up rescans it.
// WARDEN_BENCH_LOG_DIR keeps the log in that directory (reused by later runs; select only
// index=present then) and WARDEN_BENCH_DROP_CACHES=1 empties the page cache before each Open
// (as root): start-up from a cold cache.
func BenchmarkOpen(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("WARDEN_BENCH_OPEN_ENTRIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("WARDEN_BENCH_OPEN_ENTRIES=%q: want a positive number of entries", v)
		}
	}
	var l *Log
	var dir string
	if keep := os.Getenv("WARDEN_BENCH_LOG_DIR"); keep != "" {
		// A log kept for measurements through the binary (docs/PERFORMANCE.md): built once,
		// reused (and extended to n entries) by later runs.
		l, dir = extendLog(b, keep, n, 700), keep
	} else {
		l, dir = buildLog(b, n, 700)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	for _, present := range []bool{true, false} {
		b.Run(fmt.Sprintf("entries=%d/index=%s", n, map[bool]string{true: "present", false: "absent"}[present]), func(b *testing.B) {
			var read int64
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if !present {
					idx, _ := filepath.Glob(filepath.Join(dir, "seg-*.idx"))
					for _, f := range idx {
						if err := os.Remove(f); err != nil {
							b.Fatal(err)
						}
					}
				}
				if os.Getenv("WARDEN_BENCH_DROP_CACHES") != "" {
					// Cold start-up: empty the machine's page cache (root only; Linux).
					syscall.Sync()
					if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
						b.Fatalf("WARDEN_BENCH_DROP_CACHES: %v", err)
					}
				}
				b.StartTimer()
				r0, c0 := readBytes(), cpuTime()
				l, err := Open(DefaultOptions(dir))
				read, cpu = readBytes()-r0, cpu+cpuTime()-c0
				if err != nil || l.Size() != uint64(n) {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(read)/1e6, "MB-read/open")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/open")
		})
	}
}

// readBytes is the bytes this process read through read(2) so far (Linux; 0 elsewhere).
func readBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
