package analyze

import (
	"fmt"
	"time"

	"github.com/warden-ai/warden/internal/event"
)

// Silence detection (kind system_down): a model whose traffic arrived live and steadily stops
// sending events. A hard outage of an upstream shows as failing requests (the event rule
// warden.ops.system_down); an outage in front of it — the gateway, the application, the path to
// Warden — shows as silence, which only a detector that knows the model's usual traffic can
// notice.
const (
	downLookback      = 15              // minutes of traffic kept before the silence
	downActiveMinutes = 10              // of which at least this many saw traffic ...
	downMinEvents     = 30              // ... with at least this many events in all
	downMaxLag        = 2 * time.Minute // an event older than this on arrival is not live
)

// liveness is a model's recent per-minute traffic in event time, for silence detection.
type liveness struct {
	Minutes [downLookback]uint32 `json:"minutes"` // events per minute, ring by absolute minute
	Minute  int64                `json:"minute"`  // absolute minute (Unix/60) of the newest slot
	Last    time.Time            `json:"last"`    // time of the newest event
	// Open: a system_down was reported and the model has not sent a live event since.
	Open bool `json:"open,omitempty"`
	// live: the newest event arrived within downMaxLag of its time. Not persisted: after a
	// restart (when Warden itself was away) only a new live event re-arms the detector.
	live bool
}

// observe records an inference event that arrived at now (wall clock). It returns the
// recovery of an open system_down when the event is live.
func (l *liveness) observe(ev *event.Event, now time.Time, m *modelState) (Detection, bool) {
	live := now.Sub(ev.Time) <= downMaxLag && ev.Time.Sub(now) <= downMaxLag
	mn := ev.Time.Unix() / 60
	switch {
	case l.Minute == 0:
		l.Minute = mn
	case mn > l.Minute:
		for x := l.Minute + 1; x <= mn && x <= l.Minute+downLookback; x++ {
			l.Minutes[x%downLookback] = 0
		}
		l.Minute = mn
	}
	if mn > l.Minute-downLookback {
		l.Minutes[mn%downLookback]++
	}
	if ev.Time.After(l.Last) {
		l.Last = ev.Time
		l.live = live
	}
	if !l.Open || !live {
		return Detection{}, false
	}
	l.Open = false
	return Detection{Kind: KindSystemDown, Model: m.Name, Time: ev.Time, Statistic: "silence_minutes", Recovered: true,
		EventIDs: idList(ev), Message: fmt.Sprintf("model %s is sending events again", m.Name)}, true
}

// recent counts the events and the minutes with traffic in the lookback before the newest event.
func (l *liveness) recent() (events, minutes int) {
	for _, c := range l.Minutes {
		if c > 0 {
			events += int(c)
			minutes++
		}
	}
	return events, minutes
}

// downCheck reports a system_down when m's live, steady traffic has been silent for
// Options.SystemDownAfter at now — unless the model's hour-of-week history shows that this hour
// is normally quiet.
func (a *Analyzer) downCheck(m *modelState, now time.Time, out []Detection) []Detection {
	l := &m.Live
	if !l.live || l.Open || l.Last.IsZero() {
		return out
	}
	silence := now.Sub(l.Last)
	if silence < a.opts.SystemDownAfter {
		return out
	}
	events, minutes := l.recent()
	if events < downMinEvents || minutes < downActiveMinutes {
		return out
	}
	hr := now.Unix() / 3600
	if p := m.Volume.peers(hr); len(p) >= minVolumePeers {
		if _, med, _ := robustZ(0, p); med < 1 {
			return out // this hour of the week is normally quiet
		}
	}
	l.Open = true
	return append(out, Detection{Kind: KindSystemDown, Model: m.Name, Time: now, Statistic: "silence_minutes",
		Value: silence.Minutes(), Threshold: a.opts.SystemDownAfter.Minutes(), Windows: fmt.Sprintf("%dm before %s", downLookback, l.Last.UTC().Format(time.RFC3339)),
		Values: map[string]float64{"requests_before": float64(events), "active_minutes": float64(minutes)},
		Message: fmt.Sprintf("model %s has sent no events for %s after %d requests in the %d minutes before (%d of them with traffic): its endpoint, the gateway or the path to Warden may be down",
			m.Name, silence.Round(time.Second), events, downLookback, minutes)})
}
