// Package app is Warden's composition root: it opens the data directory, builds every component
// from Options and the YAML configuration, wires them (audit log → index store and analysis;
// gateway and ingest → the durable pipeline; rules → alerts → notifiers and containment), serves
// the API and gateway listeners, and stops everything in order. Tests start the same App on
// 127.0.0.1:0; cmd/warden only parses flags and calls Run.
package app

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/auth"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/console"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/gateway"
	"github.com/warden-ai/warden/internal/incident"
	"github.com/warden-ai/warden/internal/index"
	"github.com/warden-ai/warden/internal/ingest"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/listener"
	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/pipeline"
	"github.com/warden-ai/warden/internal/quality"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/rollup"
	"github.com/warden-ai/warden/internal/rules"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/store/postgres"
	"github.com/warden-ai/warden/internal/store/sqlite"
	"github.com/warden-ai/warden/internal/users"
	"github.com/warden-ai/warden/internal/worker"
)

type route struct {
	pattern string
	handler http.Handler
}

// Options are the process settings (flags); behaviour comes from the config file.
type Options struct {
	DataDir       string
	Listen        string // API and console; default 127.0.0.1:7700
	GatewayListen string // OpenAI-compatible gateway; default 127.0.0.1:7701; "off" disables it
	Config        *config.Config
	Logger        *slog.Logger
	Getenv        func(string) string
	// SigningKeyFile is the audit log's signing key kept outside the data directory
	// (default $WARDEN_SIGNING_KEY_FILE; empty: <data>/log/log.key).
	SigningKeyFile string
	// ShutdownTimeout bounds Stop; default 15 s.
	ShutdownTimeout time.Duration
	// Roles this process runs (--role); empty: all. Any other than all needs bus.driver nats.
	Roles Roles

	// auditSync replaces the audit log's fsync, for fault injection in tests.
	auditSync func(*os.File) error
}

// DefaultOptions returns the defaults of docs/ARCHITECTURE.md §5.
func DefaultOptions() Options {
	return Options{DataDir: "./warden-data", Listen: "127.0.0.1:7700", GatewayListen: "127.0.0.1:7701"}
}

func (o *Options) setDefaults() {
	d := DefaultOptions()
	if o.DataDir == "" {
		o.DataDir = d.DataDir
	}
	if o.Listen == "" {
		o.Listen = d.Listen
	}
	if o.GatewayListen == "" {
		o.GatewayListen = d.GatewayListen
	}
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 15 * time.Second
	}
	if len(o.Roles) == 0 {
		o.Roles = Roles{RoleAll}
	}
}

// App is a running Warden.
type App struct {
	opts   Options
	cfg    *config.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	tokens *auth.Tokens
	roles  Roles
	cl     *cluster // distributed mode (bus.driver nats); nil in one process
	users  *users.Store

	metricsToken string
	metricsHash  [sha256.Size]byte

	audit *audit.Log
	// witnessing has the audit log's checkpoints cosigned (audit.witnesses).
	witnessing *witnessing
	// timestamping has checkpoints time-stamped (audit.timestamp_authorities, RFC 3161).
	timestamping *timestamping
	// rollup keeps the daily per-model aggregates (the long-term tier).
	rollup   *rollup.Rollup
	store    store.Store
	pipeline *pipeline.Pipeline
	indexer  *index.Writer
	ingest   *ingest.Handler
	models   *inventory

	scanner   *scan.Engine
	scanMemo  *scanMemo
	ruleSet   *rules.RuleSet                                  // loaded rules, for the cluster's partition analyses
	alertSink func(ctx context.Context, alerts []alert.Alert) // where analysis alerts go
	analyzer  *analyze.Analyzer
	rules     *rules.Engine
	// rulesReload reloads the rule files into rules and keeps the last outcome.
	rulesReload *rulesReloader
	worker      *worker.Worker
	keys        *keys.Store
	contain     *contain.Store
	gateway     *gateway.Gateway
	alerts      *lifecycle.Manager
	dispatcher  *notify.Dispatcher
	incidents   *incident.Manager
	console     *console.Console
	consumers   atomic.Pointer[map[string]bool]
	probes      *probes

	qualityScorer  *quality.Scorer
	qualityTracker *quality.Tracker

	incidentHook func(ctx context.Context, al alert.Alert)

	detMu      sync.Mutex
	detections []rules.Detection

	routes    []route         // handlers of optional components, mounted on the API listener
	followers []func() uint64 // positions of log followers besides the index (for blob pruning)

	apiLn, gwLn net.Listener
	apiSrv      *http.Server
	gwSrv       *http.Server

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	cleanups []func() error
	ready    chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// New opens the data directory and builds every component; it does not listen yet.
func New(ctx context.Context, opts Options) (_ *App, err error) {
	opts.setDefaults()
	a := &App{opts: opts, cfg: opts.Config, log: opts.Logger, reg: prometheus.NewRegistry(), ready: make(chan struct{}), roles: opts.Roles}
	defer func() {
		if err != nil {
			a.runCleanups()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.checkRoles(); err != nil {
		return nil, err
	}
	if err := ensurePrivateDir(opts.DataDir); err != nil {
		return nil, err
	}
	a.models = newInventory(a.cfg.Models)
	if a.tokens, err = auth.Load(opts.DataDir, opts.Getenv); err != nil {
		return nil, fmt.Errorf("load API tokens: %w", err)
	}
	if a.metricsToken, err = loadMetricsToken(opts.DataDir, opts.Getenv); err != nil {
		return nil, fmt.Errorf("load metrics token: %w", err)
	}
	a.metricsHash = sha256.Sum256([]byte(a.metricsToken))
	if a.users, err = users.Open(users.Options{Dir: filepath.Join(opts.DataDir, "users")}); err != nil {
		return nil, err
	}

	aopts := audit.DefaultOptions(filepath.Join(opts.DataDir, "log"))
	aopts.Logger = a.log
	aopts.Registerer = a.reg
	aopts.Sync = opts.auditSync
	if err := a.signingKey(&aopts); err != nil {
		return nil, err
	}
	if a.audit, err = audit.Open(aopts); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	a.cleanups = append(a.cleanups, a.audit.Close)
	// Run after every other cleanup, just before the log closes: the final checkpoint is
	// time-stamped, then witnessed.
	a.cleanups = append(a.cleanups, a.witnessFinal, a.timestampFinal)
	if err := a.openBus(ctx); err != nil {
		return nil, err
	}

	storeCfg := a.cfg
	if !a.needsIndexStore() { // ingest and gateway processes keep an empty local index
		storeCfg = &config.Config{Store: config.Store{Driver: "sqlite"}}
	}
	if a.store, err = OpenStore(ctx, storeCfg, opts.DataDir); err != nil {
		if storeCfg.Store.Driver == "sqlite" {
			// The index is derived from the audit log; an unreadable one is rebuilt from it.
			return nil, fmt.Errorf("%w; the index is rebuilt from the audit log by `warden index rebuild --data %s` (with Warden stopped)", err, opts.DataDir)
		}
		return nil, err
	}
	a.cleanups = append(a.cleanups, a.store.Close)

	redact := scan.NewRedactor()
	redactor := redact.Redact
	// The analysis worker scans the raw text of redacted events again; in one process it reuses
	// the PII and secret findings of the redaction pass (scanMemo). In a cluster the worker runs
	// elsewhere. buildAnalysis gives it the engine.
	a.scanMemo = newScanMemo(redact, nil, 16_384)
	pipeRedact := redactor
	if !a.clustered() {
		pipeRedact = a.scanMemo.Redact
	}
	a.indexer, err = index.New(ctx, index.Options{
		Log: a.audit, Wake: a.audit.Grown, Store: a.store, Logger: a.log, Registerer: a.reg,
		Policy: a.models.policy, Redact: redactor,
	})
	if err != nil {
		return nil, fmt.Errorf("index writer: %w", err)
	}
	popts := pipeline.Options{
		Publisher: a.publisher(), MaxInFlight: a.cfg.Ingest.MaxInFlight, Registerer: a.reg,
		TextPolicy: func(model string) string { p, _ := a.models.policy(model); return p },
		Redact:     pipeRedact,
	}
	if !a.clustered() { // in a cluster the stream buffers; workers' lag shows in /readyz
		popts.Backlog, popts.MaxBacklog = a.backlog, 5_000_000
	}
	a.pipeline, err = pipeline.New(popts)
	if err != nil {
		return nil, err
	}
	if a.ingest, err = ingest.New(ingest.Options{Submitter: a.pipeline, Logger: a.log, MaxBodyBytes: a.cfg.Ingest.MaxBodyBytes, Unusable: a.audit.Err}); err != nil {
		return nil, err
	}
	if err := a.buildAccess(); err != nil {
		return nil, err
	}
	if err := a.buildResponse(); err != nil {
		return nil, err
	}
	if err := a.buildProbes(); err != nil {
		return nil, err
	}
	if err := a.buildQuality(); err != nil {
		return nil, err
	}
	if err := a.buildAnalysis(a.receiveAlerts); err != nil {
		return nil, err
	}
	if err := a.buildIncidents(); err != nil {
		return nil, err
	}
	a.buildSubjects()
	if err := a.buildRollup(); err != nil {
		return nil, err
	}
	if err := a.buildWitnessing(); err != nil {
		return nil, err
	}
	a.buildTimestamping()
	if err := a.buildConsole(); err != nil {
		return nil, err
	}
	if err := a.buildGateway(); err != nil {
		return nil, err
	}
	return a, nil
}

// SQLiteIndexPath is the embedded index store's file in a data directory.
func SQLiteIndexPath(dataDir string) string { return filepath.Join(dataDir, "index.db") }

// OpenStore opens the index store the configuration names: SQLite in the data directory
// (default) or PostgreSQL at store.dsn.
func OpenStore(ctx context.Context, cfg *config.Config, dataDir string) (store.Store, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, SQLiteIndexPath(dataDir))
		if err != nil {
			return nil, fmt.Errorf("open index store: %w", err)
		}
		return s, nil
	case "postgres":
		s, err := postgres.Open(ctx, cfg.Store.DSN)
		if err != nil {
			return nil, fmt.Errorf("open index store: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("store driver %q is not available in this build", cfg.Store.Driver)
	}
}

// Start listens and starts the background stages.
func (a *App) Start(ctx context.Context) error {
	var err error
	apiTLS, err := a.listenerCerts("api", a.cfg.TLS.API, tls.VerifyClientCertIfGiven)
	if err != nil {
		return err
	}
	if a.apiLn, err = net.Listen("tcp", a.opts.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", a.opts.Listen, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	if a.roles.Has(RoleGateway) {
		if err := a.startGateway(); err != nil {
			cancel()
			a.apiLn.Close()
			return err
		}
	}
	if a.clustered() {
		if err := a.startCluster(runCtx); err != nil {
			cancel()
			a.apiLn.Close()
			return err
		}
	} else {
		a.goRun("index", func() error { return a.indexer.Run(runCtx) })
		a.goRun("analysis", func() error { return a.worker.Run(runCtx) })
	}
	a.goRun("alerts", func() error { return a.alerts.Run(runCtx) })
	a.goRun("incidents", func() error { return a.incidents.Run(runCtx) })
	a.goRun("reports", func() error {
		s := report.Scheduler{Source: reportSource{a}, Dir: filepath.Join(a.opts.DataDir, "reports"), Logger: a.log}
		return s.Run(runCtx)
	})
	a.goRun("containment", func() error { return a.contain.Run(runCtx) })
	a.goRun("consumers", func() error { return a.runConsumerRefresh(runCtx) })
	a.goRun("retention", func() error { return a.runRetention(runCtx) })
	a.goRun("witnessing", func() error { return a.runWitnessing(runCtx) })
	a.goRun("timestamping", func() error { return a.runTimestamping(runCtx) })
	a.goRun("aggregates", func() error { return a.rollup.Run(runCtx) })
	a.goRun("console", func() error { return a.console.Run(runCtx) })
	if a.roles.Has(RoleGateway) {
		// Probes and the quality judge call models through the gateway of this process.
		a.goRun("probes", func() error { return a.probes.scheduler.Run(runCtx) })
		a.goRun("quality", func() error { return a.qualityScorer.Run(runCtx) })
	}

	a.apiSrv = listener.Server(a.apiHandler(), listener.Limits{}, a.log)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := listener.Serve(a.apiSrv, a.apiLn, listener.Limits{}, apiTLS); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("API server stopped", "err", err)
		}
	}()
	close(a.ready)
	a.log.Info("warden started", "roles", a.roles.String(), "bus", a.cfg.Bus.Driver, "api", a.Addr(), "api_tls", apiTLS != nil, "gateway_tls", a.cfg.TLS.Gateway.Enabled(), "gateway", a.GatewayAddr(), "data", a.opts.DataDir, "audit_entries", a.audit.Size())
	return nil
}

// backlog is how far the slowest local follower of the log trails it: the index writer or the
// analysis worker. Ingest refuses with 429 above the pipeline's MaxBacklog.
func (a *App) backlog() uint64 {
	n := a.indexer.Lag()
	if a.worker != nil {
		n = max(n, a.worker.Lag())
	}
	return n
}

func (a *App) goRun(name string, fn func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := fn(); err != nil {
			a.log.Error("stage stopped", "stage", name, "err", err)
		}
	}()
}

// Addr is the API listener's address.
func (a *App) Addr() string {
	if a.apiLn == nil {
		return ""
	}
	return a.apiLn.Addr().String()
}

// GatewayAddr is the gateway listener's address, or "" when it is off.
func (a *App) GatewayAddr() string {
	if a.gwLn == nil {
		return ""
	}
	return a.gwLn.Addr().String()
}

// Tokens returns the API tokens.
func (a *App) Tokens() *auth.Tokens { return a.tokens }

// MetricsToken returns the token that may only scrape /metrics.
func (a *App) MetricsToken() string { return a.metricsToken }

// Users returns the user store.
func (a *App) Users() *users.Store { return a.users }

// Stop drains HTTP, lets the stages finish what was accepted, writes a final checkpoint and
// closes everything, in that order. It is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, a.opts.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, srv := range []*http.Server{a.gwSrv, a.apiSrv} {
			if srv != nil {
				if err := srv.Shutdown(ctx); err != nil {
					errs = append(errs, fmt.Errorf("shutdown http: %w", err))
				}
			}
		}
		if a.gateway != nil {
			if err := a.gateway.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close gateway: %w", err))
			}
		}
		if a.cancel != nil {
			a.cancel()
		}
		a.wg.Wait()
		if !a.clustered() { // in a cluster the workers index
			if err := a.indexer.CatchUp(ctx); err != nil {
				errs = append(errs, fmt.Errorf("final index catch-up: %w", err))
			}
		}
		errs = append(errs, a.runCleanups())
		a.stopErr = errors.Join(errs...)
		a.log.Info("warden stopped")
	})
	return a.stopErr
}

func (a *App) runCleanups() error {
	var errs []error
	for i := len(a.cleanups) - 1; i >= 0; i-- {
		if err := a.cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.cleanups = nil
	return errors.Join(errs...)
}

// Run starts Warden and blocks until ctx is done, then stops it.
func Run(ctx context.Context, opts Options, started func(*App)) error {
	a, err := New(ctx, opts)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Stop(context.Background())
		return err
	}
	if started != nil {
		started(a)
	}
	<-ctx.Done()
	return a.Stop(context.Background())
}

func ensurePrivateDir(dir string) error {
	if err := checkDataDirOwned(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // G302 wants ≤0600, but a directory needs its x bit
		return fmt.Errorf("make data directory private: %w", err)
	}
	return nil
}
