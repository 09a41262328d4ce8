package scan

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchText is ordinary English prose of n bytes (the common, benign case:
// every scanner runs to the end without early exits).
func benchText(n int) string {
	base := "Could you summarise the quarterly report for our team and list three risks we should watch next quarter? "
	return strings.Repeat(base, n/len(base)+1)[:n]
}

var benchSizes = []int{100, 1 << 10, 10 << 10, 100 << 10}

// cpuTime is the CPU time (user+system) the process has used. On a shared
// machine it is a fairer cost than wall time, which includes time spent
// waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLoop runs fn under b.Loop and reports MB/s, CPU µs per op and the
// p50/p99 wall latency per op.
func benchLoop(b *testing.B, size int, fn func()) {
	b.Helper()
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1024)
	c0 := cpuTime()
	n := 0
	for b.Loop() {
		t := time.Now()
		fn()
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t))
		}
		n++
	}
	el := b.Elapsed()
	cpu := cpuTime() - c0
	if n == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(size)*float64(n)/el.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/op")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkScan is the full default input scan (every built-in scanner).
func BenchmarkScan(b *testing.B) {
	e := newEngine(b)
	ctx := context.Background()
	for _, size := range benchSizes {
		text := benchText(size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			benchLoop(b, size, func() { _, _ = e.Scan(ctx, text, Input, Context{}) })
		})
	}
}

// BenchmarkScanner runs each built-in scanner alone on a prepared Doc; the
// per-Doc caches (learned-model scores, shared pattern matches) are cleared
// every iteration so the injection and harmful scanners each pay for them.
func BenchmarkScanner(b *testing.B) {
	e := newEngine(b)
	ctx := context.Background()
	for _, s := range e.scanners {
		for _, size := range benchSizes {
			text := benchText(size)
			d := NewDoc(text, Input, Context{})
			b.Run(s.Name()+"/"+strconv.Itoa(size), func(b *testing.B) {
				benchLoop(b, size, func() {
					d.lfor, d.mfor = nil, nil
					_, _ = s.Scan(ctx, d)
				})
			})
		}
	}
}

// BenchmarkNormalize is the shared per-text normalization step.
func BenchmarkNormalize(b *testing.B) {
	for _, size := range benchSizes {
		text := benchText(size)
		var d Doc
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			benchLoop(b, size, func() { d.reset(text, Input, Context{}) })
		})
	}
}
