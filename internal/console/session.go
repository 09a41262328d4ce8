package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/warden-ai/warden/internal/access"
	sessionstore "github.com/warden-ai/warden/internal/session"
	"github.com/warden-ai/warden/internal/users"
)

const (
	sessionCookie = "warden_session"
	loginCookie   = "warden_login" // double-submit token of the login form
)

// session is one logged-in person. The cookie holds a random id; the store keeps its SHA-256.
type session struct {
	user    string
	role    access.Role
	sso     bool // logged in through the identity provider: the role came from its claims
	csrf    string
	created time.Time
	seen    time.Time
}

func (s *session) principal() access.Principal { return access.Principal{User: s.user, Role: s.role} }

func (s *session) checkCSRF(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
}

// SessionBackend keeps session records by the SHA-256 of their cookie (package session: in
// memory, or in PostgreSQL shared by every API node).
type SessionBackend interface {
	Put(ctx context.Context, k sessionstore.Key, s sessionstore.Session) error
	Get(ctx context.Context, k sessionstore.Key) (sessionstore.Session, bool, error)
	Touch(ctx context.Context, k sessionstore.Key, seen time.Time) error
	Delete(ctx context.Context, k sessionstore.Key) error
	DeleteExpired(ctx context.Context, idleBefore, createdBefore time.Time) error
}

// sessionStore applies the idle and absolute limits over a backend. The last-seen time is
// written at most once a minute per session, so a shared backend is not written on every page.
type sessionStore struct {
	now       func() time.Time
	idle, max time.Duration
	be        SessionBackend
	log       *slog.Logger
}

func newSessionStore(now func() time.Time, idle, maxAge time.Duration, be SessionBackend, log *slog.Logger) *sessionStore {
	if be == nil {
		be = sessionstore.NewMemory()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sessionStore{now: now, idle: idle, max: maxAge, be: be, log: log}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (st *sessionStore) create(ctx context.Context, u users.User) (string, *session, error) {
	return st.createFor(ctx, u.Name, u.Role, false)
}

// createFor starts a session for user with role; sso marks one from the identity provider.
func (st *sessionStore) createFor(ctx context.Context, user string, role access.Role, sso bool) (string, *session, error) {
	id := randomToken()
	now := st.now()
	s := &session{user: user, role: role, sso: sso, csrf: randomToken(), created: now, seen: now}
	// Drop expired sessions as new ones come.
	if err := st.be.DeleteExpired(ctx, now.Add(-st.idle), now.Add(-st.max)); err != nil {
		st.log.Warn("expire sessions", "err", err)
	}
	rec := sessionRecord{User: user, Role: string(role), SSO: sso, CSRF: s.csrf, Created: now, Seen: now}
	if err := st.be.Put(ctx, sha256.Sum256([]byte(id)), rec); err != nil {
		return "", nil, err
	}
	return id, s, nil
}

func (st *sessionStore) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > st.idle || now.Sub(s.created) > st.max
}

func (st *sessionStore) get(ctx context.Context, id string) *session {
	h := sha256.Sum256([]byte(id))
	now := st.now()
	rec, ok, err := st.be.Get(ctx, h)
	if err != nil {
		st.log.Error("read session", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	s := &session{user: rec.User, role: access.Role(rec.Role), sso: rec.SSO, csrf: rec.CSRF, created: rec.Created, seen: rec.Seen}
	if st.expired(s, now) {
		_ = st.be.Delete(ctx, h)
		return nil
	}
	if now.Sub(s.seen) >= time.Minute {
		if err := st.be.Touch(ctx, h, now); err != nil {
			st.log.Warn("touch session", "err", err)
		}
	}
	s.seen = now
	return s
}

func (st *sessionStore) drop(ctx context.Context, id string) {
	if err := st.be.Delete(ctx, sha256.Sum256([]byte(id))); err != nil {
		st.log.Error("delete session", "err", err)
	}
}

type sessionRecord = sessionstore.Session

// sessionOf returns the request's live session: the user must still exist and be active, and
// their current role applies (a role change or disable takes effect on the next request). A
// single-sign-on session keeps the role its claims gave at login, and ends when a local user of
// the same name is disabled.
func (c *Console) sessionOf(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return nil
	}
	s := c.sessions.get(r.Context(), ck.Value)
	if s == nil {
		return nil
	}
	u, err := c.opts.Users.Get(s.user)
	if s.sso {
		if err == nil && u.Disabled() {
			c.sessions.drop(r.Context(), ck.Value)
			return nil
		}
		return s
	}
	if err != nil || u.Disabled() {
		c.sessions.drop(r.Context(), ck.Value)
		return nil
	}
	s.role = u.Role
	return s
}

func (c *Console) secure(r *http.Request) bool { return c.opts.Secure || r.TLS != nil }

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
}

type loginView struct {
	CSRF, Next, User, Error string
	Reason                  string // the failure's code, for tests and support
	SSO                     bool   // offer single sign-on
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	for k := range r.URL.Query() {
		if k != "next" {
			c.errorPage(w, r, nil, http.StatusBadRequest, "Unknown query parameter "+k+".")
			return
		}
	}
	if c.sessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, loginView{Next: r.URL.Query().Get("next")})
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	v.CSRF = randomToken()
	c.setCookie(w, r, loginCookie, v.CSRF, 3600)
	v.Next = safeNext(v.Next)
	v.SSO = c.ssoEnabled()
	if err := c.render(w, r, nil, status, "login", "Log in", v); err != nil {
		c.log.Error("render login", "err", err)
	}
}

// safeNext keeps only local paths as a redirect target after login.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

func urlEscape(s string) string { return url.QueryEscape(s) }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// login handles POST /login (form username, password, csrf, next): 303 to next with a session
// cookie, or the login page again with 401 (wrong name or password), 429 (too many failures)
// or 403 (a forged or missing form token). Every attempt is recorded as an access event.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, nil, http.StatusBadRequest, "Malformed login form.")
		return
	}
	name, pw, next := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password"), r.PostForm.Get("next")
	ip := clientIP(r)
	attempt := LoginAttempt{User: name, IP: ip, Time: c.opts.Now()}
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		attempt.Reason = "bad_csrf"
		c.opts.Backend.RecordLogin(r.Context(), attempt)
		c.showLogin(w, r, http.StatusForbidden, loginView{User: name, Next: next, Error: "The login form expired or was not sent by this page. Try again."})
		return
	}
	if name == "" || pw == "" {
		c.showLogin(w, r, http.StatusBadRequest, loginView{User: name, Next: next, Error: "Enter your user name and password."})
		return
	}
	if retry, locked := c.limiter.locked(name, ip); locked {
		attempt.Reason = "rate_limited"
		attempt.Failures = c.limiter.failures(name)
		c.opts.Backend.RecordLogin(r.Context(), attempt)
		w.Header().Set("Retry-After", itoa(int(retry.Seconds())+1))
		c.showLogin(w, r, http.StatusTooManyRequests, loginView{User: name, Next: next, Error: "Too many failed logins. Try again in " + retry.Round(time.Second).String() + "."})
		return
	}
	u, err := c.opts.Users.Authenticate(name, pw)
	if err != nil {
		attempt.Reason = "bad_credentials"
		if errors.Is(err, users.ErrDisabled) {
			attempt.Reason = "disabled"
		}
		attempt.Failures = c.limiter.fail(name, ip)
		c.opts.Backend.RecordLogin(r.Context(), attempt)
		c.showLogin(w, r, http.StatusUnauthorized, loginView{User: name, Next: next, Error: "Wrong user name or password."})
		return
	}
	c.limiter.succeed(name)
	attempt.Allowed, attempt.Reason = true, "ok"
	c.opts.Backend.RecordLogin(r.Context(), attempt)
	id, _, err := c.sessions.create(r.Context(), u)
	if err != nil {
		c.log.Error("start session", "err", err)
		c.errorPage(w, r, nil, http.StatusServiceUnavailable, "Sessions are unavailable right now; try again shortly.")
		return
	}
	c.setCookie(w, r, sessionCookie, id, int(c.opts.SessionMax.Seconds()))
	c.setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) error {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.drop(r.Context(), ck.Value)
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// loginLimiter counts failed logins per name and per client address within a window.
type loginLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	byName map[string][]time.Time
	byIP   map[string][]time.Time
}

func newLoginLimiter(now func() time.Time, maxFailures int, window time.Duration) *loginLimiter {
	return &loginLimiter{now: now, max: maxFailures, window: window, byName: map[string][]time.Time{}, byIP: map[string][]time.Time{}}
}

func (l *loginLimiter) recent(m map[string][]time.Time, k string, now time.Time) []time.Time {
	ts := m[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(m, k)
	} else {
		m[k] = ts
	}
	return ts
}

// locked reports whether name or ip is locked out, and for how long.
func (l *loginLimiter) locked(name, ip string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, c := range []struct {
		ts  []time.Time
		max int
	}{{l.recent(l.byName, name, now), l.max}, {l.recent(l.byIP, ip, now), 4 * l.max}} {
		if len(c.ts) >= c.max {
			return c.ts[len(c.ts)-c.max].Add(l.window).Sub(now), true
		}
	}
	return 0, false
}

func (l *loginLimiter) fail(name, ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.byName) > 100_000 || len(l.byIP) > 100_000 { // bounded memory under a spray
		l.byName, l.byIP = map[string][]time.Time{}, map[string][]time.Time{}
	}
	l.byName[name] = append(l.recent(l.byName, name, now), now)
	l.byIP[ip] = append(l.recent(l.byIP, ip, now), now)
	return len(l.byName[name])
}

func (l *loginLimiter) failures(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(l.byName, name, l.now()))
}

func (l *loginLimiter) succeed(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byName, name)
}
