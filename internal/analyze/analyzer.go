package analyze

import (
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/detection"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/lru"
	"github.com/warden-ai/warden/internal/stats"
)

// Detection kinds (the registry in internal/detection documents their values).
const (
	KindDrift           = detection.KindDrift
	KindPredictionDrift = detection.KindPredictionDrift
	KindLabelDrift      = detection.KindLabelDrift
	KindConceptDrift    = detection.KindConceptDrift
	KindDatasetDrift    = detection.KindDatasetDrift
	KindFairness        = detection.KindFairness
	KindLatency         = detection.KindLatency
	KindErrorRate       = detection.KindErrorRate
	KindRefusalRate     = detection.KindRefusalRate
	KindVolume          = detection.KindVolume
	KindNewConsumer     = detection.KindNewConsumer
	KindShadowAI        = detection.KindShadowAI
	KindCostSpike       = detection.KindCostSpike
	KindBaseline        = detection.KindBaseline
	KindSystemDown      = detection.KindSystemDown
)

// Detection is one finding of a stream detector, for the rules stage.
type Detection = detection.Detection

// Thresholds of the operational detections.
const (
	errorRateThreshold = 0.05
	latencyFactor      = 2.0
	refusalFactor      = 2.0  // refusal rate above this multiple of the baseline rate…
	minRefusalRate     = 0.10 // …and above this share of requests
	minOpsRequests     = 20
	conceptDrop        = 0.05 // absolute accuracy drop
	minLabels          = 100
)

// Analyzer is the stateful stream detector. Build it with New.
type Analyzer struct {
	opts Options
	met  *metrics

	mu        sync.Mutex
	models    map[string]*modelState
	consumers map[string]*consumerState
	// The caps evict the least recently seen entry, never a registered model or consumer, so a
	// flood of attacker-chosen names cannot push out the real ones (issue 12).
	modelLRU    *lru.Order[string]
	consumerLRU *lru.Order[string]
	pairs       *lru.Order[uint64] // model × consumer seen
	pending     map[string]pending // request id → prediction awaiting label
	pendRing    []string
	pendHead    int
	dropped     map[string]uint64
	lastEvent   time.Time
	// active holds the models with events since the last tick (TickActive evaluates only them).
	active map[string]struct{}
}

// pending is a prediction awaiting its feedback label.
type pending struct {
	Model      string   `json:"model"`
	Version    string   `json:"version"`
	Env        string   `json:"env"`
	Class      string   `json:"class"`
	Prediction string   `json:"prediction"`
	HasPred    bool     `json:"has_pred"`
	Positive   bool     `json:"positive"`
	Score      float64  `json:"score"`            // P(positive) for calibration; −1 = unknown
	Groups     []string `json:"groups,omitempty"` // one per Options.Protected ("" = absent)
	Labeled    bool     `json:"labeled"`
}

// modelState is everything tracked for one model name.
type modelState struct {
	Name      string                          `json:"name"`
	FirstSeen time.Time                       `json:"first_seen"`
	Series    map[string]*series              `json:"series"`
	Versions  map[string]*versionState        `json:"versions"`
	Volume    hourly                          `json:"volume"`
	Cost      daily                           `json:"cost"`
	Live      liveness                        `json:"live"`
	Fair      *fairWindow                     `json:"fair,omitempty"`
	LastFair  map[string]stats.FairnessResult `json:"-"`
	ShadowDay int64                           `json:"shadow_day"`
	Seq       int                             `json:"seq"` // baseline sequence
	list      []*series                       // Series values, for alloc-free lookup
}

// versionState is the baseline and drift state of one model version.
type versionState struct {
	Version   string       `json:"version"`
	FirstSeen time.Time    `json:"first_seen"`
	Collect   *collector   `json:"collect,omitempty"`
	Active    string       `json:"active,omitempty"`
	Baselines []*Baseline  `json:"baselines,omitempty"`
	Window    *driftWindow `json:"window,omitempty"`
	Last      *DriftReport `json:"last,omitempty"`
	Dropped   uint64       `json:"dropped_features"`
}

func (v *versionState) active() *Baseline {
	for _, b := range v.Baselines {
		if b.ID == v.Active {
			return b
		}
	}
	return nil
}

// consumerState is tracked per consumer.
type consumerState struct {
	FirstSeen time.Time `json:"first_seen"`
	Volume    hourly    `json:"volume"`
	ShadowDay int64     `json:"shadow_day"`
}

// New returns an Analyzer. Zero option fields take DefaultOptions values.
func New(opts Options) (*Analyzer, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	a := &Analyzer{opts: opts}
	a.reset()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("analyze: register metrics: %w", err)
	}
	a.met = m
	return a, nil
}

func (a *Analyzer) reset() {
	a.models = map[string]*modelState{}
	a.consumers = map[string]*consumerState{}
	a.pairs = lru.New[uint64]()
	a.modelLRU, a.consumerLRU = lru.New[string](), lru.New[string]()
	a.pending = map[string]pending{}
	a.pendRing = make([]string, a.opts.MaxPending)
	a.pendHead = 0
	a.dropped = map[string]uint64{}
	a.active = map[string]struct{}{}
}

func (a *Analyzer) drop(reason string) {
	a.dropped[reason]++
	a.met.dropped(reason)
}

// Dropped returns how many items each cardinality limit dropped.
func (a *Analyzer) Dropped() map[string]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]uint64, len(a.dropped))
	for k, v := range a.dropped {
		out[k] = v
	}
	return out
}

// consumerOf is the consuming identity of an event: the consumer (virtual
// key owner), else the service account, the API key, the user.
func consumerOf(ev *event.Event) string {
	switch {
	case ev.Actor.Consumer != "":
		return ev.Actor.Consumer
	case ev.Actor.ServiceAccount != "":
		return ev.Actor.ServiceAccount
	case ev.Actor.APIKeyID != "":
		return ev.Actor.APIKeyID
	}
	return ev.Actor.User
}

func pairKey(model, consumer string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(consumer))
	return h.Sum64()
}

func seriesKey(version, env, class string) string {
	return version + "\x1f" + env + "\x1f" + class
}

func envOf(ev *event.Event) string {
	if ev.Environment == "" {
		return "prod"
	}
	return ev.Environment
}

// Observe feeds one event (with the scanner findings of its text) and
// returns the detections it triggers at once (shadow AI, new consumer,
// and drift when a drift window fills up).
func (a *Analyzer) Observe(ev *event.Event, findings []Finding) []Detection {
	if ev == nil {
		return nil
	}
	a.met.event(ev.Type)
	a.mu.Lock()
	defer a.mu.Unlock()
	if ev.Time.After(a.lastEvent) {
		a.lastEvent = ev.Time
	}
	switch ev.Type {
	case event.TypeInference:
		out := a.observeInference(ev, findings)
		a.met.detected(out)
		return out
	case event.TypeFeedback:
		a.observeFeedback(ev)
	}
	return nil
}

func (a *Analyzer) model(name string, t time.Time) *modelState {
	m := a.models[name]
	if m != nil {
		a.modelLRU.Touch(name)
		return m
	}
	if len(a.models) >= a.opts.MaxModels {
		victim, ok := a.modelLRU.Oldest(a.registeredModel)
		switch {
		case ok:
			delete(a.models, victim)
			a.modelLRU.Remove(victim)
			a.drop("model_evicted")
		case !a.registeredModel(name):
			a.drop("model")
			return nil
		}
		// Every tracked model is registered and so is this one: the inventory is not capped.
	}
	m = &modelState{Name: name, FirstSeen: t, Series: map[string]*series{}, Versions: map[string]*versionState{}}
	a.models[name] = m
	a.modelLRU.Touch(name)
	a.met.models.Set(float64(len(a.models)))
	return m
}

// registeredModel reports whether name is in the inventory; such models are never evicted.
func (a *Analyzer) registeredModel(name string) bool {
	if a.opts.Inventory == nil {
		return false
	}
	_, known := a.opts.Inventory(name)
	return known
}

// registeredConsumer reports whether a consumer holds a key; such consumers are never evicted.
func (a *Analyzer) registeredConsumer(name string) bool {
	return a.opts.KnownConsumer != nil && a.opts.KnownConsumer(name)
}

func (a *Analyzer) seriesFor(m *modelState, version, env, class string) *series {
	if len(m.list) != len(m.Series) {
		m.list = m.list[:0]
		for _, s := range m.Series {
			m.list = append(m.list, s)
		}
	}
	// Models have few series: a scan avoids building the map key.
	for _, s := range m.list {
		if s.Version == version && s.Environment == env && s.InputClass == class {
			return s
		}
	}
	if len(m.Series) >= a.opts.MaxSeriesPerModel {
		a.drop("series")
		return nil
	}
	s := newSeries(version, env, class)
	m.Series[seriesKey(version, env, class)] = s
	m.list = append(m.list, s)
	return s
}

func (a *Analyzer) observeInference(ev *event.Event, findings []Finding) []Detection {
	var out []Detection
	name := ev.Model.Name
	if name == "" {
		name = "_unknown"
	}
	m := a.model(name, ev.Time)
	if m == nil {
		return nil
	}
	env := envOf(ev)
	consumer := consumerOf(ev)
	out = a.usage(m, ev, consumer, out)
	a.active[m.Name] = struct{}{}
	if d, ok := m.Live.observe(ev, a.opts.Now(), m); ok {
		out = append(out, d)
	}

	// Live metrics.
	maxScore := 0.0
	refusal := false
	for _, f := range findings {
		maxScore = math.Max(maxScore, f.Score)
		if f.Category == "refusal" {
			refusal = true
		}
	}
	var class string
	if ev.Request != nil {
		class = ev.Request.InputClass
	}
	upd := func(c *counters) {
		c.N++
		if r := ev.Response; r != nil {
			switch r.Status {
			case "error":
				c.Errors++
			case "blocked":
				c.Blocked++
			}
			if r.OutputTokens != nil {
				c.OutTokens += float64(*r.OutputTokens)
			}
			if r.LatencyMS != nil && *r.LatencyMS >= 0 && finite(*r.LatencyMS) {
				if c.Latency.DDSketch == nil {
					c.Latency.DDSketch = stats.NewSketch()
				}
				_ = c.Latency.Add(*r.LatencyMS)
			}
		}
		if ev.Request != nil && ev.Request.InputTokens != nil {
			c.InTokens += float64(*ev.Request.InputTokens)
		}
		if ev.CostUSD != nil && finite(*ev.CostUSD) {
			c.Cost += *ev.CostUSD
		}
		if refusal {
			c.Refusals++
		}
		for i, f := range findings {
			if seenCategory(findings[:i], f.Category) {
				continue
			}
			if c.Triggers == nil {
				c.Triggers = make(map[string]float64)
			}
			cat := f.Category
			if _, ok := c.Triggers[cat]; !ok && len(c.Triggers) >= a.opts.MaxTriggerCategory {
				cat = "_other"
			}
			c.Triggers[cat]++
		}
	}
	if s := a.seriesFor(m, ev.Model.Version, env, ""); s != nil {
		s.add(ev.Time, upd)
	}
	if class != "" {
		if s := a.seriesFor(m, ev.Model.Version, env, class); s != nil {
			s.add(ev.Time, upd)
		}
	}

	// Baselines and drift.
	v := m.Versions[ev.Model.Version]
	if v == nil {
		v = &versionState{Version: ev.Model.Version, FirstSeen: ev.Time, Collect: newCollector()}
		m.Versions[ev.Model.Version] = v
	}
	if len(findings) == 0 {
		maxScore = 0
	}
	if refusal && v.Collect != nil {
		v.Collect.Refusals++
	}
	out = a.observeDrift(m, v, ev, maxScore, out)

	// Predictions awaiting labels.
	if ev.Request != nil && ev.Request.ID != "" || ev.ID != "" {
		a.remember(m, v, ev, env, class)
	}
	// Fairness on predictions.
	if len(a.opts.Protected) > 0 && ev.Response != nil && ev.Response.Prediction != nil {
		a.fairPrediction(m, ev)
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func seenCategory(fs []Finding, cat string) bool {
	for _, f := range fs {
		if f.Category == cat {
			return true
		}
	}
	return false
}

func (a *Analyzer) remember(m *modelState, v *versionState, ev *event.Event, env, class string) {
	id := ev.ID
	if ev.Request != nil && ev.Request.ID != "" {
		id = ev.Request.ID
	}
	if a.opts.MaxPending == 0 {
		return
	}
	p := pending{Model: m.Name, Version: v.Version, Env: env, Class: class, Score: -1}
	if r := ev.Response; r != nil && r.Prediction != nil {
		p.Prediction, p.HasPred = labelString(r.Prediction)
		p.Positive = isPositive(r.Prediction, a.opts.PositiveLabel)
		if r.Confidence != nil {
			// Confidence is the probability of the predicted class.
			p.Score = *r.Confidence
			if !p.Positive {
				p.Score = 1 - p.Score
			}
		}
	}
	if len(a.opts.Protected) > 0 {
		p.Groups = make([]string, len(a.opts.Protected))
		for i, attr := range a.opts.Protected {
			p.Groups[i] = attrString(ev.Attributes[attr])
		}
	}
	if _, ok := a.pending[id]; !ok {
		if old := a.pendRing[a.pendHead]; old != "" {
			delete(a.pending, old)
			a.drop("pending_label")
		}
		a.pendRing[a.pendHead] = id
		a.pendHead = (a.pendHead + 1) % len(a.pendRing)
	}
	a.pending[id] = p
}

func attrString(v any) string {
	s, ok := labelString(v)
	if !ok {
		return ""
	}
	return s
}

func (a *Analyzer) observeFeedback(ev *event.Event) {
	p, ok := a.pending[ev.RequestID]
	if !ok {
		return
	}
	m := a.models[p.Model]
	if m == nil {
		return
	}
	a.active[m.Name] = struct{}{}
	s := m.Series[seriesKey(p.Version, p.Env, "")]
	var sc *series
	if p.Class != "" {
		sc = m.Series[seriesKey(p.Version, p.Env, p.Class)]
	}
	label, hasLabel := labelString(ev.Label)
	correct := hasLabel && p.HasPred && label == p.Prediction
	upd := func(c *counters) {
		if ev.Rating != nil {
			switch {
			case *ev.Rating > 0:
				c.ThumbsUp++
			case *ev.Rating < 0:
				c.ThumbsDn++
			}
		}
		if hasLabel && p.HasPred && !p.Labeled {
			c.Labeled++
			if correct {
				c.Correct++
			}
		}
	}
	for _, x := range []*series{s, sc} {
		if x != nil {
			x.add(ev.Time, upd)
		}
	}
	if !hasLabel || p.Labeled {
		return
	}
	p.Labeled = true
	a.pending[ev.RequestID] = p
	v := m.Versions[p.Version]
	if v != nil {
		a.labelDrift(v, label, p.HasPred, correct)
	}
	if p.HasPred && len(p.Groups) > 0 {
		a.fairLabel(m, &p, isPositive(ev.Label, a.opts.PositiveLabel))
	}
}

// ErrNoEvents is returned by SetBaseline when no event of the model falls
// in the window.
var ErrNoEvents = errors.New("analyze: no inference events for the model in the window")

// SetBaseline freezes an explicit baseline for model from the inference
// events in [from, to) (other models and times are skipped; feedback
// events in the sequence are joined to their predictions by request id).
// The baseline belongs to the version most frequent in the window and
// becomes its active baseline; the previous ones stay listed.
func (a *Analyzer) SetBaseline(model string, from, to time.Time, events iter.Seq[*event.Event]) (string, error) {
	byVersion := map[string]*collector{}
	preds := map[string]string{}
	predVersion := map[string]string{}
	for ev := range events {
		if ev == nil || ev.Model.Name != model && ev.Type == event.TypeInference || ev.Time.Before(from) || !ev.Time.Before(to) {
			continue
		}
		switch ev.Type {
		case event.TypeInference:
			c := byVersion[ev.Model.Version]
			if c == nil {
				c = newCollector()
				byVersion[ev.Model.Version] = c
			}
			maxScore := 0.0
			if ev.Safety != nil {
				refused := false
				for _, t := range ev.Safety.Triggers {
					maxScore = math.Max(maxScore, t.Score)
					refused = refused || t.Category == "refusal"
				}
				if refused {
					c.Refusals++
				}
			}
			a.collect(c, ev, maxScore)
			if ev.Request != nil && ev.Request.ID != "" && ev.Response != nil {
				if s, ok := labelString(ev.Response.Prediction); ok {
					preds[ev.Request.ID] = s
					predVersion[ev.Request.ID] = ev.Model.Version
				}
			}
		case event.TypeFeedback:
			label, ok := labelString(ev.Label)
			pred, okp := preds[ev.RequestID]
			if !ok || !okp {
				continue
			}
			c := byVersion[predVersion[ev.RequestID]]
			c.Labeled++
			if label == pred {
				c.Correct++
			}
			c.add(FeatLabel, catVal(label), a.opts.MaxFeatures+1)
		}
	}
	var best string
	bestN := -1
	for v, c := range byVersion {
		if c.N > bestN || c.N == bestN && v > best {
			best, bestN = v, c.N
		}
	}
	if bestN <= 0 {
		return "", ErrNoEvents
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.model(model, from)
	if m == nil {
		return "", fmt.Errorf("analyze: set baseline for %q: model limit %d reached", model, a.opts.MaxModels)
	}
	v := m.Versions[best]
	if v == nil {
		v = &versionState{Version: best, FirstSeen: from}
		m.Versions[best] = v
	}
	m.Seq++
	b := byVersion[best].freeze(baselineID(model, best, m.Seq), model, best, "explicit", a.opts.Now())
	a.install(v, b)
	return b.ID, nil
}

// collect adds an inference event's features to a collector.
func (a *Analyzer) collect(c *collector, ev *event.Event, maxScore float64) bool {
	if c.N == 0 || ev.Time.Before(c.From) {
		c.From = ev.Time
	}
	if ev.Time.After(c.To) {
		c.To = ev.Time
	}
	c.N++
	ok := true
	eachFeature(ev, maxScore, func(name string, v value) {
		if !c.add(name, v, a.opts.MaxFeatures) {
			ok = false
		}
	})
	return ok
}

// install makes b the active baseline of v, keeping at most
// maxBaselinesKept.
func (a *Analyzer) install(v *versionState, b *Baseline) {
	v.Baselines = append(v.Baselines, b)
	if len(v.Baselines) > maxBaselinesKept {
		v.Baselines = v.Baselines[len(v.Baselines)-maxBaselinesKept:]
	}
	v.Active = b.ID
	v.Collect = nil
	v.Window = nil
	v.Last = nil
	a.opts.Logger.Info("baseline frozen", "model", b.Model, "version", b.Version, "baseline", b.ID, "events", b.Events, "source", b.Source)
}

// Baselines lists the stored baselines of a model, oldest first.
func (a *Analyzer) Baselines(model string) []BaselineInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.models[model]
	if m == nil {
		return nil
	}
	var out []BaselineInfo
	for _, v := range m.Versions {
		for _, b := range v.Baselines {
			out = append(out, b.info(b.ID == v.Active))
		}
	}
	sortInfos(out)
	return out
}

func sortInfos(in []BaselineInfo) {
	for i := 1; i < len(in); i++ {
		for j := i; j > 0 && (in[j].Created.Before(in[j-1].Created) || in[j].Created.Equal(in[j-1].Created) && strings.Compare(in[j].ID, in[j-1].ID) < 0); j-- {
			in[j], in[j-1] = in[j-1], in[j]
		}
	}
}
