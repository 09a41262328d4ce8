package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
)

// Emitter receives the gateway's events in batches; the app passes the durable ingest pipeline
// (the same path as POST /v1/events). Emit may block; the gateway calls it from its own
// goroutine, never on a client's request path.
type Emitter interface {
	Emit(ctx context.Context, evs []*event.Event) error
}

// Scanner scans one text; *scan.Engine implements it.
type Scanner interface {
	Scan(ctx context.Context, text string, role scan.Role, sc scan.Context) ([]scan.Finding, error)
}

var _ Scanner = (*scan.Engine)(nil)

// Options configure a Gateway.
type Options struct {
	// Models returns the model inventory; it is called per request (see the package doc).
	Models  func() []config.Model
	Keys    *keys.Store
	Contain *contain.Store // nil: no containment
	Scanner Scanner        // nil: scanning off
	Emitter Emitter        // nil: events are discarded
	Logger  *slog.Logger
	// Registerer receives the gateway metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Getenv resolves upstream.api_key_env; default os.Getenv.
	Getenv func(string) string
	Now    func() time.Time
	// Transport carries upstream requests; default a keep-alive transport sized for high
	// request rates.
	Transport http.RoundTripper
	// Environment is recorded on events (default "prod").
	Environment string
	// MaxBodyBytes bounds request bodies (default 8 MiB) and MaxResponseBytes non-streamed
	// upstream responses (default 32 MiB).
	MaxBodyBytes     int64
	MaxResponseBytes int64
	// ScanTimeout bounds one scanner call (default 200ms); on timeout the model's
	// fail-open/fail-closed setting applies.
	ScanTimeout time.Duration
	// CutStreamOnBlock ends a stream with an error event when its output reaches a block-level
	// finding (default true; set KeepStreamOnBlock to disable).
	KeepStreamOnBlock bool
	// StreamHoldback is how many bytes of streamed output text the gateway holds back from the
	// client on routes whose output policy can block or redact (default 256; negative: none).
	// A finding up to that long is scanned complete before any of it is released.
	StreamHoldback int
	// Requests without a valid virtual key are recorded as one access event per source per
	// UnauthInterval (default 1m); a source sending more than UnauthPerInterval of them in an
	// interval (default 60) gets 429. UnauthSources (default 10000) bounds the sources tracked
	// per interval; further sources share one overflow aggregate.
	UnauthInterval    time.Duration
	UnauthPerInterval int
	UnauthSources     int
	// EventQueue bounds events waiting for the Emitter (default 65536); beyond it events are
	// dropped and counted. EventBatch (default 100) and EventFlush (default 20ms) shape batches.
	EventQueue int
	EventBatch int
	EventFlush time.Duration
	// TrustForwardedFor takes the client IP from the first X-Forwarded-For address.
	TrustForwardedFor bool
	// ProbeSecret is the bearer secret of Warden's reserved probe identity
	// (event.ProbeServiceAccount); empty disables the identity. The app generates it per process
	// and keeps it in memory only. Requests under it skip the access policy (allowed_groups, key
	// model lists) and key rate limits, but pass containment, scanning and the upstream like any
	// other request; their access and inference events carry the reserved identity and the
	// probe run id (header X-Warden-Probe-Run), so analytics leave them out.
	ProbeSecret string
}

func (o *Options) setDefaults() error {
	if o.Models == nil {
		return errors.New("gateway: Options.Models is required")
	}
	if o.Keys == nil {
		return errors.New("gateway: Options.Keys is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = osGetenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Environment == "" {
		o.Environment = "prod"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 32 << 20
	}
	if o.ScanTimeout <= 0 {
		o.ScanTimeout = 200 * time.Millisecond
	}
	if o.StreamHoldback == 0 {
		o.StreamHoldback = 256
	}
	if o.UnauthInterval <= 0 {
		o.UnauthInterval = time.Minute
	}
	if o.UnauthPerInterval <= 0 {
		o.UnauthPerInterval = 60
	}
	if o.UnauthSources <= 0 {
		o.UnauthSources = 10000
	}
	if o.EventQueue <= 0 {
		o.EventQueue = 65536
	}
	if o.EventBatch <= 0 {
		o.EventBatch = 100
	}
	if o.EventFlush <= 0 {
		o.EventFlush = 20 * time.Millisecond
	}
	if o.Transport == nil {
		o.Transport = &http.Transport{
			Proxy:                 nil, // upstream traffic never goes through an environment proxy implicitly
			MaxIdleConns:          4096,
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true, // pass SSE through unmodified and avoid gzip CPU
			ForceAttemptHTTP2:     true,
		}
	}
	return nil
}
