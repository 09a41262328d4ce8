package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/analyze/extraction"
	"github.com/warden-ai/warden/internal/bus"
	"github.com/warden-ai/warden/internal/bus/jetstream"
	"github.com/warden-ai/warden/internal/pipeline"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/worker"
)

// Roles of the distributed mode (docs/SCALE-OUT.md). RoleAll is the embedded default: every
// component in one process.
const (
	RoleAll     = "all"
	RoleGateway = "gateway"
	RoleIngest  = "ingest"
	RoleWorker  = "worker"
	RoleAPI     = "api"
)

// KnownRoles lists the roles --role accepts.
var KnownRoles = []string{RoleAll, RoleGateway, RoleIngest, RoleWorker, RoleAPI}

// Roles is the set of roles one process runs.
type Roles []string

// ParseRoles parses a comma-separated role list ("ingest,api"); empty means all.
func ParseRoles(s string) (Roles, error) {
	var rs Roles
	for r := range strings.SplitSeq(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(KnownRoles, r) {
			return nil, fmt.Errorf("unknown role %q (one of %s)", r, strings.Join(KnownRoles, ", "))
		}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		rs = Roles{RoleAll}
	}
	return rs, nil
}

// Has reports whether the process runs role r (RoleAll runs every role).
func (rs Roles) Has(r string) bool { return slices.Contains(rs, RoleAll) || slices.Contains(rs, r) }

// All reports whether this is the all-in-one process.
func (rs Roles) All() bool { return len(rs) == 0 || slices.Contains(rs, RoleAll) }

func (rs Roles) String() string { return strings.Join(rs, ",") }

// cluster is the distributed mode's state of one process.
type cluster struct {
	bus      *jetstream.Bus
	appender *jetstream.Appender // api role
	workers  *jetstream.Workers  // worker role: partition ownership
	// alertApplier feeds the alerts the workers raise to this process's alert manager while it
	// holds the alerts lease (api role).
	alertApplier *jetstream.AlertApplier
	// alertStats count the worker role's alert publishing (ALERTS stream).
	alertStats jetstream.AlertStats

	// engines are the rules engines of the owned partitions, reloaded with the process's own.
	engMu       sync.Mutex
	engines     map[int]*rules.Engine
	indexFailed atomic.Bool // worker role: the last index write failed
}

// clustered reports whether this process talks to its peers through NATS JetStream.
func (a *App) clustered() bool { return a.cl != nil }

// checkRoles refuses role lists that need the nats bus without it.
func (a *App) checkRoles() error {
	if !a.roles.All() && a.cfg.Bus.Driver != "nats" {
		return fmt.Errorf("--role %s needs the distributed mode: set bus: {driver: nats, url: …} and store: {driver: postgres, dsn: …} in the config", a.roles)
	}
	return nil
}

// needsIndexStore reports whether this process reads or writes the shared index store; ingest
// and gateway processes do not, so they keep accepting events while PostgreSQL is down.
func (a *App) needsIndexStore() bool {
	return !a.clustered() || a.roles.Has(RoleAPI) || a.roles.Has(RoleWorker)
}

// openBus connects to NATS JetStream when the config asks for it; an unreachable server is an
// error naming its URL.
func (a *App) openBus(ctx context.Context) error {
	if a.cfg.Bus.Driver != "nats" {
		return nil
	}
	host, _ := os.Hostname()
	b, err := jetstream.Open(ctx, jetstream.Options{
		URL: a.cfg.Bus.URL, Stream: a.cfg.Bus.Stream, Replicas: a.cfg.Bus.Replicas, Partitions: a.cfg.Bus.Partitions,
		Name: fmt.Sprintf("warden %s@%s/%d", a.roles, host, os.Getpid()), Logger: a.log,
		LeaseTTL: a.cfg.Bus.LeaseTTL, AckWait: a.cfg.Bus.AckWait,
	})
	if err != nil {
		return err
	}
	a.cl = &cluster{bus: b, engines: map[int]*rules.Engine{}}
	a.cleanups = append(a.cleanups, b.Close)
	return nil
}

// publisher is where the pipeline makes events durable: the local audit log, or the stream.
func (a *App) publisher() pipeline.Publisher {
	if a.clustered() {
		return a.cl.bus
	}
	return bus.NewInproc(a.audit)
}

// startCluster starts the background stages of this process's roles: the audit-log appender
// (api) and the index and analysis consumer (worker).
func (a *App) startCluster(ctx context.Context) error {
	stop, err := a.cl.bus.HandleControl(rulesReloadControl, a.answerRulesReload)
	if err != nil {
		return err
	}
	a.cleanups = append(a.cleanups, stop)
	if a.roles.Has(RoleAPI) {
		ap, err := a.cl.bus.NewAppender(jetstream.AppenderOptions{
			Log: a.audit, PositionFile: filepath.Join(a.opts.DataDir, "bus.position"),
		})
		if err != nil {
			return err
		}
		a.cl.appender = ap
		a.goRun("appender", func() error { return ap.Run(ctx) })
		aa, err := a.cl.bus.NewAlertApplier(jetstream.AlertApplierOptions{
			Apply: a.applyClusterAlert, PositionFile: filepath.Join(a.opts.DataDir, "alerts", "stream.position"),
		})
		if err != nil {
			return err
		}
		a.cl.alertApplier = aa
		a.goRun("alert applier", func() error { return aa.Run(ctx) })
	}
	if a.roles.Has(RoleWorker) {
		ws, err := a.cl.bus.NewWorkers(jetstream.WorkerOptions{Open: a.openPartition, Failing: &a.cl.indexFailed})
		if err != nil {
			return err
		}
		a.cl.workers = ws
		a.goRun("worker", func() error { return ws.Run(ctx) })
		st := &a.cl.alertStats
		if err := registerAll(a.reg,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "warden_cluster_alerts_published_total", Help: "Alert raises and resolutions this worker stored in the ALERTS stream."},
				func() float64 { return float64(st.Published.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "warden_cluster_alert_publish_failures_total", Help: "Failed attempts to store a partition's alerts in the ALERTS stream (kept and retried)."},
				func() float64 { return float64(st.Failed.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "warden_cluster_alerts_overflowed_total", Help: "Alert messages dropped from a full partition outbox (raised again from the partition's replay)."},
				func() float64 { return float64(st.Overflow.Load()) }),
		); err != nil {
			return err
		}
	}
	return nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register cluster metrics: %w", err)
		}
	}
	return nil
}

// partitionAnalysis is the worker role's work on one owned partition: index its entries in the
// shared store, then analyse them with analyzers of the partition's own (their state moves
// with the partition when another worker takes it over).
type partitionAnalysis struct {
	a *App
	p int
	w *worker.Worker
	// out holds the partition's raises and resolutions until the ALERTS stream has them; the
	// state is stored (and the entries acknowledged) only after it is flushed.
	out *jetstream.AlertOutbox
	// resolvedAt is when each queued resolution's condition cleared (its message id).
	resMu      sync.Mutex
	resolvedAt map[string]time.Time
}

// openPartition builds the analysis of partition p (scanner shared; analyzer, extraction
// detector and rules engine of its own) and restores it from the partition's state.
func (a *App) openPartition(p int, state []byte) (jetstream.Partition, error) {
	an, err := analyze.New(a.analyzeOptions(nil))
	if err != nil {
		return nil, err
	}
	xd, err := extraction.New(a.extractionOptions(nil))
	if err != nil {
		return nil, err
	}
	pa := &partitionAnalysis{a: a, p: p, out: a.cl.bus.NewAlertOutbox(0, &a.cl.alertStats), resolvedAt: map[string]time.Time{}}
	a.cl.engMu.Lock()
	re, err := rules.New(a.ruleSet, a.rulesOptions(nil, pa.resolved))
	if err == nil {
		a.cl.engines[p] = re
	}
	a.cl.engMu.Unlock()
	if err != nil {
		return nil, err
	}
	pa.w, err = worker.New(worker.Options{
		Log: a.audit, Scanner: a.scanner, Analyzer: an, Extraction: xd, Rules: re, RulesState: re,
		Alerts: pa.raise, Resolve: pa.resolve, Models: a.models.get, Sample: a.qualityScorer.Offer,
		Detections: a.recordDetections, Logger: a.log.With("partition", p),
	})
	if err != nil {
		return nil, err
	}
	if err := pa.w.RestoreState(state); err != nil {
		return nil, err
	}
	return pa, nil
}

// resolved is the partition's rules engine reporting a cleared condition: the worker delivers
// it after the alerts of the same batch (resolve).
func (pa *partitionAnalysis) resolved(key string, at time.Time) {
	pa.resMu.Lock()
	pa.resolvedAt[key] = at
	pa.resMu.Unlock()
	pa.w.QueueResolved(key)
}

// raise queues the partition's alerts for the ALERTS stream: workers do not manage alerts, the
// api process holding the alerts lease does, for the whole cluster.
func (pa *partitionAnalysis) raise(_ context.Context, alerts []alert.Alert) {
	msgs := make([]jetstream.AlertMsg, len(alerts))
	for i, al := range alerts {
		msgs[i] = jetstream.RaiseMsg(al)
	}
	pa.out.Add(msgs...)
}

// resolve queues the partition's cleared conditions for the ALERTS stream.
func (pa *partitionAnalysis) resolve(_ context.Context, keys []string) {
	msgs := make([]jetstream.AlertMsg, len(keys))
	pa.resMu.Lock()
	for i, k := range keys {
		msgs[i] = jetstream.ResolveMsg(k, pa.resolvedAt[k])
		delete(pa.resolvedAt, k)
	}
	pa.resMu.Unlock()
	pa.out.Add(msgs...)
}

// flushAlerts publishes what the partition raised; a failure keeps it for the next try (the
// state, and so the entries' acknowledgement, waits for it).
func (pa *partitionAnalysis) flushAlerts(ctx context.Context) {
	if pa.out.Len() == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := pa.out.Flush(fctx); err != nil {
		pa.a.log.Warn("alerts not yet in the ALERTS stream; kept and retried", "partition", pa.p, "waiting", pa.out.Len(), "err", err)
	}
}

// applyClusterAlert is the api role's alert applier: one message of the ALERTS stream to this
// process's alert manager — the cluster's, while this process holds the alerts lease. The
// manager de-duplicates by dedup key: a raise of an alert still open (another worker's, or
// the same raise replayed) updates it and notifies nothing new.
func (a *App) applyClusterAlert(ctx context.Context, m jetstream.AlertMsg) error {
	var err error
	switch m.Kind {
	case jetstream.AlertRaise:
		err = a.alerts.Receive(ctx, []alert.Alert{*m.Alert})
	case jetstream.AlertResolve:
		_, err = a.alerts.ResolveCondition(ctx, m.DedupKey)
	}
	var fe *lifecycle.FieldError
	if errors.As(err, &fe) {
		a.log.Error("alert from the ALERTS stream refused; skipped", "kind", m.Kind, "err", err)
		return nil
	}
	return err
}

// Handle indexes the entries, then analyses them. An index failure leaves the batch with the
// partition (retried; after a hand-over, the next owner's first batch).
func (pa *partitionAnalysis) Handle(ctx context.Context, es []bus.Entry) error {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := pa.a.indexer.ApplyEntries(ictx, es); err != nil {
		return fmt.Errorf("index store: %w", err)
	}
	pa.w.Analyze(ctx, es)
	pa.flushAlerts(ctx)
	return nil
}

func (pa *partitionAnalysis) Tick(ctx context.Context) {
	pa.w.Tick(ctx)
	pa.flushAlerts(ctx)
}

// State is stored before the entries it covers are acknowledged; the alerts they raised must
// be in the ALERTS stream first. A failure makes the worker give the partition up and resume
// it from its last stored state: the entries are analysed again and their alerts raised again
// (same message ids: stored once).
func (pa *partitionAnalysis) State() ([]byte, error) {
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pa.out.Flush(fctx); err != nil {
		return nil, fmt.Errorf("alerts of partition %d: %w", pa.p, err)
	}
	return pa.w.State()
}

func (pa *partitionAnalysis) Close() {
	pa.a.cl.engMu.Lock()
	delete(pa.a.cl.engines, pa.p)
	pa.a.cl.engMu.Unlock()
}

// reloadPartitionRules puts a reloaded rule set into the owned partitions' engines, and into
// those of partitions taken over from now on.
func (a *App) reloadPartitionRules(rs *rules.RuleSet) {
	if !a.clustered() {
		return
	}
	a.cl.engMu.Lock()
	defer a.cl.engMu.Unlock()
	a.ruleSet = rs
	for p, e := range a.cl.engines {
		if _, err := e.Reload(rs); err != nil {
			a.log.Error("partition rules not reloaded", "partition", p, "err", err)
		}
	}
}

// clusterReadiness adds the distributed mode's checks: NATS reachable, and for workers an index
// store that takes writes (its lag is reported while it does not).
func (a *App) clusterReadiness(ctx context.Context, failed map[string]string) {
	if !a.cl.bus.Connected() {
		failed["bus"] = fmt.Sprintf("NATS at %s is unreachable; ingest answers 503 until it is back", a.cl.bus.URL())
	}
	if a.roles.Has(RoleWorker) {
		if _, err := a.store.Position(ctx); err != nil || a.cl.indexFailed.Load() {
			lag, _ := a.cl.bus.WorkerLag(ctx)
			failed["index"] = fmt.Sprintf("the index store cannot be written; %d appended entries wait (index lag)", lag)
		}
	}
}

// clusterCounts are the distributed mode's lags, for a caller with a token.
func (a *App) clusterCounts(ctx context.Context, body map[string]any) {
	body["roles"] = a.roles.String()
	if lag, err := a.cl.bus.WorkerLag(ctx); err == nil {
		body["index_lag"] = lag
	}
	if ws := a.cl.workers; ws != nil {
		body["partitions_owned"] = ws.Owned()
		body["alerts_published"] = a.cl.alertStats.Published.Load()
		body["alerts_publish_failures"] = a.cl.alertStats.Failed.Load()
		body["alerts_overflowed"] = a.cl.alertStats.Overflow.Load()
	}
	if ap := a.cl.appender; ap != nil {
		body["appender_leader"] = ap.Leader()
		body["append_lag"] = ap.Lag(ctx)
		body["audit_entries"] = a.audit.Size()
	}
	if aa := a.cl.alertApplier; aa != nil {
		body["alerts_leader"] = aa.Leader()
		body["alerts_lag"] = aa.Lag(ctx)
	}
}

// serves reports whether this process answers an API route: ingest routes on ingest
// processes, health checks and metrics everywhere, everything else on api processes.
func (a *App) serves(pattern string) bool {
	if !a.clustered() || a.roles.All() {
		return true
	}
	switch pattern {
	case "GET /healthz", "GET /readyz", "GET /metrics":
		return true
	case "POST /v1/events", "POST /v1/traces":
		return a.roles.Has(RoleIngest)
	}
	return a.roles.Has(RoleAPI)
}
