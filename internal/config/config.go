// Package config reads Warden's YAML configuration (docs/ARCHITECTURE.md §5): the model inventory,
// rules directory, receivers and escalation, and operational knobs. Every key is optional; Load
// decodes strictly (unknown keys are errors) and reports problems with their line numbers.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	tnote "github.com/transparency-dev/formats/note"
	"go.yaml.in/yaml/v3"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/scan"
)

// RiskTier is a model's risk tier: it picks the default scanning policy, the retention of
// stored text and the automatic containment that applies.
type RiskTier string

// Risk tiers, most critical first.
const (
	TierCritical RiskTier = "critical"
	TierHigh     RiskTier = "high"
	TierMedium   RiskTier = "medium" // the default of a model that names none
	TierLow      RiskTier = "low"
)

// Valid reports whether t is one of the four tiers.
func (t RiskTier) Valid() bool { return slices.Contains(RiskTiers, t) }

// StoreText is a model's text-storage policy for the index.
type StoreText string

// Text-storage policies.
const (
	StoreNone     StoreText = "none"
	StoreRedacted StoreText = "redacted" // the default
	StoreFull     StoreText = "full"
)

// Valid reports whether s is one of the policies.
func (s StoreText) Valid() bool { return slices.Contains(StoreTexts, s) }

// Risk tiers, sensitivities, text-storage policies and severities.
var (
	RiskTiers     = []RiskTier{TierCritical, TierHigh, TierMedium, TierLow}
	Sensitivities = []string{"public", "internal", "confidential", "restricted"}
	StoreTexts    = []StoreText{StoreNone, StoreRedacted, StoreFull}
	Severities    = []alert.Severity{alert.P1, alert.P2, alert.P3, alert.P4}
	actions       = []string{"allow", "flag", "redact", "block"}
)

// join lists enum values for error messages.
func join[T ~string](vs []T) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = string(v)
	}
	return strings.Join(ss, ", ")
}

// Config is the whole configuration file.
type Config struct {
	Models     []Model                              `yaml:"models"`
	RulesDir   string                               `yaml:"rules_dir"`
	ProbesDir  string                               `yaml:"probes_dir"` // extra probe packs beside the built-in ones
	Receivers  []yaml.Node                          `yaml:"receivers"`
	Escalation map[alert.Severity][]EscalationLevel `yaml:"escalation"`
	Ingest     Ingest                               `yaml:"ingest"`
	Retention  Retention                            `yaml:"retention"`
	Analysis   Analysis                             `yaml:"analysis"`
	Response   Response                             `yaml:"response"`
	Store      Store                                `yaml:"store"`
	Audit      Audit                                `yaml:"audit"`
	Bus        Bus                                  `yaml:"bus"`
	TLS        TLS                                  `yaml:"tls"`
	Console    Console                              `yaml:"console"`
	Guards     []Guard                              `yaml:"guards"` // guard models (docs/INTEGRATIONS.md)

	// root keeps the parsed document so later stages can report line numbers.
	root *yaml.Node
}

// Model is one entry of the model inventory.
type Model struct {
	Name          string            `yaml:"name"`
	Version       string            `yaml:"version"`
	Owner         string            `yaml:"owner"`
	RiskTier      string            `yaml:"risk_tier"`
	Sensitivity   string            `yaml:"sensitivity"`
	StoreText     StoreText         `yaml:"store_text"`
	AllowedGroups []string          `yaml:"allowed_groups"`
	Upstream      Upstream          `yaml:"upstream"`
	Fallbacks     []Upstream        `yaml:"fallbacks"`
	Price         Price             `yaml:"price"`
	Timeout       time.Duration     `yaml:"timeout"`
	SystemPrompt  string            `yaml:"system_prompt"`
	Canaries      []string          `yaml:"canaries"`
	Scanning      map[string]string `yaml:"scanning"`  // category → allow|flag|redact|block, overriding the tier default
	FailOpen      *bool             `yaml:"fail_open"` // scanner error/timeout: forward anyway (default: true except critical)
	Kind          string            `yaml:"kind"`      // llm (default) | ml
	Probes        Probes            `yaml:"probes"`    // scheduled adversarial probes (opt-in)
	Quality       Quality           `yaml:"quality"`   // output-quality judging of live traffic (opt-in)
	// Guards names the guard models (top-level `guards:`) that decide categories for this
	// model. Absent: the guards whose `tiers` include the model's risk tier; `[]`: none. After
	// Parse it holds the resolved list.
	Guards []string `yaml:"guards"`
}

// Guard is one guard model: an external classifier (for example a GPU-served Prompt Guard or
// Llama Guard behind an adapter) that speaks Warden's guard wire contract and decides some
// finding categories for the models that use it (docs/INTEGRATIONS.md, "Guard models").
type Guard struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Timeout bounds one call, connect to last byte (default 500ms, at most 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Fail is what happens when the guard gives no verdict: open (default: the built-in
	// scanners' verdict stands) or closed (the gateway blocks the request with 503).
	Fail string `yaml:"fail"`
	// Categories the guard decides (scan categories such as prompt_injection, jailbreak).
	Categories []string `yaml:"categories"`
	// Roles the guard is asked about: input, output (default both).
	Roles []string `yaml:"roles"`
	// Mode: decide (default: in its categories the guard's findings replace the built-ins')
	// or add (the guard's findings are added; it can only make the verdict stricter).
	Mode string `yaml:"mode"`
	// Tiers: models of these risk tiers that list no `guards:` use this guard.
	Tiers []RiskTier `yaml:"tiers"`
	// MaxResponseBytes bounds the response body read (default 1 MiB).
	MaxResponseBytes int64        `yaml:"max_response_bytes"`
	Auth             GuardAuth    `yaml:"auth"`
	Breaker          GuardBreaker `yaml:"breaker"`
}

// GuardAuth is a guard's credential: taken from an environment variable or a file (never
// written in the configuration, never logged). With the default header Authorization it is
// sent as "Bearer <token>"; any other header carries the token as it is.
type GuardAuth struct {
	Header    string `yaml:"header"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
}

// GuardBreaker opens after Failures consecutive failed calls (default 5) and sends nothing to
// the guard for Cooldown (default 30s); meanwhile the guard counts as giving no verdict.
type GuardBreaker struct {
	Failures int           `yaml:"failures"`
	Cooldown time.Duration `yaml:"cooldown"`
}

// FailClosed reports whether the guard blocks when it gives no verdict.
func (g Guard) FailClosed() bool { return g.Fail == "closed" }

// Token resolves the guard's credential ("" without auth) with getenv for token_env.
func (g Guard) Token(getenv func(string) string) (string, error) {
	switch {
	case g.Auth.TokenEnv != "":
		v := strings.TrimSpace(getenv(g.Auth.TokenEnv))
		if v == "" {
			return "", fmt.Errorf("guard %q: auth.token_env: environment variable %s is empty or not set", g.Name, g.Auth.TokenEnv)
		}
		return v, nil
	case g.Auth.TokenFile != "":
		b, err := os.ReadFile(g.Auth.TokenFile)
		if err != nil {
			return "", fmt.Errorf("guard %q: auth.token_file: %w", g.Name, errors.Unwrap(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("guard %q: auth.token_file is empty", g.Name)
		}
		return v, nil
	}
	return "", nil
}

// Guard returns the guard named name.
func (c *Config) Guard(name string) (Guard, bool) {
	for _, g := range c.Guards {
		if g.Name == name {
			return g, true
		}
	}
	return Guard{}, false
}

// Quality configures output-quality judging of a model's live traffic (docs/QUALITY.md).
type Quality struct {
	// Judge is the inventory model that grades answers (any OpenAI-compatible route); empty
	// turns judging off.
	Judge string `yaml:"judge"`
	// Sample is the share of the model's successful inferences judged (0..1, default 0.1).
	Sample float64 `yaml:"sample"`
	// Timeout bounds one judge call (default 20s); MaxSpendUSD caps judge spend per day
	// (priced with the judge model's price; 0: no cap).
	Timeout     time.Duration `yaml:"timeout"`
	MaxSpendUSD float64       `yaml:"max_spend_usd"`
	// Drop is the fall of a mean score (0..1 scale) against the model's baseline that alerts
	// (default 0.2); it applies to the judge's scores and to users' ratings.
	Drop float64 `yaml:"drop"`
}

// Probes configures the scheduled adversarial probes of one model (docs/PROBES.md). Nothing is
// probed unless Enabled; zero values take the defaults.
type Probes struct {
	Enabled bool `yaml:"enabled"`
	// Interval between scheduled runs; default by risk tier (DefaultProbeInterval).
	Interval time.Duration `yaml:"interval"`
	// Packs to run (names of built-in or probes_dir packs); empty: all.
	Packs []string `yaml:"packs"`
	// Per-run caps; zero: 100 requests, 200,000 tokens, 5 USD.
	MaxRequests int     `yaml:"max_requests"`
	MaxTokens   int64   `yaml:"max_tokens"`
	MaxSpendUSD float64 `yaml:"max_spend_usd"`
	// Timeout bounds one probe request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// PassRate is the family pass-rate threshold below which an alert fires (default 0.8).
	PassRate float64 `yaml:"pass_rate"`
}

// DefaultProbeInterval is the probe cadence of a risk tier (the monitoring standard,
// Appendix A): critical hourly, high daily, medium weekly, low monthly.
func DefaultProbeInterval(tier RiskTier) time.Duration {
	switch tier {
	case TierCritical:
		return time.Hour
	case TierHigh:
		return 24 * time.Hour
	case TierLow:
		return 30 * 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// Upstream is an OpenAI-compatible endpoint the gateway forwards to.
type Upstream struct {
	URL       string `yaml:"url"`
	Model     string `yaml:"model"`
	APIKeyEnv string `yaml:"api_key_env"`
}

// Price is the cost per million tokens.
type Price struct {
	InputPerMTok  float64 `yaml:"input_per_mtok"`
	OutputPerMTok float64 `yaml:"output_per_mtok"`
}

// EscalationLevel is one step of an escalation policy.
type EscalationLevel struct {
	After     time.Duration `yaml:"after"`
	Receivers []string      `yaml:"receivers"`
}

// Ingest bounds the ingest path.
type Ingest struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"` // default 10 MiB
	MaxInFlight  int   `yaml:"max_in_flight"`  // events accepted but not yet durable; beyond → 429
}

// Audit configures the audit log's witnesses (C2SP tlog-witness): every new checkpoint is
// submitted to each, and their cosignatures are stored with it (DATA/log/witnessed).
type Audit struct {
	Witnesses       []Witness     `yaml:"witnesses"`
	WitnessInterval time.Duration `yaml:"witness_interval"` // how often a new checkpoint is submitted; default 10s
	// TimestampAuthorities are RFC 3161 TSA URLs: every TimestampInterval the latest checkpoint
	// gets a time-stamp token from the first that answers (DATA/log/timestamps/).
	TimestampAuthorities []string      `yaml:"timestamp_authorities"`
	TimestampInterval    time.Duration `yaml:"timestamp_interval"` // default 1h
}

// Witness is one witness the server submits checkpoints to.
type Witness struct {
	URL string `yaml:"url"` // base URL; the protocol's POST /add-checkpoint is appended
	Key string `yaml:"key"` // the witness's verifier key (its witness.pub)
}

// Retention keeps detail (index rows and their text) per risk tier; the audit log itself is
// never shortened by it.
type Retention struct {
	Critical time.Duration `yaml:"critical"`
	High     time.Duration `yaml:"high"`
	Medium   time.Duration `yaml:"medium"`
	Low      time.Duration `yaml:"low"`
	Interval time.Duration `yaml:"interval"`
	// Aggregates is how long the daily per-model aggregates are kept (default 7 years).
	Aggregates time.Duration `yaml:"aggregates"`
}

// Analysis configures the stream analysis stage.
type Analysis struct {
	BaselineEvents int      `yaml:"baseline_events"`
	BaselineDays   int      `yaml:"baseline_days"`
	Protected      []string `yaml:"protected_attributes"`
	// ChiSquareP is the p-value below which a categorical feature counts as drifted
	// (DRIFT.md: 0.05). Lower it to trade sensitivity for fewer chance findings.
	ChiSquareP float64 `yaml:"chi_square_p"`
	// SystemDownAfter is how long a model with live, steady traffic may send no event before a
	// system_down detection (default 5m).
	SystemDownAfter time.Duration `yaml:"system_down_after"`
}

// Response configures alert grouping and incidents.
type Response struct {
	GroupWait      time.Duration    `yaml:"group_wait"`
	GroupInterval  time.Duration    `yaml:"group_interval"`
	RepeatInterval time.Duration    `yaml:"repeat_interval"`
	IncidentFrom   []alert.Severity `yaml:"incident_severities"` // default P1, P2
	// Containment applies proportional containment automatically when an alert first fires,
	// by severity and the model's risk tier (rules may also carry their own actions). Empty by
	// default: nothing is contained without a rule action or a human.
	Containment []ContainmentPolicy `yaml:"containment"`
}

// ContainmentPolicy is one level of automatic containment.
type ContainmentPolicy struct {
	Severity alert.Severity `yaml:"severity"` // P1..P4
	Tiers    []RiskTier     `yaml:"tiers"`    // empty: every tier
	Action   string         `yaml:"action"`   // suspend_key | pause_model | rate_limit | block
	TTL      time.Duration  `yaml:"ttl"`      // 0: until a human lifts it
	RPM      int            `yaml:"rpm"`      // rate_limit only
}

// Store selects the index store.
type Store struct {
	Driver string `yaml:"driver"` // sqlite (default) | postgres
	DSN    string `yaml:"dsn"`
}

// TLS is the `tls:` section: certificates of the two listeners. The files are re-read when they
// change, so certificates rotate without a restart.
type TLS struct {
	API     ListenerTLS `yaml:"api"`     // API, console and ingest listener (--listen)
	Gateway ListenerTLS `yaml:"gateway"` // gateway listener (--gateway-listen)
}

// ListenerTLS is one listener's TLS: a certificate and key (PEM) and optionally the CAs of client
// certificates. On the API listener a client CA makes POST /v1/events and /v1/traces require a
// client certificate signed by it (mTLS for ingest; the console and the admin API still work
// without one); on the gateway it makes every request require one.
type ListenerTLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the listener serves TLS.
func (l ListenerTLS) Enabled() bool { return l.CertFile != "" }

// Bus selects the pipeline transport between roles (docs/SCALE-OUT.md): inproc (the embedded
// default: one process, the audit log appended directly) or nats (NATS JetStream, for running
// `warden serve --role` processes on several machines).
type Bus struct {
	Driver     string `yaml:"driver"`     // inproc (default) | nats
	URL        string `yaml:"url"`        // NATS server URL(s), comma-separated; default nats://127.0.0.1:4222
	Stream     string `yaml:"stream"`     // JetStream stream name; subjects are <lower(stream)>.events.<partition>; default WARDEN
	Replicas   int    `yaml:"replicas"`   // JetStream replicas of the streams and KV buckets (1, 3 or 5); default 1
	Partitions int    `yaml:"partitions"` // models hash into this many subjects; default 16
	// LeaseTTL is how long the audit-log appender's lease outlives a dead holder (fail-over
	// time); AckWait how long a worker may hold entries before they go to another. Default 10 s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	AckWait  time.Duration `yaml:"ack_wait"`
}

// Console is the `console:` section of the web console.
type Console struct {
	OIDC *OIDC `yaml:"oidc"` // optional single sign-on (docs/ACCESS.md)
}

// OIDC is OpenID Connect login for the console: the authorization-code flow with PKCE against
// Issuer; people get the role of the first Roles entry whose value is in their RoleClaim.
type OIDC struct {
	Issuer      string `yaml:"issuer"`
	ClientID    string `yaml:"client_id"`
	RedirectURL string `yaml:"redirect_url"` // https://warden.example/login/oidc/callback
	// The client secret comes from an environment variable or a file (never the config itself);
	// neither for a public client.
	ClientSecretEnv  string     `yaml:"client_secret_env"`
	ClientSecretFile string     `yaml:"client_secret_file"`
	Scopes           []string   `yaml:"scopes"`     // default openid, email, profile, groups
	RoleClaim        string     `yaml:"role_claim"` // default groups
	Roles            []OIDCRole `yaml:"roles"`
	DefaultRole      string     `yaml:"default_role"` // empty: no matching value → refused
	AllowedDomains   []string   `yaml:"allowed_domains"`
}

// OIDCRole gives Role to people whose role claim holds Value.
type OIDCRole struct {
	Value string `yaml:"value"`
	Role  string `yaml:"role"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.presets()
	c.applyDefaults()
	return c
}

// presets fills the operational knobs with their defaults before the file is decoded, so a
// value the file sets explicitly — including a zero such as `group_wait: 0s` — survives.
func (c *Config) presets() {
	day := 24 * time.Hour
	c.Ingest = Ingest{MaxBodyBytes: 10 << 20, MaxInFlight: 200_000}
	c.Audit = Audit{WitnessInterval: 10 * time.Second, TimestampInterval: time.Hour}
	c.Retention = Retention{Critical: 365 * day, High: 182 * day, Medium: 91 * day, Low: 30 * day, Interval: time.Hour, Aggregates: 7 * 365 * day}
	c.Analysis = Analysis{BaselineEvents: 1000, ChiSquareP: 0.05, BaselineDays: 7, SystemDownAfter: 5 * time.Minute}
	c.Response = Response{GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: 4 * time.Hour,
		IncidentFrom: []alert.Severity{alert.P1, alert.P2}}
	c.Store = Store{Driver: "sqlite"}
	c.Bus = Bus{Driver: "inproc", URL: "nats://127.0.0.1:4222", Stream: "WARDEN", Replicas: 1, Partitions: 16,
		LeaseTTL: 10 * time.Second, AckWait: 10 * time.Second}
}

// applyDefaults completes what the file left out after decoding: the per-model defaults of the
// inventory (list entries are decoded fresh, so they cannot be preset).
func (c *Config) applyDefaults() {
	for i := range c.Guards {
		g := &c.Guards[i]
		if g.Timeout == 0 {
			g.Timeout = 500 * time.Millisecond
		}
		if g.Fail == "" {
			g.Fail = "open"
		}
		if g.Mode == "" {
			g.Mode = "decide"
		}
		if len(g.Roles) == 0 {
			g.Roles = []string{"input", "output"}
		}
		if g.MaxResponseBytes == 0 {
			g.MaxResponseBytes = 1 << 20
		}
		if g.Auth.Header == "" && (g.Auth.TokenEnv != "" || g.Auth.TokenFile != "") {
			g.Auth.Header = "Authorization"
		}
		if g.Breaker.Failures == 0 {
			g.Breaker.Failures = 5
		}
		if g.Breaker.Cooldown == 0 {
			g.Breaker.Cooldown = 30 * time.Second
		}
	}
	for i := range c.Models {
		m := &c.Models[i]
		if m.RiskTier == "" {
			m.RiskTier = string(TierMedium)
		}
		if m.Sensitivity == "" {
			m.Sensitivity = "internal"
		}
		if m.StoreText == "" {
			m.StoreText = StoreRedacted
		}
		if m.Upstream.Model == "" {
			m.Upstream.Model = m.Name
		}
		if m.Timeout == 0 {
			m.Timeout = 60 * time.Second
		}
		if m.Kind == "" {
			m.Kind = "llm"
		}
		if m.Quality.Judge != "" && m.Quality.Sample == 0 {
			m.Quality.Sample = 0.1
		}
		for j := range m.Fallbacks {
			if m.Fallbacks[j].Model == "" {
				m.Fallbacks[j].Model = m.Upstream.Model
			}
		}
		if m.Guards == nil { // absent (an explicit [] decodes non-nil): the tier's guards
			for _, g := range c.Guards {
				if slices.Contains(g.Tiers, RiskTier(m.RiskTier)) {
					m.Guards = append(m.Guards, g.Name)
				}
			}
		}
	}
}

// Error is a configuration problem with its position.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadFile reads and validates a configuration file; an empty path returns Default().
func LoadFile(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	return c, nil
}

// Parse decodes and validates YAML configuration.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	c.presets()
	if len(bytes.TrimSpace(data)) > 0 {
		var root yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(err)
		}
		if root.Kind != 0 {
			var strict bytes.Buffer
			strict.Write(data)
			sdec := yaml.NewDecoder(&strict)
			sdec.KnownFields(true)
			if err := sdec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
				return nil, yamlError(err)
			}
			c.root = &root
		}
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		line := 0
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		return &Error{Line: line, Msg: msg}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return &Error{Line: line, Msg: msg}
}

func (c *Config) validate() error {
	seen := map[string]bool{}
	for i, m := range c.Models {
		at := func(field, format string, args ...any) error {
			return &Error{Line: c.line("models", i, field), Field: fmt.Sprintf("models[%d].%s", i, field), Msg: fmt.Sprintf(format, args...)}
		}
		if m.Name == "" {
			return at("name", "required")
		}
		if seen[m.Name] {
			return at("name", "duplicate model %q", m.Name)
		}
		seen[m.Name] = true
		if !RiskTier(m.RiskTier).Valid() {
			return at("risk_tier", "%q is not one of %s", m.RiskTier, join(RiskTiers))
		}
		if !slices.Contains(Sensitivities, m.Sensitivity) {
			return at("sensitivity", "%q is not one of %s", m.Sensitivity, strings.Join(Sensitivities, ", "))
		}
		if !m.StoreText.Valid() {
			return at("store_text", "%q is not one of %s", m.StoreText, join(StoreTexts))
		}
		if m.Kind != "llm" && m.Kind != "ml" {
			return at("kind", "%q is not one of llm, ml", m.Kind)
		}
		if m.Upstream.URL != "" && !strings.HasPrefix(m.Upstream.URL, "http://") && !strings.HasPrefix(m.Upstream.URL, "https://") {
			return at("upstream", "url must start with http:// or https://")
		}
		for j, f := range m.Fallbacks {
			if !strings.HasPrefix(f.URL, "http://") && !strings.HasPrefix(f.URL, "https://") {
				return at(fmt.Sprintf("fallbacks[%d]", j), "url must start with http:// or https://")
			}
		}
		if m.Price.InputPerMTok < 0 || m.Price.OutputPerMTok < 0 {
			return at("price", "must be ≥ 0")
		}
		if m.Timeout < 0 {
			return at("timeout", "must be ≥ 0")
		}
		if p := m.Probes; p.Interval < 0 || (p.Interval > 0 && p.Interval < time.Second) {
			return at("probes", "interval must be at least 1s")
		} else if p.MaxRequests < 0 || p.MaxTokens < 0 || p.MaxSpendUSD < 0 || p.Timeout < 0 {
			return at("probes", "max_requests, max_tokens, max_spend_usd and timeout must be ≥ 0")
		} else if p.PassRate < 0 || p.PassRate > 1 {
			return at("probes", "pass_rate must be between 0 and 1")
		}
		if q := m.Quality; q.Sample < 0 || q.Sample > 1 || q.Drop < 0 || q.Drop > 1 {
			return at("quality", "sample and drop must be between 0 and 1")
		} else if q.Timeout < 0 || q.MaxSpendUSD < 0 {
			return at("quality", "timeout and max_spend_usd must be ≥ 0")
		} else if q.Judge == m.Name {
			return at("quality", "judge: a model cannot judge itself")
		} else if q.Judge != "" && !slices.ContainsFunc(c.Models, func(o Model) bool { return o.Name == q.Judge }) {
			return at("quality", "judge: %q is not a model of the inventory", q.Judge)
		}
		for cat, act := range m.Scanning {
			if !slices.Contains(actions, act) {
				return at("scanning", "%s: %q is not one of allow, flag, redact, block", cat, act)
			}
		}
		for j, name := range m.Guards {
			if !slices.ContainsFunc(c.Guards, func(g Guard) bool { return g.Name == name }) {
				return &Error{Line: c.line("models", i, "guards", j), Field: fmt.Sprintf("models[%d].guards[%d]", i, j), Msg: fmt.Sprintf("%q is not a guard of the top-level guards list", name)}
			}
			if slices.Index(m.Guards, name) != j {
				return &Error{Line: c.line("models", i, "guards", j), Field: fmt.Sprintf("models[%d].guards[%d]", i, j), Msg: fmt.Sprintf("guard %q listed twice", name)}
			}
		}
	}
	if err := c.validateGuards(); err != nil {
		return err
	}
	for sev, levels := range c.Escalation {
		if !sev.Valid() {
			return &Error{Line: c.line("escalation", string(sev)), Field: "escalation." + string(sev), Msg: "severity must be P1, P2, P3 or P4"}
		}
		for j, l := range levels {
			if l.After < 0 {
				return &Error{Line: c.line("escalation", string(sev), j), Field: fmt.Sprintf("escalation.%s[%d].after", sev, j), Msg: "must be ≥ 0"}
			}
			if len(l.Receivers) == 0 {
				return &Error{Line: c.line("escalation", string(sev), j), Field: fmt.Sprintf("escalation.%s[%d].receivers", sev, j), Msg: "required"}
			}
		}
	}
	for i, sev := range c.Response.IncidentFrom {
		if !sev.Valid() {
			return &Error{Line: c.line("response", "incident_severities", i), Field: fmt.Sprintf("response.incident_severities[%d]", i), Msg: fmt.Sprintf("%q is not one of %s", sev, join(Severities))}
		}
	}
	if c.Analysis.SystemDownAfter <= 0 {
		return &Error{Line: c.line("analysis", "system_down_after"), Field: "analysis.system_down_after", Msg: "must be a positive duration (e.g. 5m)"}
	}
	if c.Analysis.ChiSquareP <= 0 || c.Analysis.ChiSquareP >= 1 {
		return &Error{Line: c.line("analysis", "chi_square_p"), Field: "analysis.chi_square_p", Msg: "must be between 0 and 1"}
	}
	for i, p := range c.Response.Containment {
		at := func(field, format string, args ...any) error {
			return &Error{Line: c.line("response", "containment", i), Field: fmt.Sprintf("response.containment[%d].%s", i, field), Msg: fmt.Sprintf(format, args...)}
		}
		if !p.Severity.Valid() {
			return at("severity", "%q is not one of %s", p.Severity, join(Severities))
		}
		for _, t := range p.Tiers {
			if !t.Valid() {
				return at("tiers", "%q is not one of %s", t, join(RiskTiers))
			}
		}
		if !slices.Contains([]string{"suspend_key", "pause_model", "rate_limit", "block"}, p.Action) {
			return at("action", "%q is not one of suspend_key, pause_model, rate_limit, block", p.Action)
		}
		if p.Action == "rate_limit" && p.RPM <= 0 {
			return at("rpm", "required (> 0) for rate_limit")
		}
		if p.TTL < 0 {
			return at("ttl", "must be ≥ 0")
		}
	}
	for _, d := range []struct {
		path []any
		v    time.Duration
	}{
		{[]any{"retention", "critical"}, c.Retention.Critical}, {[]any{"retention", "high"}, c.Retention.High},
		{[]any{"retention", "medium"}, c.Retention.Medium}, {[]any{"retention", "low"}, c.Retention.Low},
		{[]any{"retention", "interval"}, c.Retention.Interval},
		{[]any{"retention", "aggregates"}, c.Retention.Aggregates},
		{[]any{"audit", "witness_interval"}, c.Audit.WitnessInterval},
		{[]any{"audit", "timestamp_interval"}, c.Audit.TimestampInterval},
		{[]any{"response", "group_interval"}, c.Response.GroupInterval}, {[]any{"response", "repeat_interval"}, c.Response.RepeatInterval},
	} {
		if d.v <= 0 {
			return &Error{Line: c.line(d.path...), Field: fmt.Sprintf("%s.%s", d.path...), Msg: "must be > 0"}
		}
	}
	for i, u := range c.Audit.TimestampAuthorities {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return &Error{Line: c.line("audit", "timestamp_authorities", i), Field: fmt.Sprintf("audit.timestamp_authorities[%d]", i), Msg: "must be an http:// or https:// URL of an RFC 3161 time-stamping authority"}
		}
	}
	for i, w := range c.Audit.Witnesses {
		at := func(field, msg string) error {
			return &Error{Line: c.line("audit", "witnesses", i, field), Field: fmt.Sprintf("audit.witnesses[%d].%s", i, field), Msg: msg}
		}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return at("url", "must be an http:// or https:// URL")
		}
		if _, err := tnote.NewVerifierForCosignatureV1(strings.TrimSpace(w.Key)); err != nil {
			return at("key", "must be the witness's verifier key (its witness.pub): "+err.Error())
		}
	}
	if c.Response.GroupWait < 0 {
		return &Error{Line: c.line("response", "group_wait"), Field: "response.group_wait", Msg: "must be ≥ 0"}
	}
	if c.Analysis.BaselineEvents <= 0 || c.Analysis.BaselineDays <= 0 {
		return &Error{Line: c.line("analysis"), Field: "analysis.baseline_events/baseline_days", Msg: "must be > 0"}
	}
	if c.Ingest.MaxInFlight <= 0 {
		return &Error{Line: c.line("ingest", "max_in_flight"), Field: "ingest.max_in_flight", Msg: "must be > 0"}
	}
	if c.Ingest.MaxBodyBytes < 1024 {
		return &Error{Line: c.line("ingest"), Field: "ingest.max_body_bytes", Msg: "must be at least 1024"}
	}
	if c.Store.Driver != "sqlite" && c.Store.Driver != "postgres" {
		return &Error{Line: c.line("store"), Field: "store.driver", Msg: fmt.Sprintf("%q is not one of sqlite, postgres", c.Store.Driver)}
	}
	if c.Store.Driver == "postgres" && c.Store.DSN == "" {
		return &Error{Line: c.line("store"), Field: "store.dsn", Msg: "required for the postgres driver"}
	}
	for name, l := range map[string]ListenerTLS{"api": c.TLS.API, "gateway": c.TLS.Gateway} {
		switch {
		case (l.CertFile == "") != (l.KeyFile == ""):
			return &Error{Line: c.line("tls", name), Field: "tls." + name, Msg: "cert_file and key_file go together"}
		case l.ClientCAFile != "" && l.CertFile == "":
			return &Error{Line: c.line("tls", name, "client_ca_file"), Field: "tls." + name + ".client_ca_file", Msg: "needs cert_file and key_file (client certificates are verified over TLS)"}
		}
	}
	if err := c.validateOIDC(); err != nil {
		return err
	}
	return c.validateBus()
}

// validateOIDC checks the console's single sign-on settings.
func (c *Config) validateOIDC() error {
	o := c.Console.OIDC
	if o == nil {
		return nil
	}
	at := func(field, msg string) error {
		return &Error{Line: c.line("console", "oidc", field), Field: "console.oidc." + field, Msg: msg}
	}
	isURL := func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
	}
	roles := []string{"viewer", "analyst", "auditor", "admin"}
	switch {
	case !isURL(o.Issuer):
		return at("issuer", "must be the provider's http(s) issuer URL")
	case o.ClientID == "":
		return at("client_id", "required")
	case !isURL(o.RedirectURL):
		return at("redirect_url", "must be this server's http(s) URL ending in /login/oidc/callback")
	case !strings.HasSuffix(strings.SplitN(o.RedirectURL, "?", 2)[0], "/login/oidc/callback"):
		return at("redirect_url", "must end in /login/oidc/callback")
	case o.ClientSecretEnv != "" && o.ClientSecretFile != "":
		return at("client_secret_env", "give client_secret_env or client_secret_file, not both")
	case o.DefaultRole != "" && !slices.Contains(roles, o.DefaultRole):
		return at("default_role", fmt.Sprintf("%q is not one of viewer, analyst, auditor, admin", o.DefaultRole))
	case len(o.Roles) == 0 && o.DefaultRole == "":
		return at("roles", "map at least one claim value to a role (or set default_role)")
	}
	for i, r := range o.Roles {
		f := fmt.Sprintf("roles[%d]", i)
		if r.Value == "" {
			return &Error{Line: c.line("console", "oidc", "roles", i), Field: "console.oidc." + f + ".value", Msg: "required"}
		}
		if !slices.Contains(roles, r.Role) {
			return &Error{Line: c.line("console", "oidc", "roles", i), Field: "console.oidc." + f + ".role", Msg: fmt.Sprintf("%q is not one of viewer, analyst, auditor, admin", r.Role)}
		}
	}
	return nil
}

// validateGuards checks the guards section; errors name the field (guards[i].field).
func (c *Config) validateGuards() error {
	names := map[string]bool{}
	for i, g := range c.Guards {
		at := func(field, format string, args ...any) error {
			return &Error{Line: c.line("guards", i, field), Field: fmt.Sprintf("guards[%d].%s", i, field), Msg: fmt.Sprintf(format, args...)}
		}
		switch {
		case g.Name == "":
			return at("name", "required")
		case strings.ContainsAny(g.Name, " .,:\t\n/"):
			return at("name", "%q must not contain spaces, dots, commas, colons or slashes", g.Name)
		case names[g.Name]:
			return at("name", "duplicate guard %q", g.Name)
		}
		names[g.Name] = true
		if u, err := url.Parse(g.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return at("url", "must be an http:// or https:// URL")
		} else if u.User != nil {
			return at("url", "must not carry credentials; use auth.token_env or auth.token_file")
		}
		if g.Timeout <= 0 || g.Timeout > 30*time.Second {
			return at("timeout", "must be > 0 and at most 30s")
		}
		if g.Fail != "open" && g.Fail != "closed" {
			return at("fail", "%q is not one of open, closed", g.Fail)
		}
		if len(g.Categories) == 0 {
			return at("categories", "required: the categories this guard decides (%s)", strings.Join(scan.Categories, ", "))
		}
		for j, cat := range g.Categories {
			if !slices.Contains(scan.Categories, cat) {
				return &Error{Line: c.line("guards", i, "categories", j), Field: fmt.Sprintf("guards[%d].categories[%d]", i, j), Msg: fmt.Sprintf("%q is not one of %s", cat, strings.Join(scan.Categories, ", "))}
			}
		}
		for _, r := range g.Roles {
			if r != "input" && r != "output" {
				return at("roles", "%q is not one of input, output", r)
			}
		}
		if g.Mode != "decide" && g.Mode != "add" {
			return at("mode", "%q is not one of decide, add", g.Mode)
		}
		for _, t := range g.Tiers {
			if !t.Valid() {
				return at("tiers", "%q is not one of %s", t, join(RiskTiers))
			}
		}
		if g.MaxResponseBytes < 256 || g.MaxResponseBytes > 64<<20 {
			return at("max_response_bytes", "must be from 256 to 67108864")
		}
		if g.Auth.TokenEnv != "" && g.Auth.TokenFile != "" {
			return at("auth", "token_env and token_file are exclusive")
		}
		if g.Auth.Header != "" && g.Auth.TokenEnv == "" && g.Auth.TokenFile == "" {
			return at("auth", "header needs token_env or token_file")
		}
		if h := g.Auth.Header; h != "" && (strings.ContainsAny(h, " :\t\r\n") || http.CanonicalHeaderKey(h) == "Content-Type") {
			return at("auth", "header %q is not a usable header name", h)
		}
		if g.Breaker.Failures < 0 || g.Breaker.Cooldown < 0 {
			return at("breaker", "failures and cooldown must be ≥ 0")
		}
	}
	return nil
}

// validateBus checks the bus section: a known driver, a stream name NATS accepts as a subject
// token, replicas JetStream supports, and a partition count that keeps consumers manageable.
func (c *Config) validateBus() error {
	b := c.Bus
	at := func(field, msg string) error {
		return &Error{Line: c.line("bus", field), Field: "bus." + field, Msg: msg}
	}
	switch {
	case b.Driver != "inproc" && b.Driver != "nats":
		return at("driver", fmt.Sprintf("%q is not one of inproc, nats", b.Driver))
	case b.Driver == "nats" && strings.TrimSpace(b.URL) == "":
		return at("url", "required for the nats driver")
	case b.Stream == "" || strings.ContainsAny(b.Stream, ". *>\t\r\n/\\"):
		return at("stream", fmt.Sprintf("%q must be a non-empty name without dots, spaces, wildcards or slashes", b.Stream))
	case b.Replicas != 1 && b.Replicas != 3 && b.Replicas != 5:
		return at("replicas", "must be 1, 3 or 5")
	case b.Partitions < 1 || b.Partitions > 1024:
		return at("partitions", "must be from 1 to 1024")
	case b.LeaseTTL < time.Second:
		return at("lease_ttl", "must be at least 1s")
	case b.AckWait < time.Second:
		return at("ack_wait", "must be at least 1s")
	}
	if b.Driver == "nats" && c.Store.Driver != "postgres" {
		return &Error{Line: c.line("store"), Field: "store.driver", Msg: "the nats bus needs the shared postgres index store (workers write it, the api role searches it)"}
	}
	return nil
}

// line finds the line of a key path in the parsed document (strings are mapping keys, ints are
// sequence indexes); it returns the deepest line found, or 0.
func (c *Config) line(path ...any) int {
	if c.root == nil {
		return 0
	}
	n := c.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
}

// Model returns the inventory entry for name.
func (c *Config) Model(name string) (Model, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

// RetentionFor returns how long detailed text is kept for a risk tier.
func (c *Config) RetentionFor(tier RiskTier) time.Duration {
	switch tier {
	case TierCritical:
		return c.Retention.Critical
	case TierHigh:
		return c.Retention.High
	case TierLow:
		return c.Retention.Low
	}
	return c.Retention.Medium
}
