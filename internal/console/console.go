// Package console is Warden's web console: server-rendered HTML pages for each audience
// (operations, ML engineering, security, governance/audit, leadership) on the API listener,
// with embedded templates, CSS and SVG charts — no CDN, no JavaScript needed for reading.
//
// People log in with a name and password (package users); a session cookie (HttpOnly,
// SameSite=Strict, Secure under TLS) carries them, every state-changing form carries the
// session's CSRF token, and failed logins are rate-limited and recorded as access events so
// Warden's own rules watch its console. What a page shows and which buttons work follow the
// person's role (package access), with the same check the API uses.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/incident"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/store"
	"github.com/warden-ai/warden/internal/users"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Backend is what the console reads and changes; the App implements it over its components.
type Backend interface {
	Alerts(f lifecycle.Filter) ([]lifecycle.View, string, error)
	Alert(id string) (lifecycle.View, error)
	Ack(ctx context.Context, id, actor, comment string) (alert.Alert, error)
	Resolve(ctx context.Context, id, actor, comment string) (alert.Alert, error)
	CreateSilence(ctx context.Context, s lifecycle.Silence) (lifecycle.Silence, error)

	Incidents(f incident.Filter) []incident.Incident
	Incident(id string) (incident.Incident, error)
	UpdateIncident(ctx context.Context, id string, u incident.Update) (incident.Incident, error)
	CaseFile(ctx context.Context, id string) (*incident.CaseFile, error)
	ExportIncident(ctx context.Context, id string, w io.Writer) error

	Containment() []contain.Action
	LiftContainment(ctx context.Context, id, by, reason string) (contain.Action, error)

	Models() []ModelInfo
	ModelMetrics(name string) (analyze.ModelMetrics, bool)
	ModelDrift(name string) (analyze.ModelDrift, bool)

	Search(ctx context.Context, q store.Query) (store.Page, error)
	EventProof(ctx context.Context, id string) ProofCheck
	AuditStatus(ctx context.Context) AuditStatus
	ExportEvidence(ctx context.Context, w io.Writer, q EvidenceQuery) error
	Report(ctx context.Context, kind report.Kind, from, to time.Time) (report.Report, error)

	// RecordLogin appends a login attempt to the audit log as an access event.
	RecordLogin(ctx context.Context, a LoginAttempt)
}

// Authenticator checks passwords and tells whether a user is still active.
type Authenticator interface {
	Authenticate(name, password string) (users.User, error)
	Get(name string) (users.User, error)
}

// ModelInfo is one inventory entry.
type ModelInfo struct {
	Name, Owner, RiskTier, Sensitivity, StoreText string
}

// ProofCheck is an event's inclusion proof checked against the signed checkpoint.
type ProofCheck struct {
	Found    bool
	Index    uint64
	TreeSize uint64
	Verified bool
	Error    string
	Leaf     []byte // the audit-log entry (hashes, no text)
}

// AuditStatus describes the audit log.
type AuditStatus struct {
	Entries          uint64
	Bytes            int64
	LastCheckpoint   time.Time
	CheckpointSize   uint64
	LastVerification time.Time
	VerificationOK   bool
	VerificationNote string
	PublicKey        string
}

// EvidenceQuery selects the events of an evidence package.
type EvidenceQuery struct {
	From, To time.Time
	Model    string
	Incident string
}

// LoginAttempt is one console login, for the audit log.
type LoginAttempt struct {
	User     string
	IP       string
	Allowed  bool
	Reason   string // ok, bad_credentials, disabled, rate_limited, bad_csrf; for oidc the sso.Reason* codes
	Time     time.Time
	Failures int    // recent failures for this name, including this one
	Method   string // "" (password) or "oidc"
	Subject  string // oidc: the provider's subject of the person
}

// Options configure the console.
type Options struct {
	Backend Backend
	Users   Authenticator
	// SSO, when set, offers OpenID Connect login beside passwords (GET /login/oidc).
	SSO SSO
	// Sessions keeps the login sessions (default: in this process's memory). Give every API
	// node the same PostgreSQL-backed store to share them.
	Sessions SessionBackend
	Logger   *slog.Logger
	// Secure marks cookies Secure even for plain-HTTP requests (behind a TLS proxy).
	Secure bool
	// SessionIdle and SessionMax bound a session (defaults 30 min idle, 12 h in all).
	SessionIdle, SessionMax time.Duration
	// LoginFailures failed logins per name (or 4× per client address) within LoginWindow lock
	// further attempts until the window passes (defaults 5 and 15 min).
	LoginFailures int
	LoginWindow   time.Duration
	// SampleEvery is the interval of the latency/throughput series behind the charts
	// (default 10 s; 360 points are kept per model).
	SampleEvery time.Duration
	Now         func() time.Time
}

// Console serves the pages.
type Console struct {
	opts     Options
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessionStore
	limiter  *loginLimiter
	series   *seriesStore

	reportMu    sync.Mutex
	reportCache map[string]cachedReport
}

// cachedReport is a monthly report computed in the background. The aggregate behind it reads
// every event of the month, which takes seconds over millions of events, so no page waits for
// it more than a moment: a page shows the last result (and its age) while a fresh one is
// computed.
type cachedReport struct {
	at      time.Time
	rep     report.Report
	err     error
	done    bool
	running chan struct{} // closed when the current computation ends
}

// New builds the console.
func New(opts Options) (*Console, error) {
	if opts.Backend == nil || opts.Users == nil {
		return nil, errors.New("console: Backend and Users are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.SessionMax <= 0 {
		opts.SessionMax = 12 * time.Hour
	}
	if opts.LoginFailures <= 0 {
		opts.LoginFailures = 5
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = 15 * time.Minute
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = 10 * time.Second
	}
	c := &Console{opts: opts, log: opts.Logger.With("component", "console"),
		sessions:    newSessionStore(opts.Now, opts.SessionIdle, opts.SessionMax, opts.Sessions, opts.Logger.With("component", "console")),
		limiter:     newLoginLimiter(opts.Now, opts.LoginFailures, opts.LoginWindow),
		series:      newSeriesStore(360),
		reportCache: map[string]cachedReport{},
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return c, nil
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// Run samples the models' live metrics into the series behind the charts until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.SampleEvery)
	defer t.Stop()
	for {
		c.sample()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Console) sample() {
	now := c.opts.Now()
	for _, m := range c.opts.Backend.Models() {
		if mm, ok := c.opts.Backend.ModelMetrics(m.Name); ok {
			c.series.add(m.Name, now, pointOf(mm))
		}
	}
}

// page is a console handler: it runs with a session whose role grants perm.
type page struct {
	pattern string
	perm    access.Permission
	params  []string // accepted query parameters
	h       func(w http.ResponseWriter, r *http.Request, s *session) error
}

// PublicRoutes are served without a session: the login page and the static assets.
func (c *Console) PublicRoutes() []httpx.Route {
	rs := []httpx.Route{
		{Pattern: "GET /login", Handler: http.HandlerFunc(c.loginPage)},
		{Pattern: "POST /login", Handler: http.HandlerFunc(c.login)},
		{Pattern: "GET /static/{file}", Handler: http.HandlerFunc(c.static)},
	}
	if c.ssoEnabled() {
		rs = append(rs, httpx.Route{Pattern: "GET " + flowPath, Handler: http.HandlerFunc(c.ssoStart)},
			httpx.Route{Pattern: "GET " + callbackPath, Handler: http.HandlerFunc(c.ssoCallback)})
	}
	return rs
}

var staticTypes = map[string]string{".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

// static serves the embedded assets.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	name := r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	ct := staticTypes[path.Ext(name)]
	if err != nil || ct == "" || r.URL.RawQuery != "" {
		c.errorPage(w, r, nil, http.StatusNotFound, "No such file.")
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(b)
}

// SessionRoutes are the pages: each needs a session (GET without one → 303 to /login; a form
// without one → 403) and its permission (403 page otherwise); forms need the CSRF token.
func (c *Console) SessionRoutes() []httpx.Route {
	ps := c.pageList()
	out := make([]httpx.Route, len(ps))
	for i, p := range ps {
		out[i] = httpx.Route{Pattern: p.pattern, Handler: c.wrap(p)}
	}
	return out
}

// Permissions maps each session route's pattern to the permission it needs.
func (c *Console) Permissions() map[string]access.Permission {
	out := map[string]access.Permission{}
	for _, p := range c.pageList() {
		out[p.pattern] = p.perm
	}
	return out
}

func (c *Console) pageList() []page {
	return []page{
		{"GET /{$}", access.View, nil, c.overview},
		{"POST /logout", access.View, nil, c.logout},
		{"GET /alerts", access.View, []string{"state", "severity", "model"}, c.alertsPage},
		{"GET /alerts/{id}", access.View, nil, c.alertPage},
		{"POST /alerts/{id}/ack", access.Respond, nil, c.ackAlert},
		{"POST /alerts/{id}/resolve", access.Respond, nil, c.resolveAlert},
		{"POST /silences", access.Respond, nil, c.createSilence},
		{"GET /incidents", access.View, []string{"open"}, c.incidentsPage},
		{"GET /incidents/{id}", access.View, nil, c.incidentPage},
		{"POST /incidents/{id}", access.Respond, nil, c.updateIncident},
		{"GET /incidents/{id}/export", access.ReadRaw, nil, c.exportIncident},
		{"POST /containment/{id}/lift", access.Respond, nil, c.liftContainment},
		{"GET /models", access.View, nil, c.modelsPage},
		{"GET /models/{name}", access.View, nil, c.modelPage},
		{"GET /search", access.ReadRaw, []string{"user", "model", "type", "q", "since", "until", "limit", "cursor"}, c.searchPage},
		{"GET /audit", access.ReadRaw, nil, c.auditPage},
		{"GET /audit/events/{id}", access.ReadRaw, nil, c.eventPage},
		{"GET /audit/evidence", access.ReadRaw, []string{"from", "to", "model", "incident"}, c.evidence},
		{"GET /reports", access.View, []string{"month"}, c.reportsPage},
	}
}

func (c *Console) wrap(p page) http.Handler {
	isForm := !strings.HasPrefix(p.pattern, "GET ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		s := c.sessionOf(r)
		if s == nil {
			if isForm {
				c.errorPage(w, r, nil, http.StatusForbidden, "Your session has ended. Log in again.")
				return
			}
			target := "/login"
			if r.URL.Path != "/" {
				target += "?next=" + urlEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if !s.principal().Can(p.perm) {
			c.errorPage(w, r, s, http.StatusForbidden, fmt.Sprintf("Your role (%s) may not do this: it needs the %q permission.", s.role, p.perm))
			return
		}
		if isForm {
			if err := r.ParseForm(); err != nil || !s.checkCSRF(r.PostForm.Get("csrf")) {
				c.errorPage(w, r, s, http.StatusForbidden, "The form's security token is missing or wrong. Reload the page and try again.")
				return
			}
		} else {
			for k := range r.URL.Query() {
				if !slices.Contains(p.params, k) {
					c.errorPage(w, r, s, http.StatusBadRequest, fmt.Sprintf("Unknown query parameter %q.", k))
					return
				}
			}
		}
		ctx := access.WithPrincipal(r.Context(), s.principal())
		if err := p.h(w, r.WithContext(ctx), s); err != nil {
			c.handleError(w, r, s, err)
		}
	})
}

// userError is shown to the person as is.
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &userError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(what string) error { return &userError{http.StatusNotFound, what + " not found."} }

func (c *Console) handleError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var ue *userError
	var fe *lifecycle.FieldError
	switch {
	case errors.As(err, &ue):
		c.errorPage(w, r, s, ue.status, ue.msg)
	case errors.As(err, &fe):
		c.errorPage(w, r, s, http.StatusBadRequest, fe.Field+": "+fe.Msg)
	case errors.Is(err, lifecycle.ErrNotFound):
		c.errorPage(w, r, s, http.StatusNotFound, "Not found.")
	case errors.Is(err, lifecycle.ErrState):
		c.errorPage(w, r, s, http.StatusConflict, err.Error())
	default:
		c.log.Error("console request failed", "request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "err", err)
		c.errorPage(w, r, s, http.StatusInternalServerError, "Something went wrong; the server log has the details (request "+httpx.RequestID(r.Context())+").")
	}
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string
	User    string
	Role    access.Role
	CSRF    string
	CanRaw  bool
	CanAct  bool
	Now     time.Time
	Data    any
	Message string
	Refresh string // a local path the page moves on to by itself
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, data any) error {
	return c.renderWith(w, r, s, status, name, title, data, "")
}

func (c *Console) renderWith(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, data any, refresh string) error {
	t := c.pages[name]
	if t == nil {
		return fmt.Errorf("no template %q", name)
	}
	v := view{Title: title, Nav: name, Now: c.opts.Now(), Data: data, Refresh: refresh}
	if s != nil {
		p := s.principal()
		v.User, v.Role, v.CSRF, v.CanRaw, v.CanAct = s.user, s.role, s.csrf, p.Can(access.ReadRaw), p.Can(access.Respond)
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, buf.String())
	return nil
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	setPageHeaders(w)
	if err := c.render(w, r, s, status, "error", http.StatusText(status), map[string]any{"Status": status, "Message": msg}); err != nil {
		c.log.Error("render error page", "err", err)
		http.Error(w, msg, status)
	}
}
