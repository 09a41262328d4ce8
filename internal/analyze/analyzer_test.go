package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

// gen produces classic-ML inference events for one model.
type gen struct {
	r     *rand.Rand
	model string
	seq   int
	t     time.Time
	shift float64 // added to features.amount
}

func newGen(seed uint64, model string) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, 7)), model: model, t: t0}
}

func (g *gen) next() *event.Event {
	g.seq++
	g.t = g.t.Add(100 * time.Millisecond)
	lat := math.Exp(3 + 0.4*g.r.NormFloat64())
	in := int64(50 + g.r.IntN(50))
	out := int64(100 + g.r.IntN(100))
	cost := 0.001
	country := []string{"us", "us", "de", "fr"}[g.r.IntN(4)]
	amount := 100 + 15*g.r.NormFloat64() + g.shift
	pred := "deny"
	if amount+10*g.r.NormFloat64() < 110 {
		pred = "approve"
	}
	status := "ok"
	return &event.Event{
		ID: fmt.Sprintf("ev-%s-%d", g.model, g.seq), Type: event.TypeInference, Time: g.t, Environment: "prod",
		Model: event.Model{Name: g.model, Version: "v1"},
		Actor: event.Actor{Consumer: fmt.Sprintf("app-%d", g.r.IntN(3))},
		Request: &event.Request{ID: fmt.Sprintf("req-%s-%d", g.model, g.seq), InputChars: 200 + g.r.IntN(40), InputTokens: &in,
			Features: map[string]any{"amount": amount, "country": country}},
		Response: &event.Response{Status: status, OutputTokens: &out, LatencyMS: &lat, Prediction: pred},
		CostUSD:  &cost,
	}
}

func newTestAnalyzer(t testing.TB, mod func(*Options)) (*Analyzer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := DefaultOptions()
	o.Registerer = reg
	o.Now = func() time.Time { return t0 }
	if mod != nil {
		mod(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a, reg
}

func kinds(ds []Detection) []string {
	var k []string
	for _, d := range ds {
		k = append(k, d.Kind+":"+d.Feature)
	}
	return k
}

// TestDriftScenario: stable traffic builds a baseline, unchanged traffic
// raises nothing, a shifted input feature is named within one window.
func TestDriftScenario(t *testing.T) {
	a, reg := newTestAnalyzer(t, nil)
	g := newGen(1, "credit")
	var got []Detection
	for range 1000 {
		got = append(got, a.Observe(g.next(), nil)...)
	}
	if len(got) != 1 || got[0].Kind != KindBaseline || !strings.HasPrefix(got[0].BaselineID, "bl-credit-v1-") {
		t.Fatalf("after 1000 events: %v", kinds(got))
	}
	// Unchanged traffic: two full windows, no drift.
	got = nil
	for range 2000 {
		got = append(got, a.Observe(g.next(), nil)...)
	}
	if len(got) != 0 {
		for _, d := range got {
			t.Errorf("unchanged traffic: %s", d.Message)
		}
	}
	d, ok := a.ModelDrift("credit")
	if !ok || len(d.Versions) != 1 || d.Versions[0].Last == nil || len(d.Versions[0].Last.Features) < 5 {
		t.Fatalf("drift view: %+v", d)
	}
	// Below the minimum window nothing is judged even if shifted.
	g.shift = 30
	for range 499 {
		got = append(got, a.Observe(g.next(), nil)...)
	}
	got = append(got, a.Tick(g.t.Add(2*time.Hour))...)
	if len(got) != 0 {
		t.Fatalf("judged below the minimum window: %v", kinds(got))
	}
	for range 501 {
		got = append(got, a.Observe(g.next(), nil)...)
	}
	conforms(t, got)
	var amount *Detection
	for i := range got {
		if got[i].Feature == "features.amount" && got[i].Kind == KindDrift {
			amount = &got[i]
		}
		if got[i].Feature == "features.country" || got[i].Feature == FeatLatency {
			t.Errorf("unshifted feature reported: %s", got[i].Message)
		}
	}
	if amount == nil {
		t.Fatalf("shift not detected within one window: %v", kinds(got))
	}
	if amount.Statistic == "" || amount.Threshold == 0 || amount.BaselineID == "" || !strings.Contains(amount.Windows, "vs current") {
		t.Errorf("detection lacks statistic/threshold/windows: %+v", amount)
	}
	if amount.Values["psi"] <= 0.2 || amount.Values["ks_d"] <= 0.1 {
		t.Errorf("values %v", amount.Values)
	}
	// The prediction depends on amount: prediction drift too.
	if !slices.ContainsFunc(got, func(d Detection) bool { return d.Kind == KindPredictionDrift }) {
		t.Errorf("no prediction drift: %v", kinds(got))
	}
	if n := metricSum(t, reg, "warden_analyze_detections_total"); n < 2 {
		t.Errorf("detections metric = %v", n)
	}
	b, err := json.Marshal(d)
	if err != nil || !bytes.Contains(b, []byte(`"psi"`)) {
		t.Errorf("drift JSON: %v %s", err, b)
	}
}

func TestLiveMetricsAndLabels(t *testing.T) {
	a, _ := newTestAnalyzer(t, nil)
	g := newGen(2, "m")
	var lat []float64
	for i := range 300 {
		ev := g.next()
		if i%10 == 0 {
			ev.Response.Status = "error"
		}
		lat = append(lat, *ev.Response.LatencyMS)
		f := []Finding{}
		if i%4 == 0 {
			f = append(f, Finding{Category: "pii", Score: 0.9}, Finding{Category: "pii", Score: 0.8})
		}
		a.Observe(ev, f)
		// Feedback: label equals prediction 3 times out of 4.
		label := ev.Response.Prediction
		if i%4 == 3 {
			label = "other"
		}
		rating := 1
		if i%5 == 0 {
			rating = -1
		}
		a.Observe(&event.Event{Type: event.TypeFeedback, Time: ev.Time, RequestID: ev.Request.ID, Label: label, Rating: &rating}, nil)
	}
	now := g.t
	a.opts.Now = func() time.Time { return now }
	mm, ok := a.ModelMetrics("m")
	if !ok || len(mm.Series) != 1 {
		t.Fatalf("metrics: %+v", mm)
	}
	var w5 WindowMetrics
	for _, w := range mm.Series[0].Windows {
		if w.Window == "5m" {
			w5 = w
		}
	}
	if w5.Requests != 300 || *w5.ErrorRate != 0.1 || *w5.Accuracy != 0.75 || w5.Labeled != 300 {
		t.Errorf("5m window: requests %v error %v accuracy %v labeled %v", w5.Requests, *w5.ErrorRate, *w5.Accuracy, w5.Labeled)
	}
	if r := w5.TriggerRates["pii"]; r != 0.25 {
		t.Errorf("pii trigger rate %v", r)
	}
	if *w5.ThumbsRatio != 0.8 {
		t.Errorf("thumbs %v", *w5.ThumbsRatio)
	}
	slices.Sort(lat)
	want := lat[int(0.95*float64(len(lat)-1))]
	if math.Abs(*w5.LatencyP95-want) > 0.011*want {
		t.Errorf("p95 %v, want %v ±1%%", *w5.LatencyP95, want)
	}
	if w5.CostUSD < 0.2999 || w5.CostUSD > 0.3001 {
		t.Errorf("cost %v", w5.CostUSD)
	}
	// The 1m window only holds the last minute (30 s of traffic here).
	if w1 := mm.Series[0].Windows[0]; w1.Requests == 0 || w1.Requests > 300 {
		t.Errorf("1m window %v", w1.Requests)
	}
	if _, err := json.Marshal(mm); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.ModelMetrics("nope"); ok {
		t.Error("unknown model reported")
	}
}

func TestSetBaselineAndSnapshot(t *testing.T) {
	a, _ := newTestAnalyzer(t, func(o *Options) { o.BaselineEvents = 100000 })
	g := newGen(3, "m")
	var evs []*event.Event
	for range 800 {
		evs = append(evs, g.next())
	}
	from, to := evs[0].Time, evs[len(evs)-1].Time.Add(time.Nanosecond)
	id, err := a.SetBaseline("m", from, to, slices.Values(evs))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetBaseline("m", to, to.Add(time.Hour), slices.Values(evs)); err == nil {
		t.Error("empty window accepted")
	}
	infos := a.Baselines("m")
	if len(infos) != 1 || infos[0].ID != id || !infos[0].Active || infos[0].Source != "explicit" || infos[0].Events != 800 {
		t.Fatalf("baselines %+v", infos)
	}
	id2, _ := a.SetBaseline("m", from, to, slices.Values(evs))
	if infos = a.Baselines("m"); len(infos) != 2 || infos[0].Active || !infos[1].Active || infos[1].ID != id2 {
		t.Fatalf("versioned baselines %+v", infos)
	}
	// Half a window, snapshot, restore into a fresh analyzer, finish the
	// window in both: identical detections.
	g.shift = 25
	for range 500 {
		a.Observe(g.next(), nil)
	}
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	b, _ := newTestAnalyzer(t, nil)
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !b.LastEventTime().Equal(a.LastEventTime()) {
		t.Errorf("last event %v vs %v", b.LastEventTime(), a.LastEventTime())
	}
	var da, db []Detection
	for range 500 {
		ev := g.next()
		da = append(da, a.Observe(ev, nil)...)
		db = append(db, b.Observe(ev, nil)...)
	}
	ja, _ := json.Marshal(da)
	jb, _ := json.Marshal(db)
	if len(da) == 0 || !bytes.Equal(ja, jb) {
		t.Errorf("after restore detections differ or are empty:\n%s\n%s", ja, jb)
	}
	if err := b.Restore(strings.NewReader(`{"version":9}`)); err == nil {
		t.Error("bad version accepted")
	}
	if len(b.Baselines("m")) != 2 {
		t.Error("failed restore changed state")
	}
}

func TestUsageDetections(t *testing.T) {
	inventory := map[string]bool{"known": true}
	a, _ := newTestAnalyzer(t, func(o *Options) {
		o.Inventory = func(m string) (string, bool) { return "high", inventory[m] }
		o.KnownConsumer = func(c string) bool { return c != "rogue" }
		o.BaselineEvents = 200
		o.BaselineMinEvents = 100
	})
	mk := func(model, consumer string, t time.Time, cost float64) *event.Event {
		lat := 10.0
		return &event.Event{Type: event.TypeInference, Time: t, Model: event.Model{Name: model, Version: "1"},
			Actor: event.Actor{Consumer: consumer}, Request: &event.Request{InputChars: 10},
			Response: &event.Response{Status: "ok", LatencyMS: &lat}, CostUSD: &cost}
	}
	d := a.Observe(mk("shadow", "app", t0, 0), nil)
	if len(d) != 1 || d[0].Kind != KindShadowAI || d[0].Statistic != "model_not_in_inventory" {
		t.Fatalf("shadow model: %v", kinds(d))
	}
	if d = a.Observe(mk("shadow", "app", t0.Add(time.Second), 0), nil); len(d) != 0 {
		t.Errorf("shadow repeated the same day: %v", kinds(d))
	}
	if d = a.Observe(mk("known", "rogue", t0, 0), nil); len(d) != 1 || d[0].Statistic != "unregistered_consumer" {
		t.Errorf("rogue consumer: %v", kinds(d))
	}
	// Three weeks of steady hourly volume and daily cost, then a spike.
	tt := t0.Add(-21 * 24 * time.Hour)
	for h := range 21 * 24 {
		for i := range 30 {
			a.Observe(mk("known", "app", tt.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Minute), 0.01), nil)
		}
		a.Tick(tt.Add(time.Duration(h)*time.Hour + 59*time.Minute))
	}
	if d = a.Observe(mk("known", "newapp", t0, 0), nil); len(d) != 1 || d[0].Kind != KindNewConsumer {
		t.Errorf("new consumer after baseline: %v", kinds(d))
	}
	var spike []Detection
	for i := range 300 {
		a.Observe(mk("known", "app", t0.Add(time.Duration(i)*time.Second), 0.05), nil)
	}
	spike = a.Tick(t0.Add(5 * time.Minute))
	conforms(t, spike)
	var vol, cost bool
	for _, x := range spike {
		vol = vol || x.Kind == KindVolume && x.Model == "known" && x.Value > 4
		cost = cost || x.Kind == KindCostSpike && x.Value > 1.5
	}
	if !vol || !cost {
		t.Errorf("spike detections: %v", kinds(spike))
	}
	if again := a.Tick(t0.Add(6 * time.Minute)); slices.ContainsFunc(again, func(d Detection) bool { return d.Kind == KindVolume && d.Model == "known" }) {
		t.Errorf("volume spike repeated within the hour")
	}
	// The next hours and the next day are ordinary again: the spike and the cost recover.
	var rec []Detection
	for h := 1; h <= 24; h++ {
		for i := range 30 {
			a.Observe(mk("known", "app", t0.Add(time.Duration(h)*time.Hour+time.Duration(i)*time.Minute), 0.01), nil)
		}
		rec = append(rec, a.Tick(t0.Add(time.Duration(h)*time.Hour+59*time.Minute))...)
	}
	conforms(t, rec)
	n := map[string]int{}
	for _, x := range rec {
		if x.Recovered && x.Model == "known" {
			n[x.Kind]++
		}
	}
	if n[KindVolume] != 1 || n[KindCostSpike] != 1 {
		t.Errorf("recoveries %v in %v", n, kinds(rec))
	}
}

// TestCardinalityLimits: at their caps the model and consumer tables evict the least recently
// seen entry and never a registered one, so 1,000 junk names (issue 12, finding 3) cannot hide
// a real model's metrics; unregistered newcomers are refused only when everything tracked is
// registered; predictions awaiting labels are capped too.
func TestCardinalityLimits(t *testing.T) {
	seq := 0
	obs := func(a *Analyzer, model, consumer string) {
		g := newGen(1, model)
		seq++
		g.seq = seq
		ev := g.next()
		ev.Actor.Consumer = consumer
		a.Observe(ev, nil)
	}
	registered := func(names ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(names, n) }
	}
	tests := []struct {
		name      string
		inventory []string
		consumers []string
		maxModels int
		models    []string // observed in order (consumer = "c-" + model unless listed in consumers)
		tracked   []string
		untracked []string
		dropped   map[string]uint64
	}{
		{name: "junk floods do not evict a registered model", inventory: []string{"real"}, maxModels: 2,
			models:  []string{"real", "j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9"},
			tracked: []string{"real", "j9"}, untracked: []string{"j0", "j8"}, dropped: map[string]uint64{"model_evicted": 9}},
		{name: "least recently seen goes first", maxModels: 2,
			models:  []string{"a", "b", "a", "c"},
			tracked: []string{"a", "c"}, untracked: []string{"b"}, dropped: map[string]uint64{"model_evicted": 1}},
		{name: "registered models are never refused", inventory: []string{"r1", "r2", "r3"}, maxModels: 2,
			models:  []string{"r1", "r2", "r3", "x"},
			tracked: []string{"r1", "r2", "r3"}, untracked: []string{"x"}, dropped: map[string]uint64{"model": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestAnalyzer(t, func(o *Options) {
				o.MaxModels = tt.maxModels
				o.Inventory = func(m string) (string, bool) { return "medium", registered(tt.inventory...)(m) }
			})
			for _, m := range tt.models {
				obs(a, m, "")
			}
			for _, m := range tt.tracked {
				if _, ok := a.ModelMetrics(m); !ok {
					t.Errorf("model %s not tracked", m)
				}
			}
			for _, m := range tt.untracked {
				if _, ok := a.ModelMetrics(m); ok {
					t.Errorf("model %s still tracked", m)
				}
			}
			if dr := a.Dropped(); !maps.Equal(dr, tt.dropped) {
				t.Errorf("dropped %v, want %v", dr, tt.dropped)
			}
		})
	}

	// Consumers: a registered consumer survives a flood of unregistered ones; the snapshot keeps
	// the order, so after a restore the oldest unregistered consumer still goes first.
	a, reg := newTestAnalyzer(t, func(o *Options) {
		o.MaxConsumers = 3
		o.MaxPending = 4
		o.KnownConsumer = registered("alice")
	})
	obs(a, "m", "alice")
	for i := range 10 {
		obs(a, "m", fmt.Sprintf("x%d", i))
	}
	obs(a, "m", "x8")
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	b, _ := newTestAnalyzer(t, func(o *Options) { o.MaxConsumers = 3; o.KnownConsumer = registered("alice") })
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	obs(b, "m", "y")
	for _, an := range []*Analyzer{a, b} {
		an.mu.Lock()
		got := an.consumerLRU.Keys()
		an.mu.Unlock()
		want := []string{"alice", "x9", "x8"}
		if an == b {
			want = []string{"alice", "x8", "y"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("consumers %v, want %v", got, want)
		}
	}
	if dr := a.Dropped(); dr["consumer_evicted"] != 8 || dr["pending_label"] == 0 {
		t.Errorf("dropped %v", dr)
	}
	if n := metricSum(t, reg, "warden_analyze_dropped_total"); n < 9 {
		t.Errorf("dropped metric total %v", n)
	}
}

func TestFairnessDetection(t *testing.T) {
	a, _ := newTestAnalyzer(t, func(o *Options) {
		o.Protected = []string{"gender"}
		o.Privileged = map[string]string{"gender": "m"}
		o.FairnessMinEvents = 100
		o.DriftWindowEvents = 1000
	})
	r := rand.New(rand.NewPCG(4, 4))
	tt := t0
	for i := range 400 {
		tt = tt.Add(time.Second)
		grp := "m"
		p := 0.5
		if i%2 == 1 {
			grp, p = "f", 0.25
		}
		pred := 0.0
		if r.Float64() < p {
			pred = 1
		}
		conf := 0.9
		ev := &event.Event{ID: fmt.Sprint(i), Type: event.TypeInference, Time: tt, Model: event.Model{Name: "loan"},
			Attributes: map[string]any{"gender": grp}, Request: &event.Request{ID: fmt.Sprint("r", i)},
			Response: &event.Response{Prediction: pred, Confidence: &conf}}
		a.Observe(ev, nil)
		a.Observe(&event.Event{Type: event.TypeFeedback, Time: tt, RequestID: fmt.Sprint("r", i), Label: pred}, nil)
	}
	d := a.Tick(tt.Add(2 * time.Hour))
	conforms(t, d)
	var di *Detection
	for i := range d {
		if d[i].Kind == KindFairness && d[i].Statistic == "disparate_impact" {
			di = &d[i]
		}
	}
	if di == nil || di.Feature != "gender" || di.Value >= 0.8 {
		t.Fatalf("fairness: %v", kinds(d))
	}
	md, _ := a.ModelDrift("loan")
	if len(md.Fairness) != 1 || md.Fairness[0].Privileged != "m" {
		t.Errorf("fairness view %+v", md.Fairness)
	}
	if _, err := json.Marshal(md); err != nil {
		t.Fatal(err)
	}
	// A fair window next (both groups selected at 0.5): disparate impact recovers.
	for i := range 400 {
		tt = tt.Add(time.Second)
		grp := []string{"m", "f"}[i%2]
		pred := 0.0
		if r.Float64() < 0.5 {
			pred = 1
		}
		conf := 0.9
		id := fmt.Sprint("b", i)
		a.Observe(&event.Event{ID: id, Type: event.TypeInference, Time: tt, Model: event.Model{Name: "loan"},
			Attributes: map[string]any{"gender": grp}, Request: &event.Request{ID: "r" + id},
			Response: &event.Response{Prediction: pred, Confidence: &conf}}, nil)
		a.Observe(&event.Event{Type: event.TypeFeedback, Time: tt, RequestID: "r" + id, Label: pred}, nil)
	}
	d = a.Tick(tt.Add(2 * time.Hour))
	conforms(t, d)
	if !slices.ContainsFunc(d, func(x Detection) bool {
		return x.Kind == KindFairness && x.Recovered && x.Statistic == "disparate_impact" && x.Feature == "gender" && x.Value >= 0.8
	}) {
		t.Errorf("disparate impact did not recover: %+v", d)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, mod := range []func(*Options){
		func(o *Options) { o.BaselineMinEvents = 5000 },
		func(o *Options) { o.DriftMinWindow = 5000 },
		func(o *Options) { o.CostSpikeRatio = 0.5 },
		func(o *Options) { o.MaxModels = -1 },
	} {
		o := DefaultOptions()
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
}

// metricSum adds up the counter values of one metric family.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func feedbackFor(ev *event.Event) *event.Event {
	return &event.Event{Type: event.TypeFeedback, Time: ev.Time, RequestID: ev.Request.ID, Label: ev.Response.Prediction}
}

// TestConcurrentUse exercises every entry point from several goroutines
// (run with -race).
func TestConcurrentUse(t *testing.T) {
	a, _ := newTestAnalyzer(t, func(o *Options) {
		o.BaselineEvents = 300
		o.BaselineMinEvents = 100
		o.DriftMinWindow = 100
		o.DriftWindowEvents = 200
	})
	done := make(chan struct{})
	for w := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			g := newGen(uint64(w), fmt.Sprintf("m%d", w%2))
			for i := range 1500 {
				ev := g.next()
				a.Observe(ev, []Finding{{Category: "pii", Score: 0.4}})
				a.Observe(feedbackFor(ev), nil)
				if i%300 == 0 {
					a.Tick(ev.Time)
					var buf bytes.Buffer
					if err := a.Snapshot(&buf); err != nil {
						t.Error(err)
					}
					a.ModelDrift("m0")
					a.ModelMetrics("m1")
					a.Baselines("m0")
				}
			}
		}()
	}
	for range 3 {
		<-done
	}
	if len(a.Baselines("m0")) == 0 {
		t.Error("no baseline after concurrent traffic")
	}
}

func TestConceptDriftAndOps(t *testing.T) {
	a, _ := newTestAnalyzer(t, nil)
	g := newGen(5, "m")
	r := rand.New(rand.NewPCG(9, 9))
	feed := func(n int, acc float64, errRate float64, latMul float64) []Detection {
		var out []Detection
		for range n {
			ev := g.next()
			if r.Float64() < errRate {
				ev.Response.Status = "error"
			}
			*ev.Response.LatencyMS *= latMul
			out = append(out, a.Observe(ev, nil)...)
			label := ev.Response.Prediction
			if r.Float64() > acc {
				label = "wrong"
			}
			a.Observe(&event.Event{Type: event.TypeFeedback, Time: ev.Time, RequestID: ev.Request.ID, Label: label}, nil)
		}
		return out
	}
	feed(1000, 0.9, 0, 1)
	if infos := a.Baselines("m"); len(infos) != 1 || infos[0].Accuracy == nil || *infos[0].Accuracy < 0.85 {
		t.Fatalf("baseline accuracy: %+v", infos)
	}
	got := feed(1000, 0.6, 0, 1)
	conforms(t, got)
	var concept *Detection
	for i := range got {
		if got[i].Kind == KindConceptDrift {
			concept = &got[i]
		}
	}
	if concept == nil || concept.Value > 0.7 || concept.Values["baseline_accuracy"] < 0.85 {
		t.Fatalf("concept drift: %v", kinds(got))
	}
	// 20% errors and 3× latency over the last 5 minutes.
	g.t = g.t.Add(10 * time.Minute)
	feed(300, 0.9, 0.2, 3)
	d := a.Tick(g.t)
	conforms(t, d)
	var er, lat bool
	for _, x := range d {
		er = er || x.Kind == KindErrorRate && x.Value > 0.1
		lat = lat || x.Kind == KindLatency && x.Value > x.Threshold && x.BaselineID != ""
	}
	if !er || !lat {
		t.Errorf("ops detections: %v", kinds(d))
	}
	if again := a.Tick(g.t.Add(time.Second)); len(again) != 0 {
		t.Errorf("ops detections repeated within 5m: %v", kinds(again))
	}
	// Healthy traffic for the next 10 minutes: both conditions recover, once.
	g.t = g.t.Add(time.Minute)
	for range 20 {
		feed(30, 0.9, 0, 1)
		g.t = g.t.Add(27 * time.Second)
	}
	d = a.Tick(g.t)
	conforms(t, d)
	recovered := map[string]int{}
	for _, x := range d {
		if x.Recovered {
			recovered[x.Kind]++
		} else if x.Kind == KindErrorRate || x.Kind == KindLatency {
			t.Errorf("fired on healthy traffic: %+v", x)
		}
	}
	if recovered[KindErrorRate] != 1 || recovered[KindLatency] != 1 {
		t.Errorf("recoveries: %v (detections %v)", recovered, kinds(d))
	}
	if again := a.Tick(g.t.Add(time.Minute)); slices.ContainsFunc(again, func(x Detection) bool { return x.Recovered }) {
		t.Errorf("recovery repeated: %v", kinds(again))
	}
	// Accuracy back at the baseline's: concept drift recovers at the next drift evaluation.
	got = feed(1000, 0.9, 0, 1)
	conforms(t, got)
	if !slices.ContainsFunc(got, func(x Detection) bool { return x.Kind == KindConceptDrift && x.Recovered }) {
		t.Errorf("concept drift did not recover: %v", kinds(got))
	}
	// Refusals: 40% of outputs refused against a baseline without refusals, then none.
	refuse := func(n int, share float64) []Detection {
		var out []Detection
		for i := range n {
			ev := g.next()
			var fs []Finding
			if float64(i%10) < share*10 {
				fs = []Finding{{Detector: "refusal.phrase", Category: "refusal", Score: 0.9}}
			}
			out = append(out, a.Observe(ev, fs)...)
		}
		return out
	}
	g.t = g.t.Add(10 * time.Minute)
	refuse(100, 0.4)
	d = a.Tick(g.t)
	conforms(t, d)
	i := slices.IndexFunc(d, func(x Detection) bool { return x.Kind == KindRefusalRate && !x.Recovered })
	if i < 0 || d[i].Value < 0.35 || d[i].Values["baseline_rate"] != 0 || d[i].Values["requests"] != 100 {
		t.Fatalf("refusal rate: %+v", d)
	}
	g.t = g.t.Add(6 * time.Minute)
	refuse(100, 0)
	d = a.Tick(g.t)
	if !slices.ContainsFunc(d, func(x Detection) bool { return x.Kind == KindRefusalRate && x.Recovered }) {
		t.Errorf("refusal rate did not recover: %v", kinds(d))
	}
}

func TestTimeBasedBaselineWindowAndClasses(t *testing.T) {
	a, _ := newTestAnalyzer(t, func(o *Options) { o.BaselineDays = 1; o.BaselineMinEvents = 300 })
	g := newGen(11, "m")
	r := rand.New(rand.NewPCG(2, 3))
	obs := func(n int, labelShift bool) []Detection {
		var out []Detection
		for range n {
			ev := g.next()
			ev.Request.InputClass = []string{"chat", "code"}[r.IntN(2)]
			out = append(out, a.Observe(ev, nil)...)
			label := "approve"
			if labelShift || r.IntN(2) == 0 {
				label = "deny"
			}
			a.Observe(&event.Event{Type: event.TypeFeedback, Time: ev.Time, RequestID: ev.Request.ID, Label: label}, nil)
		}
		return out
	}
	obs(400, false)
	if d := a.Tick(g.t.Add(time.Hour)); len(d) != 0 {
		t.Fatalf("froze before a day: %v", kinds(d))
	}
	d := a.Tick(t0.Add(25 * time.Hour))
	if len(d) != 1 || d[0].Kind != KindBaseline || d[0].Value != 400 {
		t.Fatalf("time-based baseline: %v", kinds(d))
	}
	// 600 events, then an hour passes: the window is judged by duration.
	g.t = t0.Add(26 * time.Hour)
	if got := obs(600, true); len(got) != 0 {
		t.Fatalf("judged before the window closed: %v", kinds(got))
	}
	d = a.Tick(g.t.Add(2 * time.Hour))
	conforms(t, d)
	if !slices.ContainsFunc(d, func(x Detection) bool { return x.Kind == KindLabelDrift && x.Feature == FeatLabel }) {
		t.Errorf("label drift not reported: %v", kinds(d))
	}
	now := g.t
	a.opts.Now = func() time.Time { return now }
	mm, _ := a.ModelMetrics("m")
	classes := map[string]float64{}
	for _, s := range mm.Series {
		classes[s.InputClass] = s.Windows[3].Requests
	}
	if len(classes) != 3 || classes["chat"]+classes["code"] != classes[""] || classes[""] == 0 {
		t.Errorf("series by input class: %v", classes)
	}
}

func TestVolumeDrop(t *testing.T) {
	a, _ := newTestAnalyzer(t, nil)
	lat := 5.0
	tt := t0.Add(-21 * 24 * time.Hour)
	for h := range 21*24 + 1 {
		for i := range 40 {
			a.Observe(&event.Event{Type: event.TypeInference, Time: tt.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Minute),
				Model: event.Model{Name: "m"}, Response: &event.Response{LatencyMS: &lat}}, nil)
		}
		a.Tick(tt.Add(time.Duration(h)*time.Hour + 59*time.Minute))
	}
	// The hour starting at t0 gets two requests; the drop is reported once
	// that hour is complete.
	for i := range 2 {
		a.Observe(&event.Event{Type: event.TypeInference, Time: t0.Add(time.Hour + time.Duration(i)*time.Minute), Model: event.Model{Name: "m"}}, nil)
	}
	if d := a.Tick(t0.Add(time.Hour + 30*time.Minute)); len(d) != 0 {
		t.Fatalf("judged an incomplete hour: %v", kinds(d))
	}
	d := a.Tick(t0.Add(2*time.Hour + time.Minute))
	conforms(t, d)
	if len(d) != 1 || d[0].Kind != KindVolume || d[0].Value > -4 || d[0].Values["count"] != 2 {
		t.Fatalf("volume drop: %+v", d)
	}
}

// conforms fails the test when a detection breaks the contract in internal/detection (an
// unregistered kind, a statistic or a value its schema does not list): rules are checked
// against that registry, so a detection outside it would reach no rule.
func conforms(t *testing.T, ds []Detection) {
	t.Helper()
	for i := range ds {
		if err := detection.Validate(&ds[i]); err != nil {
			t.Errorf("detection %d (%s %s): %v", i, ds[i].Kind, ds[i].Statistic, err)
		}
	}
}
