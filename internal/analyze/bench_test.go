package analyze

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// benchEvents makes n events spread over models × consumers, 10 µs apart.
func benchEvents(n, models, consumers int) []*event.Event {
	gens := make([]*gen, models)
	for i := range gens {
		gens[i] = newGen(uint64(i), fmt.Sprintf("model-%03d", i))
	}
	evs := make([]*event.Event, n)
	for i := range evs {
		ev := gens[i%models].next()
		ev.Actor.Consumer = fmt.Sprintf("consumer-%04d", (i/models)%consumers)
		ev.Time = t0.Add(time.Duration(i) * 10 * time.Microsecond)
		evs[i] = ev
	}
	return evs
}

// BenchmarkObserve measures the hot path with 100 models × 1000
// consumers tracked, every model past its baseline (drift windows
// active, evaluated every 1000 events per model inside Observe).
func BenchmarkObserve(b *testing.B) {
	a, _ := newTestAnalyzer(b, nil)
	const models, consumers = 100, 1000
	warm := benchEvents(200_000, models, consumers)
	for _, ev := range warm {
		a.Observe(ev, nil)
	}
	if len(a.models) != models || len(a.consumers) != consumers {
		b.Fatalf("tracked %d models, %d consumers", len(a.models), len(a.consumers))
	}
	evs := benchEvents(100_000, models, consumers)
	findings := []Finding{{Category: "pii", Score: 0.7}}
	shift := warm[len(warm)-1].Time.Sub(t0) + time.Second
	for _, ev := range evs {
		ev.Time = ev.Time.Add(shift)
	}
	i := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		a.Observe(evs[i%len(evs)], findings)
		i++
	}
	// CPU time (user + system, all threads, GC included) is reported
	// beside wall time because the benchmark machine is shared.
	cpuPerOp := float64(cpuTime()-cpu0) / float64(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(cpuPerOp, "cpu-ns/op")
	b.ReportMetric(1e9/cpuPerOp, "events/cpu-s")
}

// BenchmarkDriftEvaluation evaluates all features of one model against
// its baseline (window of 1000 events).
func BenchmarkDriftEvaluation(b *testing.B) {
	a, _ := newTestAnalyzer(b, func(o *Options) { o.DriftWindowEvents = 1_000_000 })
	g := newGen(1, "m")
	for range 2000 {
		a.Observe(g.next(), nil)
	}
	m := a.models["m"]
	v := m.Versions["v1"]
	w := v.Window
	if w == nil || w.N != 1000 {
		b.Fatalf("window %+v", w)
	}
	v.Window = w
	a.evaluate(m, v, g.t, nil) // warm the Wasserstein rule cache
	b.ReportMetric(float64(len(v.active().Features)), "features")
	for b.Loop() {
		v.Window = w
		a.evaluate(m, v, g.t, nil)
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkMemoryPerModel reports the heap held per tracked model past
// its baseline (live windows, baseline, drift window).
func BenchmarkMemoryPerModel(b *testing.B) {
	for b.Loop() {
		const models = 100
		gens := make([]*gen, models)
		for i := range gens {
			gens[i] = newGen(uint64(i), fmt.Sprintf("model-%03d", i))
		}
		before := heapInUse()
		a, _ := newTestAnalyzer(b, nil)
		for range 1500 {
			for _, g := range gens {
				ev := g.next()
				ev.Actor.Consumer = "c"
				a.Observe(ev, nil)
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/models, "bytes/model")
		runtime.KeepAlive(a)
	}
}

// BenchmarkMemoryPerConsumer reports the heap held per tracked consumer
// (hour-of-week history, model × consumer pair).
func BenchmarkMemoryPerConsumer(b *testing.B) {
	for b.Loop() {
		const consumers = 10000
		a, _ := newTestAnalyzer(b, nil)
		g := newGen(1, "m")
		a.Observe(g.next(), nil)
		evs := make([]*event.Event, consumers)
		for i := range evs {
			evs[i] = g.next()
			evs[i].Actor.Consumer = fmt.Sprintf("consumer-%05d", i)
		}
		before := heapInUse()
		for _, ev := range evs {
			a.Observe(ev, nil)
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/consumers, "bytes/consumer")
		runtime.KeepAlive(a)
		runtime.KeepAlive(evs)
	}
}

// BenchmarkTick is the cost of one periodic evaluation over models that all have a frozen
// baseline and live 5-minute windows: Tick (every model; the worker's idle cadence, once a
// second) and TickActive after one model had an event (what the worker runs at most every
// 200 ms while events arrive, worker.Options.TickAfter).
func BenchmarkTick(b *testing.B) {
	for _, models := range []int{10, 100, 1000} {
		a, _ := newTestAnalyzer(b, nil)
		var last time.Time
		gens := make([]*gen, models)
		for i := range models {
			gens[i] = newGen(uint64(i), fmt.Sprintf("model-%04d", i))
			for range 1100 { // past the 1000-event automatic baseline
				ev := gens[i].next()
				a.Observe(ev, nil)
				last = ev.Time
			}
		}
		now := last.Add(time.Second)
		b.Run(fmt.Sprintf("all/models=%d", models), func(b *testing.B) {
			for b.Loop() {
				now = now.Add(200 * time.Millisecond)
				a.Tick(now)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(models), "µs/model")
		})
		b.Run(fmt.Sprintf("active=1/models=%d", models), func(b *testing.B) {
			g := gens[0]
			for b.Loop() {
				now = now.Add(200 * time.Millisecond)
				ev := g.next()
				ev.Time = now
				a.Observe(ev, nil)
				a.TickActive(now)
			}
		})
	}
}
