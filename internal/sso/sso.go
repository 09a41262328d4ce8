// Package sso is the console's optional OpenID Connect login: the authorization-code flow with
// PKCE (S256), a state bound to the browser and a nonce bound to the ID token, verification of
// the ID token against the provider's published keys (issuer, audience, authorized party,
// expiry, nonce checked one by one so each failure has its own reason), and the mapping from a
// claim (usually groups) to a Warden role, limited to allowed e-mail domains.
//
// Discovery is lazy: the provider is looked up on the first login and again after a failure,
// so Warden starts while the identity provider is down. The client secret is held in memory
// only and never logged or shown.
package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/warden-ai/warden/internal/access"
)

// Reasons a login fails; they are the `reason` of the access event the console records.
const (
	ReasonBadState      = "bad_state"      // state missing, expired or not this browser's
	ReasonDenied        = "provider_error" // the provider answered with an error
	ReasonUnavailable   = "provider_unavailable"
	ReasonExchange      = "code_exchange_failed" // the token endpoint refused the code (or the PKCE verifier)
	ReasonBadToken      = "invalid_token"        // no ID token, bad signature, malformed claims
	ReasonWrongIssuer   = "wrong_issuer"
	ReasonWrongAudience = "wrong_audience"
	ReasonExpired       = "expired_token"
	ReasonBadNonce      = "bad_nonce"
	ReasonDomain        = "domain_not_allowed"
	ReasonUnknownGroup  = "unknown_group"
)

// Error is a failed login: Reason is a stable code, Msg is safe to show the person, Err the
// detail for the server log (never containing the client secret or tokens).
type Error struct {
	Reason string
	Msg    string
	Err    error
	User   string // who tried, when the token was good but the person is not admitted
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

func fail(reason, msg string, err error) error { return &Error{Reason: reason, Msg: msg, Err: err} }

// RoleMapping gives Role to whoever has Value in the role claim.
type RoleMapping struct {
	Value string
	Role  access.Role
}

// Options configure the provider.
type Options struct {
	Issuer       string
	ClientID     string
	ClientSecret string // never logged
	RedirectURL  string // this server's callback: https://warden.example/login/oidc/callback
	// Scopes requested (default openid, email, profile, groups).
	Scopes []string
	// RoleClaim is the claim holding groups or roles (default "groups"); a string or a list.
	RoleClaim string
	// Roles map claim values to roles; the first mapping that matches wins.
	Roles []RoleMapping
	// DefaultRole is given when no mapping matches; empty refuses the login (unknown group).
	DefaultRole access.Role
	// AllowedDomains, when set, admit only people whose verified e-mail is in one of them.
	AllowedDomains []string
	// HTTPClient talks to the provider (default: 10 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time
}

// Identity is a person the provider vouched for.
type Identity struct {
	User    string // the name actions are attributed to: the e-mail, else "oidc:" + subject
	Subject string
	Email   string
	Issuer  string
	Role    access.Role
	Groups  []string
}

// Provider runs logins against one OpenID Connect provider.
type Provider struct {
	opts Options

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery succeeds
}

// New checks the options; discovery waits for the first login.
func New(opts Options) (*Provider, error) {
	var errs []error
	if u, err := url.Parse(opts.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("issuer: must be an http(s) URL"))
	}
	if opts.ClientID == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	if u, err := url.Parse(opts.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("redirect_url: must be an http(s) URL"))
	}
	for i, m := range opts.Roles {
		if _, err := access.ParseRole(string(m.Role)); err != nil || m.Value == "" {
			errs = append(errs, fmt.Errorf("roles[%d]: needs a claim value and a role viewer|analyst|auditor|admin", i))
		}
	}
	if opts.DefaultRole != "" {
		if _, err := access.ParseRole(string(opts.DefaultRole)); err != nil {
			errs = append(errs, errors.New("default_role: must be viewer, analyst, auditor or admin"))
		}
	}
	if len(opts.Roles) == 0 && opts.DefaultRole == "" {
		errs = append(errs, errors.New("roles: map at least one claim value to a role (or set default_role)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = []string{oidc.ScopeOpenID, "email", "profile", "groups"}
	}
	if !slices.Contains(opts.Scopes, oidc.ScopeOpenID) {
		opts.Scopes = append([]string{oidc.ScopeOpenID}, opts.Scopes...)
	}
	if opts.RoleClaim == "" {
		opts.RoleClaim = "groups"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for i, d := range opts.AllowedDomains {
		opts.AllowedDomains[i] = strings.ToLower(strings.TrimPrefix(d, "@"))
	}
	return &Provider{opts: opts}, nil
}

// Issuer is the configured issuer URL.
func (p *Provider) Issuer() string { return p.opts.Issuer }

func (p *Provider) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, p.opts.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, p.opts.HTTPClient)
}

// discover returns the provider's metadata, fetching it on first use (and after a failure).
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	pr, err := oidc.NewProvider(p.ctx(ctx), p.opts.Issuer)
	if err != nil {
		return nil, fail(ReasonUnavailable, "The identity provider could not be reached. Try again later or log in with a password.", err)
	}
	p.provider = pr
	return pr, nil
}

func (p *Provider) config(pr *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.opts.ClientID, ClientSecret: p.opts.ClientSecret, Endpoint: pr.Endpoint(),
		RedirectURL: p.opts.RedirectURL, Scopes: p.opts.Scopes}
}

// AuthURL is where the browser goes to log in for flow f: it carries the state, the nonce and
// the PKCE S256 challenge of f's verifier.
func (p *Provider) AuthURL(ctx context.Context, f Flow) (string, error) {
	pr, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.config(pr).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

// idClaims are the ID-token claims Warden reads; the role claim is read separately.
type idClaims struct {
	Issuer        string          `json:"iss"`
	Subject       string          `json:"sub"`
	Audience      json.RawMessage `json:"aud"`
	AZP           string          `json:"azp"`
	Expiry        *float64        `json:"exp"`
	Nonce         string          `json:"nonce"`
	Email         string          `json:"email"`
	EmailVerified *bool           `json:"email_verified"`
}

// Finish completes flow f with the provider's answer q (the callback's query): it checks the
// state, exchanges the code with the PKCE verifier, verifies the ID token and maps the person
// to a role. Every failure is an *Error.
func (p *Provider) Finish(ctx context.Context, f Flow, q url.Values) (Identity, error) {
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if len(desc) > 200 {
			desc = desc[:200]
		}
		return Identity{}, fail(ReasonDenied, "The identity provider refused the login ("+e+").", fmt.Errorf("provider error %q: %s", e, desc))
	}
	st := q.Get("state")
	if st == "" || f.State == "" || subtle.ConstantTimeCompare([]byte(st), []byte(f.State)) != 1 {
		return Identity{}, fail(ReasonBadState, "The login did not start in this browser or took too long. Start again.", errors.New("state does not match the browser's login"))
	}
	if age := p.opts.Now().Sub(f.Created); age > FlowTTL || age < -time.Minute {
		return Identity{}, fail(ReasonBadState, "The login took too long. Start again.", fmt.Errorf("flow is %s old", age.Round(time.Second)))
	}
	pr, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	// RFC 9207: a provider that names itself in the answer must be the configured one.
	if iss := q.Get("iss"); iss != "" && iss != p.opts.Issuer {
		return Identity{}, fail(ReasonWrongIssuer, "The answer came from another identity provider than the configured one.", fmt.Errorf("iss parameter %q", iss))
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, fail(ReasonExchange, "The identity provider sent no authorization code.", errors.New("no code"))
	}
	tok, err := p.config(pr).Exchange(p.ctx(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return Identity{}, fail(ReasonExchange, "The identity provider did not accept the login code.", redactExchange(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fail(ReasonBadToken, "The identity provider sent no ID token.", errors.New("token response without id_token"))
	}
	return p.verify(ctx, pr, raw, f.Nonce)
}

// redactExchange keeps the provider's error code but not the request (which could carry the
// client secret in a URL on some failures).
func redactExchange(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("token endpoint: HTTP %d %s", re.Response.StatusCode, re.ErrorCode)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("token endpoint: %w", ue.Err)
	}
	return errors.New("token endpoint: exchange failed")
}

// verify checks the ID token's signature with the provider's keys, then each claim on its own.
func (p *Provider) verify(ctx context.Context, pr *oidc.Provider, raw, nonce string) (Identity, error) {
	sigOnly := pr.VerifierContext(p.ctx(ctx), &oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true, SkipIssuerCheck: true})
	t, err := sigOnly.Verify(p.ctx(ctx), raw)
	if err != nil {
		return Identity{}, fail(ReasonBadToken, "The ID token's signature could not be verified.", err)
	}
	var c idClaims
	if err := t.Claims(&c); err != nil {
		return Identity{}, fail(ReasonBadToken, "The ID token is malformed.", err)
	}
	if c.Issuer != p.opts.Issuer {
		return Identity{}, fail(ReasonWrongIssuer, "The ID token was issued by another identity provider than the configured one.", fmt.Errorf("iss %q, want %q", c.Issuer, p.opts.Issuer))
	}
	aud, err := audience(c.Audience)
	if err != nil || !slices.Contains(aud, p.opts.ClientID) || (len(aud) > 1 && c.AZP != p.opts.ClientID) || (c.AZP != "" && c.AZP != p.opts.ClientID) {
		return Identity{}, fail(ReasonWrongAudience, "The ID token was issued to another application.", fmt.Errorf("aud %v azp %q", aud, c.AZP))
	}
	now := p.opts.Now()
	if c.Expiry == nil || time.Unix(int64(*c.Expiry), 0).Before(now) {
		return Identity{}, fail(ReasonExpired, "The ID token has expired. Log in again (and check this server's clock).", fmt.Errorf("exp %v, now %s", c.Expiry, now.UTC().Format(time.RFC3339)))
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return Identity{}, fail(ReasonBadNonce, "The ID token does not belong to this login (nonce mismatch). Start again.", errors.New("nonce mismatch"))
	}
	if c.Subject == "" {
		return Identity{}, fail(ReasonBadToken, "The ID token names nobody (no subject).", errors.New("no sub"))
	}
	id := Identity{Subject: c.Subject, Issuer: c.Issuer, User: "oidc:" + c.Subject}
	verified := c.EmailVerified == nil || *c.EmailVerified
	if c.Email != "" && verified {
		id.Email = strings.ToLower(c.Email)
		id.User = id.Email
	}
	if len(p.opts.AllowedDomains) > 0 {
		_, dom, ok := strings.Cut(id.Email, "@")
		if !ok || !slices.Contains(p.opts.AllowedDomains, dom) {
			return Identity{}, &Error{Reason: ReasonDomain, Msg: "Your account's e-mail domain is not allowed to use this console.",
				Err: fmt.Errorf("email %q (verified %v)", c.Email, verified), User: id.User}
		}
	}
	var all map[string]json.RawMessage
	if err := t.Claims(&all); err != nil {
		return Identity{}, fail(ReasonBadToken, "The ID token is malformed.", err)
	}
	id.Groups = claimValues(all[p.opts.RoleClaim])
	id.Role = p.role(id.Groups)
	if id.Role == "" {
		return Identity{}, &Error{Reason: ReasonUnknownGroup, Msg: "Your account is in no group that has a role in this console. Ask an administrator to map one.",
			Err: fmt.Errorf("%s %q", p.opts.RoleClaim, id.Groups), User: id.User}
	}
	return id, nil
}

func (p *Provider) role(values []string) access.Role {
	for _, m := range p.opts.Roles {
		if slices.Contains(values, m.Value) {
			return m.Role
		}
	}
	return p.opts.DefaultRole
}

func audience(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	err := json.Unmarshal(raw, &many)
	return many, err
}

// claimValues reads a claim that is a string, a list of strings, or (space- or comma-separated)
// a single string of several values.
func claimValues(raw json.RawMessage) []string {
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil && one != "" {
		return strings.FieldsFunc(one, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return nil
}
