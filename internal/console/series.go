package console

import (
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/analyze"
)

// point is one sample of a model's live metrics (the 1-minute window, summed over its series).
type point struct {
	T                   time.Time
	P50, P95, P99       float64 // ms; NaN-free: 0 when unknown
	Requests            float64
	ErrorRate           float64
	Throughput          float64
	CostUSD             float64
	InputTok, OutputTok float64
	has                 bool // latency known
}

// pointOf summarises the "1m" window of every series of a model: latency percentiles of the
// busiest series (percentiles do not add), rates weighted by requests, totals summed.
func pointOf(mm analyze.ModelMetrics) point {
	var p point
	var busiest float64
	var errs float64
	for _, s := range mm.Series {
		for _, w := range s.Windows {
			if w.Window != "1m" {
				continue
			}
			p.Requests += w.Requests
			p.Throughput += w.Throughput
			p.CostUSD += w.CostUSD
			p.InputTok += w.InputTokens
			p.OutputTok += w.OutputTokens
			if w.ErrorRate != nil {
				errs += *w.ErrorRate * w.Requests
			}
			if w.LatencyP95 != nil && w.Requests >= busiest {
				busiest = w.Requests
				p.P95, p.has = *w.LatencyP95, true
				if w.LatencyP50 != nil {
					p.P50 = *w.LatencyP50
				}
				if w.LatencyP99 != nil {
					p.P99 = *w.LatencyP99
				}
			}
		}
	}
	if p.Requests > 0 {
		p.ErrorRate = errs / p.Requests
	}
	return p
}

// seriesStore keeps the last n points per model.
type seriesStore struct {
	mu sync.Mutex
	n  int
	m  map[string][]point
}

func newSeriesStore(n int) *seriesStore { return &seriesStore{n: n, m: map[string][]point{}} }

func (s *seriesStore) add(model string, t time.Time, p point) {
	p.T = t
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := append(s.m[model], p)
	if len(ps) > s.n {
		ps = append(ps[:0:0], ps[len(ps)-s.n:]...)
	}
	s.m[model] = ps
}

func (s *seriesStore) get(model string) []point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]point(nil), s.m[model]...)
}
