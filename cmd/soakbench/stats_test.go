package main

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, tc := range []struct {
		name          string
		in            []time.Duration
		p50, p99, max time.Duration
	}{
		{"empty", nil, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"hundred", ms(hundred...), 50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond},
		{"outlier", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 900), time.Millisecond, 900 * time.Millisecond, 900 * time.Millisecond},
	} {
		in := append([]time.Duration(nil), tc.in...)
		got := summarize(in)
		if got.n != len(tc.in) || got.p50 != tc.p50 || got.p99 != tc.p99 || got.max != tc.max {
			t.Errorf("%s: %+v, want n=%d p50=%s p99=%s max=%s", tc.name, got, len(tc.in), tc.p50, tc.p99, tc.max)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("%s: summarize reordered its input", tc.name)
			}
		}
	}
}

// TestFinishFreezes: the result of a phase does not change when its stats are written later.
func TestFinishFreezes(t *testing.T) {
	st := newStats()
	st.add(kindIngest, 202, 10*time.Millisecond, kindIngest, []string{"a"})
	st.add(kindGateway, 200, 30*time.Millisecond, kindGateway, nil)
	st.add("ingest-bad", 400, time.Second, "", nil)
	r := st.finish("baseline", time.Second)
	st.add(kindIngest, 202, time.Hour, kindIngest, nil)
	if r.lat[kindIngest].p99 != 10*time.Millisecond || r.lat[kindGateway].p99 != 30*time.Millisecond || r.lat["all"].p99 != 30*time.Millisecond {
		t.Fatalf("latencies %+v", r.lat)
	}
	if r.gwOK != 1 || len(r.acked) != 1 || r.status["ingest-bad 400"] != 1 {
		t.Fatalf("counts %+v", r)
	}
}

func TestMetric(t *testing.T) {
	expo := "# HELP warden_audit_tree_size x\n# TYPE warden_audit_tree_size gauge\nwarden_audit_tree_size 1.234567e+06\n" +
		"warden_audit_tree_size_other 5\nwarden_index_lag_entries{x=\"y\"} 3\nwarden_index_lag_entries 0\n"
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{
		{"warden_audit_tree_size", 1234567, true},
		{"warden_index_lag_entries", 0, true},
		{"warden_missing", 0, false},
	} {
		got, ok := metric(expo, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNoteSlowKeepsTheSlowest(t *testing.T) {
	st := newStats()
	for i := range 100 {
		d := time.Duration((i*37)%100) * time.Millisecond // every value 0..99 once, shuffled
		st.add(kindIngest, 202, d, kindIngest, nil)
	}
	r := st.finish("x", time.Second)
	if len(r.slow) != maxSlow {
		t.Fatalf("%d slow requests kept", len(r.slow))
	}
	for i, s := range r.slow {
		if want := time.Duration(99-i) * time.Millisecond; s.d != want {
			t.Fatalf("slow[%d] = %s, want %s", i, s.d, want)
		}
	}
}

func TestFsyncStats(t *testing.T) {
	expo := `warden_audit_fsync_seconds_bucket{le="0.0512"} 90
warden_audit_fsync_seconds_bucket{le="0.1024"} 95
warden_audit_fsync_seconds_bucket{le="0.8192"} 99
warden_audit_fsync_seconds_bucket{le="+Inf"} 100
warden_audit_fsync_seconds_sum 5
warden_audit_fsync_seconds_count 100
`
	got := fsyncStats(expo).minus(fsyncs{n: 50, sum: 1, over100ms: 1})
	if want := (fsyncs{n: 50, sum: 4, over100ms: 4, over800ms: 1}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
