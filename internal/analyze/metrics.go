package analyze

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/event"
)

// metrics are the analyzer's Prometheus series. Label values are bounded:
// model by Options.MaxModels, the others by fixed sets.
type metrics struct {
	byType     map[event.Type]prometheus.Counter
	events     *prometheus.CounterVec
	detections *prometheus.CounterVec
	drops      *prometheus.CounterVec
	models     prometheus.Gauge
	consumers  prometheus.Gauge
	requests   *prometheus.GaugeVec
	errRate    *prometheus.GaugeVec
	p95        *prometheus.GaugeVec
	drifted    *prometheus.GaugeVec
	share      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_analyze_events_total",
			Help: "Events observed by stream analysis, by event type."}, []string{"type"}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_analyze_detections_total",
			Help: "Stream detections emitted, by kind."}, []string{"kind"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warden_analyze_dropped_total",
			Help: "Items dropped by a cardinality limit, by limit."}, []string{"reason"}),
		models: prometheus.NewGauge(prometheus.GaugeOpts{Name: "warden_analyze_tracked_models",
			Help: "Models tracked by stream analysis."}),
		consumers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "warden_analyze_tracked_consumers",
			Help: "Consumers tracked by stream analysis."}),
		requests: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_model_requests_5m",
			Help: "Requests in the last 5 minutes, per model (all versions and environments)."}, []string{"model"}),
		errRate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_model_error_rate_5m",
			Help: "Error rate over the last 5 minutes, per model."}, []string{"model"}),
		p95: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_model_latency_p95_ms_5m",
			Help: "P95 latency over the last 5 minutes (DDSketch, 1% relative accuracy), per model."}, []string{"model"}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_model_drifted_features",
			Help: "Features drifted in the latest evaluated window, per model."}, []string{"model"}),
		share: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warden_model_dataset_drift_share",
			Help: "Share of drifted features in the latest evaluated window, per model."}, []string{"model"}),
	}
	m.byType = map[event.Type]prometheus.Counter{}
	for t := range eventTypes {
		m.byType[t] = m.events.WithLabelValues(string(t))
	}
	m.byType["other"] = m.events.WithLabelValues("other")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.detections, m.drops, m.models, m.consumers, m.requests, m.errRate, m.p95, m.drifted, m.share} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

var eventTypes = map[event.Type]bool{event.TypeInference: true, event.TypeAccess: true, event.TypePipeline: true, event.TypeFeedback: true, event.TypeProbe: true}

func (m *metrics) event(t event.Type) {
	c, ok := m.byType[t]
	if !ok {
		c = m.byType["other"]
	}
	c.Inc()
}

func (m *metrics) dropped(reason string) { m.drops.WithLabelValues(reason).Inc() }

func (m *metrics) detected(ds []Detection) {
	for _, d := range ds {
		m.detections.WithLabelValues(d.Kind).Inc()
	}
}

func (m *metrics) drift(model string, r *DriftReport) {
	m.drifted.WithLabelValues(model).Set(float64(len(r.Drifted)))
	m.share.WithLabelValues(model).Set(r.DatasetShare)
}
