package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/probe"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/store"
)

// probes is the active-assessment component: packs, the runner (through the gateway's own
// route under the reserved probe identity), the tracker that feeds the rules, the scheduler.
type probes struct {
	secret    string // the probe identity's bearer secret; in memory only, never logged
	packs     []*probe.Pack
	tracker   *probe.Tracker
	scheduler *probe.Scheduler
	client    *http.Client

	mu    sync.Mutex
	slots map[string]chan struct{} // per model: holds a token while a run is in progress
}

// slot returns the model's run slot: one run per model at a time.
func (p *probes) slot(model string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.slots[model]
	if ch == nil {
		ch = make(chan struct{}, 1)
		p.slots[model] = ch
	}
	return ch
}

// maxProbeRun bounds one probe run, scheduled or on demand.
const maxProbeRun = 10 * time.Minute

// buildProbes loads the packs (a bad pack file is logged with file:line and skipped) and
// creates the tracker; it runs before the gateway and the analysis worker are built.
func (a *App) buildProbes() error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("probe identity secret: %w", err)
	}
	p := &probes{secret: "wp-" + hex.EncodeToString(b[:]), slots: map[string]chan struct{}{},
		client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}}
	builtin, err := probe.Builtin()
	if err != nil {
		return fmt.Errorf("built-in probe packs: %w", err)
	}
	var extra []*probe.Pack
	if a.cfg.ProbesDir != "" {
		var errs []error
		extra, errs = probe.LoadDir(a.cfg.ProbesDir)
		for _, err := range errs {
			a.log.Error("probe pack skipped", "err", err)
		}
	}
	p.packs = probe.Merge(builtin, extra)
	p.tracker = probe.NewTracker(probe.TrackerOptions{Threshold: func(model string) float64 {
		m, _ := a.models.get(model)
		return m.Probes.PassRate
	}})
	p.scheduler, err = probe.NewScheduler(probe.SchedulerOptions{
		Models: a.dueProbes,
		Run: func(ctx context.Context, model string) error {
			_, err := a.RunProbes(ctx, model, nil, "schedule")
			return err
		},
		StateFile: filepath.Join(a.opts.DataDir, "state", "probes.json"),
		Logger:    a.log,
	})
	if err != nil {
		return err
	}
	a.probes = p
	a.cleanups = append(a.cleanups, func() error { p.client.CloseIdleConnections(); return nil })
	a.routes = append(a.routes,
		route{"GET /v1/models/{name}/probes", a.admin(httpx.Handle(a.log, a.handleProbeHistory))},
		route{"POST /v1/models/{name}/probes/run", a.admin(httpx.Handle(a.log, a.handleProbeRun))},
		route{"GET /v1/probes/packs", a.admin(httpx.Handle(a.log, a.handleProbePacks))},
	)
	return nil
}

// dueProbes lists the opted-in models with their cadence.
func (a *App) dueProbes() []probe.Due {
	var out []probe.Due
	for _, m := range a.models.list() {
		if !m.Probes.Enabled {
			continue
		}
		iv := m.Probes.Interval
		if iv <= 0 {
			iv = config.DefaultProbeInterval(config.RiskTier(m.RiskTier))
		}
		out = append(out, probe.Due{Model: m.Name, Interval: iv})
	}
	return out
}

// RunProbes runs the model's packs (or the named ones) now through the gateway's route and
// records every result as a probe event.
func (a *App) RunProbes(ctx context.Context, model string, packs []string, trigger string) (*probe.Report, error) {
	m, ok := a.models.get(model)
	if !ok {
		return nil, httpx.Invalid("name", "model "+model+" is not in the inventory")
	}
	if len(packs) == 0 {
		packs = m.Probes.Packs
	}
	sel, err := probe.Select(a.probes.packs, packs)
	if err != nil {
		return nil, httpx.Invalid("packs", err.Error())
	}
	if a.GatewayAddr() == "" {
		return nil, &httpx.Error{Status: http.StatusServiceUnavailable, Code: "gateway_off", Message: "probes go through the gateway's route, and the gateway is not listening in this process"}
	}
	ctx, cancel := context.WithTimeout(ctx, maxProbeRun)
	defer cancel()
	// A run already in progress for the model (scheduled or on demand) finishes first.
	slot := a.probes.slot(model)
	select {
	case slot <- struct{}{}:
		defer func() { <-slot }()
	case <-ctx.Done():
		return nil, &httpx.Error{Status: http.StatusServiceUnavailable, Code: "busy", Field: "name", Message: "another probe run of this model did not finish in time"}
	}
	runner, err := probe.NewRunner(probe.Options{
		Target:  &probe.GatewayTarget{BaseURL: "http://" + a.GatewayAddr(), Secret: a.probes.secret, HTTP: a.probes.client},
		Scanner: a.scanner,
		Emit:    a.emitValidated,
		Logger:  a.log,
	})
	if err != nil {
		return nil, err
	}
	rep, err := runner.Run(ctx, probe.Spec{
		Model: m.Name, Tier: m.RiskTier, SystemPrompt: m.SystemPrompt, Canaries: m.Canaries,
		InputPerMTok: m.Price.InputPerMTok, OutputPerMTok: m.Price.OutputPerMTok, Packs: sel, Trigger: trigger,
		Caps: probe.Caps{MaxRequests: m.Probes.MaxRequests, MaxTokens: m.Probes.MaxTokens, MaxSpendUSD: m.Probes.MaxSpendUSD, Timeout: m.Probes.Timeout},
	})
	if trigger != "schedule" && err == nil {
		a.probes.scheduler.Ran(model, rep.Started)
	}
	return rep, err
}

// emitValidated appends events the process made itself, checked against the schema first.
func (a *App) emitValidated(ctx context.Context, evs []*event.Event) error {
	for i, ev := range evs {
		if err := ev.Validate(); err != nil {
			return fmt.Errorf("probe event %d: %w", i, err)
		}
	}
	return a.pipeline.Emit(ctx, evs)
}

func (a *App) handleProbeRun(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Packs []string `json:"packs"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	// A run outlasts the API's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(maxProbeRun + time.Minute))
	rep, err := a.RunProbes(r.Context(), r.PathValue("name"), body.Packs, "manual")
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (a *App) handleProbePacks(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r); err != nil {
		return err
	}
	type packView struct {
		Name        string         `json:"pack"`
		Description string         `json:"description,omitempty"`
		Source      string         `json:"source"`
		Probes      int            `json:"probes"`
		Families    map[string]int `json:"families"`
	}
	out := []packView{}
	for _, p := range a.probes.packs {
		v := packView{Name: p.Name, Description: p.Description, Source: p.Source, Probes: len(p.Probes), Families: map[string]int{}}
		for _, pr := range p.Probes {
			v.Families[pr.Family]++
		}
		out = append(out, v)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"packs": out})
	return nil
}

// onlyParams refuses query parameters other than allowed (400 naming the first unknown one).
func onlyParams(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return httpx.Invalid(k, "unknown query parameter")
		}
	}
	return nil
}

// probeRun is one run's totals in the history.
type probeRun struct {
	Run      string    `json:"run"`
	Time     time.Time `json:"time"`
	Trigger  string    `json:"trigger,omitempty"`
	Resisted int       `json:"resisted"`
	Failed   int       `json:"failed"`
	Errors   int       `json:"errors"`
	PassRate *float64  `json:"pass_rate"` // resisted / (resisted + failed); null when every result was an error
}

// familyHistory is one family's pass rate now and per run.
type familyHistory struct {
	Family   string     `json:"family"`
	PassRate *float64   `json:"pass_rate"` // over the latest verdict of each of its probes
	Probes   int        `json:"probes"`
	Failing  int        `json:"failing"`
	Runs     []probeRun `json:"runs"` // oldest first
}

// handleProbeHistory answers GET /v1/models/{name}/probes[?since=T|DUR]: per family, the
// current pass rate and the pass rate of every run in the window (default 30 days).
func (a *App) handleProbeHistory(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r, "since"); err != nil {
		return err
	}
	model := r.PathValue("name")
	since := time.Now().Add(-30 * 24 * time.Hour)
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := httpx.ParseTime(s, time.Now())
		if err != nil {
			return httpx.Invalid("since", err.Error())
		}
		since = t
	}
	runs := map[string]map[string]*probeRun{} // family → run → totals
	overall := map[string]*probeRun{}
	q := store.Query{Model: model, Type: string(event.TypeProbe), Since: since, Limit: 500}
	for n := 0; n < 40; n++ { // at most 20,000 results
		page, err := a.store.Search(r.Context(), q)
		if err != nil {
			return fmt.Errorf("probe history: %w", err)
		}
		for _, ev := range page.Events {
			if ev.Probe == nil {
				continue
			}
			fam, _ := ev.Attributes[probe.AttrFamily].(string)
			run, _ := ev.Attributes[probe.AttrRun].(string)
			res, _ := ev.Attributes[probe.AttrResult].(string)
			trig, _ := ev.Attributes[probe.AttrTrigger].(string)
			if fam == "" {
				fam = ev.Probe.Technique
			}
			if res == "" && ev.Passed != nil {
				res = map[bool]string{true: string(probe.Resisted), false: string(probe.Failed)}[*ev.Passed]
			}
			for _, pr := range []*probeRun{runEntry(sub(runs, fam), run, ev.Time, trig), runEntry(overall, run, ev.Time, trig)} {
				switch probe.Result(res) {
				case probe.Resisted:
					pr.Resisted++
				case probe.Failed:
					pr.Failed++
				default:
					pr.Errors++
				}
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	status := map[string]familyHistory{}
	for _, st := range a.probes.tracker.Status(model) {
		rate := st.PassRate
		status[st.Family] = familyHistory{Family: st.Family, PassRate: &rate, Probes: st.Probes, Failing: st.Failing}
	}
	for fam := range runs {
		if _, ok := status[fam]; !ok {
			status[fam] = familyHistory{Family: fam}
		}
	}
	fams := make([]familyHistory, 0, len(status))
	for fam, fh := range status {
		fh.Runs = sortedRuns(runs[fam])
		fams = append(fams, fh)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].Family < fams[j].Family })
	m, _ := a.models.get(model)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"model": model, "enabled": m.Probes.Enabled, "since": since.UTC(),
		"families": fams, "runs": sortedRuns(overall),
	})
	return nil
}

func sub(m map[string]map[string]*probeRun, k string) map[string]*probeRun {
	if m[k] == nil {
		m[k] = map[string]*probeRun{}
	}
	return m[k]
}

func runEntry(m map[string]*probeRun, run string, t time.Time, trigger string) *probeRun {
	pr := m[run]
	if pr == nil {
		pr = &probeRun{Run: run, Time: t, Trigger: trigger}
		m[run] = pr
	}
	if t.Before(pr.Time) {
		pr.Time = t
	}
	return pr
}

func sortedRuns(m map[string]*probeRun) []probeRun {
	out := make([]probeRun, 0, len(m))
	for _, pr := range m {
		if n := pr.Resisted + pr.Failed; n > 0 {
			v := float64(pr.Resisted) / float64(n)
			pr.PassRate = &v
		}
		out = append(out, *pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// probeSeries returns, per model and probe family, the pass rate of every run in [from, to)
// (resisted / (resisted + failed)), for the reports' trends.
func (a *App) probeSeries(ctx context.Context, from, to time.Time) ([]report.Series, error) {
	type key struct{ model, family string }
	runs := map[key]map[string]*probeRun{}
	q := store.Query{Type: string(event.TypeProbe), Since: from, Until: to, Limit: 500}
	for n := 0; n < 100; n++ { // at most 50,000 results
		page, err := a.store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("probe series: %w", err)
		}
		for _, ev := range page.Events {
			fam, _ := ev.Attributes[probe.AttrFamily].(string)
			run, _ := ev.Attributes[probe.AttrRun].(string)
			res, _ := ev.Attributes[probe.AttrResult].(string)
			if fam == "" || run == "" {
				continue
			}
			k := key{ev.Model.Name, fam}
			if runs[k] == nil {
				runs[k] = map[string]*probeRun{}
			}
			pr := runEntry(runs[k], run, ev.Time, "")
			switch probe.Result(res) {
			case probe.Resisted:
				pr.Resisted++
			case probe.Failed:
				pr.Failed++
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	keys := make([]key, 0, len(runs))
	for k := range runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].model != keys[j].model {
			return keys[i].model < keys[j].model
		}
		return keys[i].family < keys[j].family
	})
	var out []report.Series
	for _, k := range keys {
		thr := probe.DefaultPassRate
		if m, ok := a.models.get(k.model); ok && m.Probes.PassRate > 0 {
			thr = m.Probes.PassRate
		}
		s := report.Series{Model: k.model, Kind: "probe", Metric: k.family + " pass rate", Threshold: thr}
		for _, pr := range sortedRuns(runs[k]) {
			if pr.PassRate != nil {
				s.Points = append(s.Points, report.Point{T: pr.Time, V: *pr.PassRate})
			}
		}
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}
