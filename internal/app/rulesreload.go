package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/warden-ai/warden/internal/bus/jetstream"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/rules"
)

// rulesReloader reloads the rule files into the running engine (SIGHUP, POST /v1/rules/reload)
// and remembers how the last attempt went. A reload that fails leaves the running set in force.
type rulesReloader struct {
	mu       sync.Mutex // serialises reloads and guards the fields below
	loadedAt time.Time  // when the running set was loaded
	last     *ReloadStatus

	total      *prometheus.CounterVec
	successful prometheus.Gauge
	successAt  prometheus.Gauge
	loaded     prometheus.Gauge
}

// ReloadStatus is the outcome of one rule reload.
type ReloadStatus struct {
	Result string              `json:"result"` // "success" or "failure"
	At     time.Time           `json:"at"`
	By     string              `json:"by,omitempty"` // who asked ("signal" for SIGHUP)
	Errors []RuleLoadProblem   `json:"errors,omitempty"`
	Change *rules.ReloadResult `json:"change,omitempty"`
	// Nodes is, in the distributed mode, each process's own reload (result "success" only
	// when every process that answered reloaded).
	Nodes []NodeReload `json:"nodes,omitempty"`
}

// NodeReload is one process's answer to a cluster-wide rule reload.
type NodeReload struct {
	Node  string `json:"node"`  // roles@host/pid
	Roles string `json:"roles"` // the process's --role
	ReloadStatus
}

// RuleLoadProblem is one problem of a refused rule set, at file:line where known.
type RuleLoadProblem struct {
	Node    string `json:"node,omitempty"` // the process that refused it (distributed mode)
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func newRulesReloader(reg prometheus.Registerer, n int) *rulesReloader {
	f := promauto.With(reg)
	r := &rulesReloader{
		loadedAt:   time.Now().UTC(),
		total:      f.NewCounterVec(prometheus.CounterOpts{Name: "warden_rules_reload_total", Help: "Rule reloads (SIGHUP, POST /v1/rules/reload), by result: success or failure (the running set stays in force)."}, []string{"result"}),
		successful: f.NewGauge(prometheus.GaugeOpts{Name: "warden_rules_last_reload_successful", Help: "1 when the last rule reload succeeded (or none was attempted), 0 when it was refused."}),
		successAt:  f.NewGauge(prometheus.GaugeOpts{Name: "warden_rules_last_reload_success_timestamp_seconds", Help: "When the running rule set was loaded (Unix seconds)."}),
		loaded:     f.NewGauge(prometheus.GaugeOpts{Name: "warden_rules_loaded", Help: "Rules in the running set."}),
	}
	r.total.WithLabelValues("success")
	r.total.WithLabelValues("failure")
	r.successful.Set(1)
	r.successAt.Set(float64(r.loadedAt.Unix()))
	r.loaded.Set(float64(n))
	return r
}

// loadRuleSet reads the built-in pack and the configured rules directory, with the limits the
// configuration implies: no rule may count over a window longer than the shortest retention of
// detailed data.
func (a *App) loadRuleSet() (*rules.RuleSet, error) {
	var dirs []string
	if a.cfg.RulesDir != "" {
		dirs = append(dirs, a.cfg.RulesDir)
	}
	r := a.cfg.Retention
	return rules.LoadWith(rules.LoadOptions{MaxWindow: min(r.Critical, r.High, r.Medium, r.Low)}, true, dirs...)
}

// ErrRulesRefused wraps the error of a reload whose rule files did not load; the running set is
// still in force.
var ErrRulesRefused = errors.New("rule files refused; the running rules stay in force")

// ReloadRules re-reads the rule files and swaps them into the running engine. When they do not
// load, it returns an error wrapping ErrRulesRefused (and each problem, file:line) and the
// engine keeps the rules it had. by names who asked, for the log, the status and the audit
// trail. Every attempt is counted and logged.
func (a *App) ReloadRules(ctx context.Context, by string) (ReloadStatus, error) {
	rr := a.rulesReload
	rr.mu.Lock()
	defer rr.mu.Unlock()
	st := ReloadStatus{At: time.Now().UTC(), By: by}
	rs, err := a.loadRuleSet()
	var res rules.ReloadResult
	if err == nil {
		res, err = a.rules.Reload(rs)
	}
	if err != nil {
		st.Result = "failure"
		st.Errors = loadProblems(err)
		rr.last = &st
		rr.total.WithLabelValues(st.Result).Inc()
		rr.successful.Set(0)
		for _, p := range st.Errors {
			a.log.Error("rule reload refused; the running rules stay in force", "by", by, "file", p.File, "line", p.Line, "problem", p.Message)
		}
		a.auditAction(ctx, "rules_reload", map[string]any{"by": by, "result": st.Result, "problems": len(st.Errors)})
		return st, errors.Join(ErrRulesRefused, err)
	}
	a.reloadPartitionRules(rs)
	st.Result = "success"
	st.Change = &res
	rr.last = &st
	rr.loadedAt = st.At
	rr.total.WithLabelValues(st.Result).Inc()
	rr.successful.Set(1)
	rr.successAt.Set(float64(st.At.Unix()))
	rr.loaded.Set(float64(res.Rules))
	a.log.Info("rules reloaded", "by", by, "rules", res.Rules, "added", res.Added, "removed", res.Removed, "changed", res.Changed)
	a.auditAction(ctx, "rules_reload", map[string]any{"by": by, "result": st.Result, "rules": res.Rules,
		"added": len(res.Added), "removed": len(res.Removed), "changed": len(res.Changed)})
	return st, nil
}

// loadProblems lists the problems of a refused rule set, each at file:line where known.
func loadProblems(err error) []RuleLoadProblem {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]RuleLoadProblem, 0, len(errs))
	for _, e := range errs {
		var le *rules.LoadError
		if errors.As(e, &le) {
			out = append(out, RuleLoadProblem{File: le.File, Line: le.Line, Message: le.Msg})
			continue
		}
		out = append(out, RuleLoadProblem{Message: e.Error()})
	}
	return out
}

// rulesView is the answer of GET /v1/rules: the running set and the last reload.
type rulesView struct {
	LoadedAt   time.Time     `json:"loaded_at"`
	Rules      []ruleView    `json:"rules"`
	LastReload *ReloadStatus `json:"last_reload,omitempty"`
}

type ruleView struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

func (a *App) handleRules(w http.ResponseWriter, _ *http.Request) {
	rr := a.rulesReload
	rr.mu.Lock()
	v := rulesView{LoadedAt: rr.loadedAt, LastReload: rr.last}
	rr.mu.Unlock()
	for _, r := range a.rules.Rules() {
		v.Rules = append(v.Rules, ruleView{ID: r.ID, Version: r.Version, Severity: string(r.Severity), File: r.File, Line: r.Line})
	}
	httpx.WriteJSON(w, http.StatusOK, v)
}

// handleRulesReload answers 200 with the reload's status, or 422 naming every problem
// (file:line) of a refused set — the running rules stay in force.
func (a *App) handleRulesReload(w http.ResponseWriter, r *http.Request) {
	reload := a.ReloadRules
	if a.clustered() {
		reload = a.reloadClusterRules
	}
	st, err := reload(r.Context(), requestUser(r))
	if errors.Is(err, jetstream.ErrUnavailable) {
		httpx.WriteError(w, r, http.StatusServiceUnavailable, "bus_unavailable", "NATS is not reachable: the reload could not reach the other processes; nothing was reloaded")
		return
	}
	if err == nil {
		httpx.WriteJSON(w, http.StatusOK, st)
		return
	}
	first := st.Errors[0]
	e := httpx.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_rules", Message: first.Message, Field: first.File, Line: first.Line}
	if first.File != "" {
		e.Message = (&rules.LoadError{File: first.File, Line: first.Line, Msg: first.Message}).Error()
	}
	if first.Node != "" {
		e.Message = first.Node + ": " + e.Message
	}
	e.Message += " (the running rules stay in force)"
	httpx.WriteJSON(w, http.StatusUnprocessableEntity, struct {
		Error     httpx.Error  `json:"error"`
		Reload    ReloadStatus `json:"reload"`
		RequestID string       `json:"request_id,omitempty"`
	}{e, st, httpx.RequestID(r.Context())})
}

// rulesReloadControl is the control request (internal/bus/jetstream) every process of the
// distributed mode answers by reloading its own rule files.
const rulesReloadControl = "rules.reload"

// controlWait is how long a cluster-wide reload collects the processes' answers.
const controlWait = 2 * time.Second

// reloadClusterRules reloads the rule files in every process of the distributed mode (each
// reads its own rules_dir: deploy the files to every node first) and reports each process's
// outcome. Any process that refused its files makes the whole reload a failure, naming the
// process; the processes that did reload keep the new set (their files loaded), the others keep
// their running set. It returns an error wrapping jetstream.ErrUnavailable when NATS is down.
func (a *App) reloadClusterRules(ctx context.Context, by string) (ReloadStatus, error) {
	st := ReloadStatus{At: time.Now().UTC(), By: by, Result: "success"}
	req, err := json.Marshal(struct {
		By string `json:"by"`
	}{by})
	if err != nil {
		return st, err
	}
	replies, err := a.cl.bus.Gather(ctx, rulesReloadControl, req, controlWait)
	if err != nil {
		return st, err
	}
	for _, b := range replies {
		var n NodeReload
		if err := json.Unmarshal(b, &n); err != nil {
			st.Result = "failure"
			st.Errors = append(st.Errors, RuleLoadProblem{Message: "unreadable answer from a process: " + err.Error()})
			continue
		}
		if n.Result != "success" {
			st.Result = "failure"
		}
		for _, p := range n.Errors {
			p.Node = n.Node
			st.Errors = append(st.Errors, p)
		}
		st.Nodes = append(st.Nodes, n)
	}
	slices.SortFunc(st.Nodes, func(x, y NodeReload) int { return strings.Compare(x.Node, y.Node) })
	if len(st.Nodes) == 0 {
		st.Result = "failure"
		st.Errors = append(st.Errors, RuleLoadProblem{Message: "no process answered the reload within " + controlWait.String()})
	}
	rr := a.rulesReload
	rr.mu.Lock()
	rr.last = &st
	rr.mu.Unlock()
	a.log.Info("cluster rule reload", "by", by, "result", st.Result, "processes", len(st.Nodes), "problems", len(st.Errors))
	if st.Result != "success" {
		return st, fmt.Errorf("%w: %d problem(s) in %d process(es)", ErrRulesRefused, len(st.Errors), len(st.Nodes))
	}
	return st, nil
}

// answerRulesReload is this process's part of a cluster-wide reload: reload its own files and
// say how it went.
func (a *App) answerRulesReload(req []byte) []byte {
	var q struct {
		By string `json:"by"`
	}
	_ = json.Unmarshal(req, &q) // a request without a name still reloads; by stays empty
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, _ := a.ReloadRules(ctx, q.By) // the outcome, refusal included, travels in st
	b, err := json.Marshal(NodeReload{Node: a.cl.bus.Name(), Roles: a.roles.String(), ReloadStatus: st})
	if err != nil {
		a.log.Error("rule reload answer not encoded", "err", err)
	}
	return b
}
