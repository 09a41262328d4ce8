// Package extraction detects model extraction (model stealing through the inference API): a
// consumer that queries a model at high volume with systematically diverse or perturbed inputs.
//
// Per (model, consumer) and tumbling window it measures query volume, distinct-input ratio,
// input entropy, the near-duplicate (perturbation) ratio from 64-bit SimHash signatures over
// character 4-gram shingles, token volume, and coverage of the input space (the share of a
// fixed hashed vocabulary space the window's words reach). Each closed window is scored against
// the same model's population of recent consumer windows with robust z-scores (median and MAD):
//
//	volume    V = max(z(log queries), z(log tokens))
//	diversity D = max(z(coverage), z(entropy))
//	probing   P = z(near-duplicate ratio)
//	score       = sqrt(max(V,0) · max(D,P,0))
//
// so only windows that are anomalous in volume AND in diversity or probing score high. A window
// whose score reaches the threshold becomes a Finding (rules.Detection kind "model_extraction",
// which the built-in rule warden.sec.model_extraction turns into an alert). Flagged windows are
// kept out of the population so an attacker cannot shift the baseline with its own traffic.
//
// A Detector is safe for concurrent use; memory is bounded by MaxConsumers open windows,
// MaxInputs signatures per window and PopulationSize closed windows per model (MaxModels).
package extraction

import (
	"errors"
	"hash/fnv"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/rules"
)

// Kind is the detection kind findings carry.
const Kind = detection.KindModelExtraction

// Options configures a Detector.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Window is the tumbling window per consumer (default 10m).
	Window time.Duration
	// MinQueries is the least number of queries a window needs to be scored (default 50).
	// Smaller windows still join the population baseline.
	MinQueries int
	// Threshold is the score that raises a finding (default 4).
	Threshold float64
	// MinPopulation is how many closed windows a model's population needs before scoring
	// (default 10): until then windows only build the baseline.
	MinPopulation int
	// PopulationSize is how many recent closed windows per model form the baseline (default 512).
	PopulationSize int
	// MaxInputs caps the SimHash signatures kept per window for near-duplicate search (default 2048).
	MaxInputs int
	// MaxConsumers caps open windows; beyond it the least recently active is closed (default 50,000).
	MaxConsumers int
	// MaxModels caps the models with a population (default 1,000).
	MaxModels int
	// NearDupBits is the SimHash Hamming distance at or below which two different inputs are
	// near-duplicates (default 8 of 64).
	NearDupBits int
}

// DefaultOptions returns the defaults New applies to zero fields.
func DefaultOptions() Options {
	return Options{
		Logger: slog.New(slog.DiscardHandler), Window: 10 * time.Minute, MinQueries: 50, Threshold: 4,
		MinPopulation: 10, PopulationSize: 512, MaxInputs: 2048, MaxConsumers: 50_000, MaxModels: 1000, NearDupBits: 8,
	}
}

// Features are one consumer window's measurements.
type Features struct {
	Queries       float64 `json:"queries"`
	DistinctRatio float64 `json:"distinct_ratio"`
	Entropy       float64 `json:"entropy"` // mean bits per byte of the inputs
	NearDupRatio  float64 `json:"near_duplicate_ratio"`
	Tokens        float64 `json:"tokens"`
	Coverage      float64 `json:"coverage"` // share of the hashed vocabulary space reached
}

// Finding is a scored window at or above the threshold.
type Finding struct {
	Model, Environment, Consumer string
	Start, End                   time.Time
	Score, Threshold             float64
	Volume, Diversity, Probing   float64 // the component z-scores
	Features                     Features
	EventIDs                     []string
}

// Detection converts the finding for rules.Engine.ObserveDetection.
func (f Finding) Detection() rules.Detection {
	return rules.Detection{
		Kind: Kind, Model: f.Model, Environment: f.Environment, Consumer: f.Consumer, Time: f.End,
		Statistic: "extraction_score", Value: f.Score, Threshold: f.Threshold, EventIDs: f.EventIDs,
		Values: map[string]float64{
			"queries": f.Features.Queries, "distinct_ratio": f.Features.DistinctRatio, "entropy": f.Features.Entropy,
			"near_duplicate_ratio": f.Features.NearDupRatio, "tokens": f.Features.Tokens, "coverage": f.Features.Coverage,
			"z_volume": f.Volume, "z_diversity": f.Diversity, "z_probing": f.Probing,
		},
		Message: "high-volume querying with systematically diverse or perturbed inputs",
	}
}

// Detector keeps the windows and populations.
type Detector struct {
	mu      sync.Mutex
	opts    Options
	log     *slog.Logger
	windows map[wkey]*window
	pops    map[string]*population
	m       struct {
		events, windows, findings, evicted prometheus.Counter
	}
}

type wkey struct{ model, env, consumer string }

// New returns a Detector.
func New(opts Options) (*Detector, error) {
	d := DefaultOptions()
	if opts.Logger == nil {
		opts.Logger = d.Logger
	}
	setDefault(&opts.Window, d.Window)
	setDefault(&opts.MinQueries, d.MinQueries)
	setDefault(&opts.Threshold, d.Threshold)
	setDefault(&opts.MinPopulation, d.MinPopulation)
	setDefault(&opts.PopulationSize, d.PopulationSize)
	setDefault(&opts.MaxInputs, d.MaxInputs)
	setDefault(&opts.MaxConsumers, d.MaxConsumers)
	setDefault(&opts.MaxModels, d.MaxModels)
	setDefault(&opts.NearDupBits, d.NearDupBits)
	if opts.Window < 0 || opts.MinQueries < 0 || opts.Threshold < 0 || opts.MinPopulation < 0 || opts.PopulationSize < 1 ||
		opts.MaxInputs < 1 || opts.MaxConsumers < 1 || opts.MaxModels < 1 || opts.NearDupBits < 0 || opts.NearDupBits > 64 {
		return nil, errors.New("extraction options: values must be positive (NearDupBits 0..64)")
	}
	det := &Detector{opts: opts, log: opts.Logger.With("component", "extraction"), windows: map[wkey]*window{}, pops: map[string]*population{}}
	f := promauto.With(opts.Registerer)
	det.m.events = f.NewCounter(prometheus.CounterOpts{Name: "warden_extraction_events_total", Help: "Inference events seen by the extraction detector."})
	det.m.windows = f.NewCounter(prometheus.CounterOpts{Name: "warden_extraction_windows_total", Help: "Consumer windows closed and scored."})
	det.m.findings = f.NewCounter(prometheus.CounterOpts{Name: "warden_extraction_findings_total", Help: "Windows scored at or above the threshold."})
	det.m.evicted = f.NewCounter(prometheus.CounterOpts{Name: "warden_extraction_evicted_total", Help: "Open windows closed early by the MaxConsumers cap."})
	return det, nil
}

func setDefault[T comparable](p *T, d T) {
	var zero T
	if *p == zero {
		*p = d
	}
}

// Observe adds one inference event (with its input text) and returns the findings of any windows
// its time closes. Events without a model or a consumer identity are ignored.
func (d *Detector) Observe(ev *event.Event) []Finding {
	if ev == nil || ev.Type != event.TypeInference || ev.Model.Name == "" {
		return nil
	}
	consumer := ev.Actor.Consumer
	if consumer == "" {
		consumer = ev.ActorKey()
	}
	if consumer == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m.events.Inc()
	k := wkey{ev.Model.Name, ev.Environment, consumer}
	start := ev.Time.Truncate(d.opts.Window)
	var out []Finding
	w := d.windows[k]
	if w != nil && !start.Equal(w.start) {
		if start.Before(w.start) {
			return nil // late event for a closed window
		}
		out = d.close(k, w, out)
		w = nil
	}
	if w == nil {
		if len(d.windows) >= d.opts.MaxConsumers {
			out = d.evictOldest(out)
		}
		w = &window{start: start}
		d.windows[k] = w
	}
	w.add(ev, d.opts)
	return out
}

// Flush closes and scores every window that ended at or before now.
func (d *Detector) Flush(now time.Time) []Finding {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keys []wkey
	for k, w := range d.windows {
		if !w.start.Add(d.opts.Window).After(now) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return d.windows[keys[i]].start.Before(d.windows[keys[j]].start) })
	var out []Finding
	for _, k := range keys {
		out = d.close(k, d.windows[k], out)
	}
	return out
}

func (d *Detector) evictOldest(out []Finding) []Finding {
	var ok wkey
	var oldest time.Time
	first := true
	for k, w := range d.windows {
		if first || w.last.Before(oldest) {
			ok, oldest, first = k, w.last, false
		}
	}
	d.m.evicted.Inc()
	return d.close(ok, d.windows[ok], out)
}

func (d *Detector) close(k wkey, w *window, out []Finding) []Finding {
	delete(d.windows, k)
	d.m.windows.Inc()
	f := w.features()
	p := d.pops[k.model]
	if p == nil {
		if len(d.pops) >= d.opts.MaxModels {
			return out
		}
		p = &population{}
		d.pops[k.model] = p
	}
	flagged := false
	if int(f.Queries) >= d.opts.MinQueries && p.len() >= d.opts.MinPopulation {
		v, div, pr := p.score(f)
		score := math.Sqrt(math.Max(v, 0) * math.Max(math.Max(div, pr), 0))
		if score >= d.opts.Threshold {
			flagged = true
			d.m.findings.Inc()
			out = append(out, Finding{
				Model: k.model, Environment: k.env, Consumer: k.consumer, Start: w.start, End: w.start.Add(d.opts.Window),
				Score: score, Threshold: d.opts.Threshold, Volume: v, Diversity: div, Probing: pr, Features: f, EventIDs: slices.Clone(w.ids),
			})
		}
	}
	if !flagged {
		p.add(f, d.opts.PopulationSize)
	}
	return out
}

// window accumulates one consumer's inputs.
type window struct {
	start, last time.Time
	queries     int
	tokens      float64
	entropySum  float64
	entropyN    int
	distinct    map[uint64]struct{}
	sigs        []uint64
	nearDup     int
	compared    int
	cover       [coverWords]uint64
	ids         []string
}

const (
	coverBits  = 4096
	coverWords = coverBits / 64
	maxIDs     = 20
)

func (w *window) add(ev *event.Event, o Options) {
	w.queries++
	if ev.Time.After(w.last) {
		w.last = ev.Time
	}
	if ev.ID != "" && len(w.ids) < maxIDs {
		w.ids = append(w.ids, ev.ID)
	}
	var in string
	if ev.Request != nil {
		in = ev.Request.Input
		if ev.Request.InputTokens != nil {
			w.tokens += float64(*ev.Request.InputTokens)
		} else {
			w.tokens += float64(max(len(in), ev.Request.InputChars)) / 4
		}
	}
	if in == "" {
		return
	}
	if w.distinct == nil {
		w.distinct = map[uint64]struct{}{}
	}
	h := fnv.New64a()
	h.Write([]byte(in))
	exact := h.Sum64()
	_, seen := w.distinct[exact]
	if len(w.distinct) < o.MaxInputs*4 {
		w.distinct[exact] = struct{}{}
	}
	w.entropySum += entropy(in)
	w.entropyN++
	forWords(in, func(word uint64) { b := word % coverBits; w.cover[b/64] |= 1 << (b % 64) })
	if seen {
		return // an exact repeat is neither a perturbation nor new coverage
	}
	sig := simhash(in)
	w.compared++
	for _, s := range w.sigs {
		if bits.OnesCount64(s^sig) <= o.NearDupBits {
			w.nearDup++
			break
		}
	}
	if len(w.sigs) < o.MaxInputs {
		w.sigs = append(w.sigs, sig)
	}
}

func (w *window) features() Features {
	f := Features{Queries: float64(w.queries), Tokens: w.tokens}
	if w.entropyN > 0 {
		f.DistinctRatio = float64(min(len(w.distinct), w.entropyN)) / float64(w.entropyN)
		f.Entropy = w.entropySum / float64(w.entropyN)
	}
	if w.compared > 1 {
		f.NearDupRatio = float64(w.nearDup) / float64(w.compared-1)
	}
	n := 0
	for _, x := range w.cover {
		n += bits.OnesCount64(x)
	}
	f.Coverage = float64(n) / coverBits
	return f
}

// entropy is the Shannon entropy of s's bytes, in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	e := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// forWords calls f with the FNV-1a hash of every lower-cased alphanumeric word of s.
func forWords(s string, f func(uint64)) {
	h, n := uint64(fnvOffset), 0
	for i := 0; i <= len(s); i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			fallthrough
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c >= 0x80:
			h = (h ^ uint64(c)) * fnvPrime
			n++
		default:
			if n > 0 {
				f(h)
			}
			h, n = fnvOffset, 0
		}
	}
}

// simhash is Charikar's 64-bit SimHash over the character 4-gram shingles of s.
func simhash(s string) uint64 {
	var v [64]int
	add := func(h uint64) {
		for i := range 64 {
			if h&(1<<i) != 0 {
				v[i]++
			} else {
				v[i]--
			}
		}
	}
	if len(s) < 4 {
		add(hashBytes(s))
	} else {
		for i := 0; i+4 <= len(s); i++ {
			add(hashBytes(s[i : i+4]))
		}
	}
	var out uint64
	for i := range 64 {
		if v[i] > 0 {
			out |= 1 << i
		}
	}
	return out
}

func hashBytes(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	// FNV's low bits mix poorly for short keys: finish with a 64-bit avalanche (SplitMix64).
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// population is a ring of recent closed windows of one model.
type population struct {
	feats []Features
	next  int
}

func (p *population) len() int { return len(p.feats) }

func (p *population) add(f Features, size int) {
	if len(p.feats) < size {
		p.feats = append(p.feats, f)
		return
	}
	p.feats[p.next] = f
	p.next = (p.next + 1) % size
}

// score returns the volume, diversity and probing robust z-scores of f against the population.
func (p *population) score(f Features) (volume, diversity, probing float64) {
	z := func(x float64, get func(Features) float64, floor float64) float64 {
		xs := make([]float64, len(p.feats))
		for i, g := range p.feats {
			xs[i] = get(g)
		}
		med, mad := medianMAD(xs)
		return (x - med) / math.Max(1.4826*mad, floor)
	}
	volume = math.Max(
		z(math.Log1p(f.Queries), func(g Features) float64 { return math.Log1p(g.Queries) }, 0.25),
		z(math.Log1p(f.Tokens), func(g Features) float64 { return math.Log1p(g.Tokens) }, 0.25))
	diversity = math.Max(
		z(f.Coverage, func(g Features) float64 { return g.Coverage }, 0.02),
		z(f.Entropy, func(g Features) float64 { return g.Entropy }, 0.1))
	probing = z(f.NearDupRatio, func(g Features) float64 { return g.NearDupRatio }, 0.05)
	return volume, diversity, probing
}

func medianMAD(xs []float64) (med, mad float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	slices.Sort(xs)
	med = median(xs)
	for i, x := range xs {
		xs[i] = math.Abs(x - med)
	}
	slices.Sort(xs)
	return med, median(xs)
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
