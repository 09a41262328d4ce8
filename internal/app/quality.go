package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/probe"
	"github.com/warden-ai/warden/internal/quality"
	"github.com/warden-ai/warden/internal/rules"
)

// buildQuality creates the output-quality scorer and tracker; it runs after buildProbes (the
// judge is called through the gateway under the probe identity) and before buildAnalysis.
func (a *App) buildQuality() error {
	var err error
	a.qualityTracker = quality.NewTracker(quality.TrackerOptions{Drop: func(model string) float64 {
		m, _ := a.models.get(model)
		return m.Quality.Drop
	}})
	a.qualityScorer, err = quality.NewScorer(quality.Options{Target: gatewayJudge{a}, Models: a.models.get, Emit: a.emitValidated, Logger: a.log})
	return err
}

// gatewayJudge calls a judge model through the gateway's route, as the reserved identity.
type gatewayJudge struct{ a *App }

func (g gatewayJudge) Chat(ctx context.Context, req probe.Request) (probe.Reply, error) {
	if g.a.GatewayAddr() == "" {
		return probe.Reply{}, errors.New("the gateway is not listening in this process")
	}
	t := &probe.GatewayTarget{BaseURL: "http://" + g.a.GatewayAddr(), Secret: g.a.probes.secret, HTTP: g.a.probes.client}
	return t.Chat(ctx, req)
}

// assessors feeds probe verdicts to the probe tracker and feedback to the quality tracker, and
// persists both with the analysis snapshot.
type assessors struct {
	probes  *probe.Tracker
	quality *quality.Tracker
}

func (s assessors) Observe(ev *event.Event) []rules.Detection {
	if ev.Type == event.TypeProbe {
		return s.probes.Observe(ev)
	}
	return s.quality.Observe(ev)
}

func (s assessors) Snapshot(w io.Writer) error {
	var pb, qb bytes.Buffer
	if err := s.probes.Snapshot(&pb); err != nil {
		return err
	}
	if err := s.quality.Snapshot(&qb); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(map[string]json.RawMessage{"probes": pb.Bytes(), "quality": qb.Bytes()})
}

func (s assessors) Restore(r io.Reader) error {
	var m map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return fmt.Errorf("decode assessment snapshot: %w", err)
	}
	if b := m["probes"]; len(b) > 0 {
		if err := s.probes.Restore(bytes.NewReader(b)); err != nil {
			return err
		}
	}
	if b := m["quality"]; len(b) > 0 {
		if err := s.quality.Restore(bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return nil
}

// qualityView is the quality block of GET /v1/models/{name}/metrics.
type qualityView struct {
	Judge   string                 `json:"judge,omitempty"`
	Sample  float64                `json:"sample,omitempty"`
	Judging quality.Counts         `json:"judging"`
	Metrics []quality.MetricStatus `json:"metrics"`
}

func (a *App) qualityOf(model string) *qualityView {
	m, _ := a.models.get(model)
	st := a.qualityTracker.Status(model)
	if m.Quality.Judge == "" && len(st) == 0 {
		return nil
	}
	return &qualityView{Judge: m.Quality.Judge, Sample: m.Quality.Sample, Judging: a.qualityScorer.Counts(model), Metrics: st}
}

// handleModelQuality answers GET /v1/models/{name}/quality.
func (a *App) handleModelQuality(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r); err != nil {
		return err
	}
	q := a.qualityOf(r.PathValue("name"))
	if q == nil {
		q = &qualityView{Metrics: []quality.MetricStatus{}}
	}
	httpx.WriteJSON(w, http.StatusOK, q)
	return nil
}
