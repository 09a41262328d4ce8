package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Valid request kinds: one per listener.
const (
	kindIngest  = "ingest"
	kindGateway = "gateway"
)

// stats collects the outcome of one phase while it runs.
type stats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration // valid requests by listener kind
	slow   []slowReq                  // the slowest valid requests (up to maxSlow)
	window []time.Duration            // valid requests since the last takeWindow
	status map[string]int             // "kind status" → count
	acked  []string                   // event ids answered 202
	gwOK   int                        // valid gateway requests answered 200
}

func newStats() *stats {
	return &stats{lat: map[string][]time.Duration{}, status: map[string]int{}}
}

// add records one answer. Only valid requests carry a latency kind; junk passes "".
func (s *stats) add(kind string, code int, d time.Duration, validKind string, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[kind+" "+strconv.Itoa(code)]++
	if validKind != "" {
		s.lat[validKind] = append(s.lat[validKind], d)
		s.noteSlow(slowReq{at: time.Now().Add(-d), kind: validKind, d: d})
		s.window = append(s.window, d)
		if validKind == kindGateway && code == 200 {
			s.gwOK++
		}
	}
	s.acked = append(s.acked, ids...)
}

// takeWindow returns the latencies of the valid requests answered since the last call.
func (s *stats) takeWindow() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window
	s.window = nil
	return w
}

// slowReq is one slow valid request: when it was sent, to which listener, how long it took.
type slowReq struct {
	at   time.Time
	kind string
	d    time.Duration
}

const maxSlow = 10

// noteSlow keeps the maxSlow slowest requests; s.mu is held.
func (s *stats) noteSlow(r slowReq) {
	if len(s.slow) == maxSlow && r.d <= s.slow[len(s.slow)-1].d {
		return
	}
	i, _ := slices.BinarySearchFunc(s.slow, r, func(a, b slowReq) int { return int(b.d - a.d) })
	s.slow = slices.Insert(s.slow, i, r)
	if len(s.slow) > maxSlow {
		s.slow = s.slow[:maxSlow]
	}
}

// latency summarises the latencies of one kind of valid request in one phase.
type latency struct {
	n             int
	p50, p99, max time.Duration
}

// summarize computes the percentiles of l (nearest rank). It is called once per phase, after
// every request of the phase has been answered, and the result is what gets reported.
func summarize(l []time.Duration) latency {
	if len(l) == 0 {
		return latency{}
	}
	l = slices.Clone(l)
	slices.Sort(l)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(l)))) - 1
		return l[max(0, min(i, len(l)-1))]
	}
	return latency{n: len(l), p50: rank(0.50), p99: rank(0.99), max: l[len(l)-1]}
}

// result is a finished phase: counts and latencies frozen when the phase ended.
type result struct {
	name      string
	took      time.Duration
	start     time.Time
	status    map[string]int
	lat       map[string]latency // kindIngest, kindGateway, "all"
	acked     []string
	gwOK      int
	serverCPU time.Duration // warden's user+system CPU during the phase
	genCPU    time.Duration // the valid clients' (this process)
	junkCPU   time.Duration // the junk process's
	simCPU    time.Duration // the simulated upstream's
	slow      []slowReq     // the slowest valid requests, slowest first
	gcs       int           // warden's GC cycles
	fsync     fsyncs        // the audit log's fsyncs during the phase
	readyBad  int           // unauthenticated /readyz polls that were not 200
	readyN    int
}

// finish freezes st into a result; st must no longer be written to.
func (s *stats) finish(name string, took time.Duration) *result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &result{name: name, took: took, status: s.status, acked: s.acked, gwOK: s.gwOK, lat: map[string]latency{}, slow: s.slow}
	var all []time.Duration
	for k, l := range s.lat {
		r.lat[k] = summarize(l)
		all = append(all, l...)
	}
	r.lat["all"] = summarize(all)
	return r
}

func (r *result) printStatus() {
	keys := make([]string, 0, len(r.status))
	for k := range r.status {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("  %-24s %9d  (%.1f/s)\n", k, r.status[k], float64(r.status[k])/r.took.Seconds())
	}
}

// rss returns the resident set size of process pid, or -1.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// cpuTime returns the user+system CPU time process pid has used (Linux clock ticks at 100 Hz).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// selfCPU returns the user+system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadavg returns /proc/loadavg's first three fields.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// metric returns the value of an unlabelled sample in a Prometheus text exposition.
func metric(expo, name string) (float64, bool) {
	for line := range strings.SplitSeq(expo, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// fsyncs summarises warden_audit_fsync_seconds: how many batches were fsynced, their total
// time, and how many took longer than 0.1 s and 0.8 s (bucket bounds of the histogram).
type fsyncs struct {
	n, sum, over100ms, over800ms float64
}

func fsyncStats(expo string) fsyncs {
	var f fsyncs
	var le100, le800 float64
	f.n, _ = metric(expo, "warden_audit_fsync_seconds_count")
	f.sum, _ = metric(expo, "warden_audit_fsync_seconds_sum")
	le100, _ = metric(expo, `warden_audit_fsync_seconds_bucket{le="0.1024"}`)
	le800, _ = metric(expo, `warden_audit_fsync_seconds_bucket{le="0.8192"}`)
	f.over100ms, f.over800ms = f.n-le100, f.n-le800
	return f
}

func (f fsyncs) minus(g fsyncs) fsyncs {
	return fsyncs{f.n - g.n, f.sum - g.sum, f.over100ms - g.over100ms, f.over800ms - g.over800ms}
}

func (f fsyncs) String() string {
	mean := 0.0
	if f.n > 0 {
		mean = f.sum / f.n * 1000
	}
	return fmt.Sprintf("%.0f fsyncs, mean %.1f ms, %.0f over 0.1 s, %.0f over 0.8 s", f.n, mean, f.over100ms, f.over800ms)
}
