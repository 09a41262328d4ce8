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

// benchWords is a vocabulary of common English words for benchText.
var benchWords = strings.Fields(`the of and to in is you that it he was for on are as with his they at be this
have from or one had by word but not what all were we when your can said there use an each which she do how
their if will up other about out many then them these so some her would make like him into time has look two
more write go see number no way could people my than first water been call who oil its now find long down day
did get come made may part over new sound take only little work know place year live me back give most very
after thing our just name good sentence man think say great where help through much before line right too mean
old any same tell boy follow came want show also around form three small set put end does another well large
must big even such because turn here why ask went men read need land different home us move try kind hand
picture again change off play spell air away animal house point page letter mother answer found study still
learn should america world report quarter team risk budget plan customer order invoice meeting project summary`)

// benchText is n bytes of varied, ordinary English-like prose (the common,
// benign case: every scanner runs to the end without early exits). It is
// not repetitive, so the model lookups see as many distinct features as
// real text does.
func benchText(n int) string {
	var b strings.Builder
	x := uint64(0x9e3779b97f4a7c15)
	next := func(k int) int {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return int(x % uint64(k))
	}
	for b.Len() < n {
		words := 6 + next(14)
		for i := range words {
			w := benchWords[next(len(benchWords))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < words-1 {
				b.WriteByte(' ')
			}
		}
		if next(5) == 0 {
			b.WriteString("? ")
		} else {
			b.WriteString(". ")
		}
	}
	return b.String()[:n]
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

// BenchmarkScanFirstStage is BenchmarkScan without the two second stages
// (injection/jailbreak structure and harmful-request structure): the first
// stage's cost, which issue 10 budgets separately (p50 ≤ 50 µs per KB) from
// the second stages' (≤ 2 ms p99 per KB; BenchmarkStage2, BenchmarkHarmStage2).
func BenchmarkScanFirstStage(b *testing.B) {
	opts := DefaultOptions()
	opts.Weights = map[string][]byte{stage2File: {}, harmStage2File: {}}
	e, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
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
