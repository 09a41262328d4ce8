package analyze

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/warden-ai/warden/internal/stats"
)

// Sliding windows of the live metrics. Each window is a ring of
// subBuckets buckets of width/subBuckets, so a window covers between 90%
// and 100% of its nominal width.
var windowSpecs = [...]struct {
	Name  string
	Width time.Duration
}{{"1m", time.Minute}, {"5m", 5 * time.Minute}, {"1h", time.Hour}, {"1d", 24 * time.Hour}}

const subBuckets = 10

// sketch wraps a DDSketch for JSON snapshots.
type sketch struct{ *ddsketch.DDSketch }

func (s sketch) MarshalJSON() ([]byte, error) {
	if s.DDSketch == nil {
		return []byte("null"), nil
	}
	var b []byte
	s.Encode(&b, false)
	return json.Marshal(b)
}

func (s *sketch) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	if raw == nil {
		s.DDSketch = nil
		return nil
	}
	d := stats.NewSketch()
	if err := d.DecodeAndMergeWith(raw); err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	s.DDSketch = d
	return nil
}

// counters are the additive live metrics of one bucket.
type counters struct {
	N         float64            `json:"n"`
	Errors    float64            `json:"errors"`
	Blocked   float64            `json:"blocked"`
	Refusals  float64            `json:"refusals"`
	InTokens  float64            `json:"in_tokens"`
	OutTokens float64            `json:"out_tokens"`
	Cost      float64            `json:"cost"`
	ThumbsUp  float64            `json:"thumbs_up"`
	ThumbsDn  float64            `json:"thumbs_down"`
	Labeled   float64            `json:"labeled"`
	Correct   float64            `json:"correct"`
	Triggers  map[string]float64 `json:"triggers,omitempty"`
	Latency   sketch             `json:"latency"`
}

func (c *counters) reset() {
	lat := c.Latency.DDSketch
	if lat != nil {
		lat.Clear()
	}
	trig := c.Triggers
	clear(trig)
	*c = counters{Triggers: trig, Latency: sketch{lat}}
}

func (c *counters) merge(o *counters) {
	c.N += o.N
	c.Errors += o.Errors
	c.Blocked += o.Blocked
	c.Refusals += o.Refusals
	c.InTokens += o.InTokens
	c.OutTokens += o.OutTokens
	c.Cost += o.Cost
	c.ThumbsUp += o.ThumbsUp
	c.ThumbsDn += o.ThumbsDn
	c.Labeled += o.Labeled
	c.Correct += o.Correct
	for k, v := range o.Triggers {
		if c.Triggers == nil {
			c.Triggers = make(map[string]float64)
		}
		c.Triggers[k] += v
	}
	if o.Latency.DDSketch != nil && !o.Latency.IsEmpty() {
		if c.Latency.DDSketch == nil {
			c.Latency.DDSketch = stats.NewSketch()
		}
		_ = c.Latency.MergeWith(o.Latency.DDSketch) // same mapping by construction
	}
}

type bucket struct {
	Slot int64    `json:"slot"`
	C    counters `json:"c"`
}

// ring is one sliding window.
type ring struct {
	Width   int64               `json:"width_ns"` // bucket width
	Buckets [subBuckets]*bucket `json:"buckets"`
}

// at returns the bucket for time t, or nil when t is older than the ring.
func (r *ring) at(t int64) *counters {
	slot := t / r.Width
	i := slot % subBuckets
	if i < 0 {
		i += subBuckets
	}
	b := r.Buckets[i]
	if b == nil {
		b = &bucket{Slot: slot}
		r.Buckets[i] = b
		return &b.C
	}
	switch {
	case b.Slot == slot:
	case b.Slot < slot:
		b.Slot = slot
		b.C.reset()
	default:
		return nil // late event, its bucket was recycled
	}
	return &b.C
}

// sum aggregates the buckets inside the window ending at now.
func (r *ring) sum(now int64) (counters, time.Duration) {
	var c counters
	slot := now / r.Width
	oldest := slot
	for _, b := range r.Buckets {
		if b != nil && b.Slot <= slot && b.Slot > slot-subBuckets {
			c.merge(&b.C)
			oldest = min(oldest, b.Slot)
		}
	}
	covered := time.Duration(now - oldest*r.Width)
	return c, covered
}

// series is the live metrics of one model × version × environment
// (× input class).
type series struct {
	Version     string                  `json:"version"`
	Environment string                  `json:"environment"`
	InputClass  string                  `json:"input_class,omitempty"`
	Windows     [len(windowSpecs)]*ring `json:"windows"`
	// LastFired records when a latency or error-rate detection last fired.
	LastFired map[string]time.Time `json:"last_fired,omitempty"`
	// Active holds the detection kinds that fired and have not recovered yet, with the identity
	// of the detection the recovery must repeat.
	Active map[string]Detection `json:"active,omitempty"`
}

func newSeries(version, env, class string) *series {
	s := &series{Version: version, Environment: env, InputClass: class}
	for i, w := range windowSpecs {
		s.Windows[i] = &ring{Width: int64(w.Width / subBuckets)}
	}
	return s
}

// add applies f to the current bucket of every window.
func (s *series) add(t time.Time, f func(*counters)) {
	ns := t.UnixNano()
	for _, r := range s.Windows {
		if c := r.at(ns); c != nil {
			f(c)
		}
	}
}

// WindowMetrics is the JSON view of one window of live metrics.
type WindowMetrics struct {
	Window       string             `json:"window"`
	Requests     float64            `json:"requests"`
	Throughput   float64            `json:"throughput_per_s"`
	ErrorRate    *float64           `json:"error_rate"`
	BlockedRate  *float64           `json:"blocked_rate"`
	RefusalRate  *float64           `json:"refusal_rate"`
	LatencyP50   *float64           `json:"latency_p50_ms"`
	LatencyP95   *float64           `json:"latency_p95_ms"`
	LatencyP99   *float64           `json:"latency_p99_ms"`
	InputTokens  float64            `json:"input_tokens"`
	OutputTokens float64            `json:"output_tokens"`
	CostUSD      float64            `json:"cost_usd"`
	TriggerRates map[string]float64 `json:"scanner_trigger_rates,omitempty"`
	ThumbsRatio  *float64           `json:"thumbs_up_ratio"`
	Feedback     float64            `json:"feedback"`
	Accuracy     *float64           `json:"accuracy"`
	Labeled      float64            `json:"labeled"`
}

func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func rate(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	return num(a / b)
}

func quantile(s *ddsketch.DDSketch, q float64) *float64 {
	if s == nil || s.IsEmpty() {
		return nil
	}
	v, err := s.GetValueAtQuantile(q)
	if err != nil {
		return nil
	}
	return num(v)
}

func viewWindow(name string, c counters, covered time.Duration) WindowMetrics {
	w := WindowMetrics{
		Window: name, Requests: c.N,
		ErrorRate: rate(c.Errors, c.N), BlockedRate: rate(c.Blocked, c.N), RefusalRate: rate(c.Refusals, c.N),
		LatencyP50: quantile(c.Latency.DDSketch, 0.5), LatencyP95: quantile(c.Latency.DDSketch, 0.95), LatencyP99: quantile(c.Latency.DDSketch, 0.99),
		InputTokens: c.InTokens, OutputTokens: c.OutTokens, CostUSD: c.Cost,
		ThumbsRatio: rate(c.ThumbsUp, c.ThumbsUp+c.ThumbsDn), Feedback: c.ThumbsUp + c.ThumbsDn,
		Accuracy: rate(c.Correct, c.Labeled), Labeled: c.Labeled,
	}
	if covered > 0 {
		w.Throughput = c.N / covered.Seconds()
	}
	if c.N > 0 && len(c.Triggers) > 0 {
		w.TriggerRates = make(map[string]float64, len(c.Triggers))
		for k, v := range c.Triggers {
			w.TriggerRates[k] = v / c.N
		}
	}
	return w
}
