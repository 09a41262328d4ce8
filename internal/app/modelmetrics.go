package app

import (
	"github.com/prometheus/client_golang/prometheus"
)

// modelCollector exposes per-model cost, tokens, refusal rate and fairness on /metrics, read
// from the analyzer's live windows at scrape time (so nothing is kept twice). Label values are
// bounded by the inventory and the protected attributes the analyzer tracks.
type modelCollector struct{ a *App }

var (
	descCost = prometheus.NewDesc("warden_model_cost_usd_5m",
		"Model cost in USD over the last 5 minutes, per model.", []string{"model"}, nil)
	descTokens = prometheus.NewDesc("warden_model_tokens_5m",
		"Tokens over the last 5 minutes, per model and direction (input, output).", []string{"model", "direction"}, nil)
	descRefusal = prometheus.NewDesc("warden_model_refusal_rate_5m",
		"Share of responses that refused over the last 5 minutes, per model.", []string{"model"}, nil)
	descFairness = prometheus.NewDesc("warden_model_fairness",
		"Fairness metrics of the latest window, per model, protected attribute and metric (e.g. disparate_impact, demographic_parity_difference).",
		[]string{"model", "attribute", "metric"}, nil)
)

func (c modelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCost, descTokens, descRefusal, descFairness} {
		ch <- d
	}
}

func (c modelCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.a.models.list() {
		mm, ok := c.a.analyzer.ModelMetrics(m.Name)
		if !ok {
			continue
		}
		var cost, in, out, refusals, requests float64
		for _, s := range mm.Series {
			for _, w := range s.Windows {
				if w.Window != "5m" {
					continue
				}
				cost += w.CostUSD
				in += w.InputTokens
				out += w.OutputTokens
				requests += w.Requests
				if w.RefusalRate != nil {
					refusals += *w.RefusalRate * w.Requests
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(descCost, prometheus.GaugeValue, cost, m.Name)
		ch <- prometheus.MustNewConstMetric(descTokens, prometheus.GaugeValue, in, m.Name, "input")
		ch <- prometheus.MustNewConstMetric(descTokens, prometheus.GaugeValue, out, m.Name, "output")
		if requests > 0 {
			ch <- prometheus.MustNewConstMetric(descRefusal, prometheus.GaugeValue, refusals/requests, m.Name)
		}
		if d, ok := c.a.analyzer.ModelDrift(m.Name); ok {
			for _, f := range d.Fairness {
				for metric, v := range f.Values {
					if v != nil {
						ch <- prometheus.MustNewConstMetric(descFairness, prometheus.GaugeValue, *v, m.Name, f.Attribute, metric)
					}
				}
			}
		}
	}
}
