package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/warden-ai/warden/internal/sso"
)

// SSO is an OpenID Connect provider offered beside passwords (package sso implements it).
type SSO interface {
	// AuthURL is where the browser logs in for flow f.
	AuthURL(ctx context.Context, f sso.Flow) (string, error)
	// Finish checks the provider's answer q for flow f; failures are *sso.Error.
	Finish(ctx context.Context, f sso.Flow, q url.Values) (sso.Identity, error)
}

const (
	flowCookie   = "warden_oidc"
	flowPath     = "/login/oidc"
	callbackPath = "/login/oidc/callback"
)

// callbackParams are the query parameters a provider may send back (RFC 6749 §4.1.2, RFC 9207
// iss, OIDC session management's session_state, and ones common providers add).
var callbackParams = map[string]bool{"code": true, "state": true, "error": true, "error_description": true,
	"error_uri": true, "iss": true, "session_state": true, "scope": true, "authuser": true, "hd": true, "prompt": true}

// ssoStart handles GET /login/oidc?next=…: it starts a flow (state, nonce, PKCE verifier in an
// HttpOnly cookie of this browser) and sends the browser to the provider.
func (c *Console) ssoStart(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	for k := range r.URL.Query() {
		if k != "next" {
			c.errorPage(w, r, nil, http.StatusBadRequest, "Unknown query parameter "+k+".")
			return
		}
	}
	next := safeNext(r.URL.Query().Get("next"))
	f := sso.NewFlow(next, c.opts.Now())
	u, err := c.opts.SSO.AuthURL(r.Context(), f)
	if err != nil {
		c.ssoFailed(w, r, err, next, "")
		return
	}
	// SameSite=Lax: the provider's redirect back is a cross-site top-level GET, which must
	// carry this cookie; the session cookie itself stays Strict.
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: f.Encode(), Path: flowPath, MaxAge: int(sso.FlowTTL.Seconds()),
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// ssoCallback handles the provider's answer: the state must match this browser's flow, the
// code is exchanged with the PKCE verifier and the ID token verified; then a session starts.
// Every outcome is recorded as an access event (action login, method oidc).
func (c *Console) ssoCallback(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	q := r.URL.Query()
	for k := range q {
		if !callbackParams[k] {
			c.errorPage(w, r, nil, http.StatusBadRequest, "Unknown query parameter "+k+".")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: flowPath, MaxAge: -1,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
	var f sso.Flow
	if ck, err := r.Cookie(flowCookie); err == nil {
		f, _ = sso.ParseFlow(ck.Value) // a missing or malformed flow has no state: bad_state below
	}
	id, err := c.opts.SSO.Finish(r.Context(), f, q)
	if err != nil {
		c.ssoFailed(w, r, err, f.Next, "")
		return
	}
	attempt := LoginAttempt{User: id.User, IP: clientIP(r), Time: c.opts.Now(), Method: "oidc", Subject: id.Subject}
	if u, err := c.opts.Users.Get(id.User); err == nil && u.Disabled() {
		attempt.Reason = "disabled"
		c.opts.Backend.RecordLogin(r.Context(), attempt)
		c.showLogin(w, r, http.StatusForbidden, loginView{Next: f.Next, Error: "Your account is disabled in this console."})
		return
	}
	attempt.Allowed, attempt.Reason = true, "ok"
	c.opts.Backend.RecordLogin(r.Context(), attempt)
	sid, _, err := c.sessions.createFor(r.Context(), id.User, id.Role, true)
	if err != nil {
		c.log.Error("start session", "err", err)
		c.errorPage(w, r, nil, http.StatusServiceUnavailable, "Sessions are unavailable right now; try again shortly.")
		return
	}
	c.setCookie(w, r, sessionCookie, sid, int(c.opts.SessionMax.Seconds()))
	// A redirect here would still belong to the provider's cross-site navigation, and the
	// browser would hold back the SameSite=Strict session cookie; a page of this site that
	// moves on by itself starts a same-site navigation that carries it.
	next := safeNext(f.Next)
	if err := c.renderWith(w, r, nil, http.StatusOK, "continue", "Logged in", map[string]string{"Next": next, "User": id.User}, next); err != nil {
		c.log.Error("render continue", "err", err)
	}
}

// ssoFailed shows the login page with the provider error's message and records the attempt.
func (c *Console) ssoFailed(w http.ResponseWriter, r *http.Request, err error, next, user string) {
	var se *sso.Error
	if !errors.As(err, &se) {
		se = &sso.Error{Reason: "internal", Msg: "The single sign-on login failed.", Err: err}
	}
	if user == "" {
		user = se.User
	}
	c.log.Warn("oidc login failed", "reason", se.Reason, "err", se.Err)
	c.opts.Backend.RecordLogin(r.Context(), LoginAttempt{User: user, IP: clientIP(r), Time: c.opts.Now(), Method: "oidc", Reason: se.Reason})
	status := http.StatusUnauthorized
	switch se.Reason {
	case sso.ReasonUnavailable:
		status = http.StatusBadGateway
	case sso.ReasonUnknownGroup, sso.ReasonDomain:
		status = http.StatusForbidden
	case sso.ReasonBadState:
		status = http.StatusBadRequest
	}
	c.showLogin(w, r, status, loginView{Next: next, Error: "Single sign-on failed: " + se.Msg, Reason: se.Reason})
}

// ssoEnabled reports whether the login page offers single sign-on.
func (c *Console) ssoEnabled() bool { return c.opts.SSO != nil }
