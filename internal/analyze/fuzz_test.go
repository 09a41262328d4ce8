package analyze

import (
	"bytes"
	"testing"
)

// FuzzRestore feeds arbitrary snapshot bytes to Restore: it must fail
// cleanly or leave a usable analyzer.
func FuzzRestore(f *testing.F) {
	a, _ := newTestAnalyzer(f, func(o *Options) {
		o.BaselineEvents = 300
		o.BaselineMinEvents = 100
		o.DriftMinWindow = 100
		o.DriftWindowEvents = 200
	})
	g := newGen(1, "m")
	for range 450 {
		a.Observe(g.next(), []Finding{{Category: "pii", Score: 0.5}})
	}
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"version":1,"models":{"x":{"series":{"a":{"windows":[null]}},"versions":{"v":{"window":{"n":3}}}}}}`))
	f.Add([]byte(`{"version":1,"models":{"x":{"versions":{"v":{"active":"b","baselines":[{"id":"b","features":{"f":{"kind":1,"profile":{"kind":1,"bins":[1]}}}}]}}}}}`))
	f.Add([]byte(`{"version":1,"pending":[{"id":"r","p":{"model":"m","groups":["a"]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, _ := newTestAnalyzer(t, func(o *Options) {
			o.BaselineEvents = 300
			o.BaselineMinEvents = 100
			o.DriftMinWindow = 100
			o.DriftWindowEvents = 200
			o.Protected = []string{"g"}
		})
		if err := x.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		g := newGen(2, "m")
		for range 250 {
			ev := g.next()
			x.Observe(ev, nil)
			x.Observe(feedbackFor(ev), nil)
		}
		x.Tick(g.t.Add(2 * 3600e9))
		x.ModelDrift("m")
		x.ModelMetrics("m")
		x.Baselines("m")
		var out bytes.Buffer
		if err := x.Snapshot(&out); err != nil {
			t.Fatalf("snapshot after restore: %v", err)
		}
	})
}
