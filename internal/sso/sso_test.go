package sso_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/sso"
)

// testUser is a person at the test provider (mockoidc, a real OIDC provider run in-process)
// whose ID-token claims a case may override, to get tokens for another issuer or audience,
// expired ones, or ones with another nonce.
type testUser struct {
	*mockoidc.MockUser
	set map[string]any
}

func (u *testUser) Claims(scope []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c, err := u.MockUser.Claims(scope, base)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	m := jwt.MapClaims{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range u.set {
		m[k] = v
	}
	return m, nil
}

// provider starts the test provider; corrupt makes it spoil the next ID token's signature.
type provider struct {
	m       *mockoidc.MockOIDC
	corrupt bool
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{m: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint || !p.corrupt {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			var body map[string]any
			if err := json.Unmarshal(rec.body.Bytes(), &body); err == nil {
				if tok, ok := body["id_token"].(string); ok {
					body["id_token"] = tok[:len(tok)-4] + "AAAA"
					p.corrupt = false
				}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.code)
			_ = json.NewEncoder(w).Encode(body)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func (p *provider) options() sso.Options {
	return sso.Options{Issuer: p.m.Issuer(), ClientID: p.m.ClientID, ClientSecret: p.m.ClientSecret,
		RedirectURL: "http://127.0.0.1:7700/login/oidc/callback",
		Roles:       []sso.RoleMapping{{Value: "warden-admins", Role: access.Admin}, {Value: "sec-team", Role: access.Analyst}, {Value: "audit", Role: access.Auditor}},
	}
}

// authorize sends the browser's first leg to the provider and returns the callback's query.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: %d %s", resp.StatusCode, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc.Path, "/login/oidc/callback") {
		t.Fatalf("provider redirected to %s", loc)
	}
	return loc.Query()
}

func user(email string, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: true, Groups: groups}
}

func TestLogin(t *testing.T) {
	idp := startProvider(t)
	now := time.Now()
	cases := []struct {
		name    string
		opts    func(*sso.Options)
		user    mockoidc.User
		flow    func(*sso.Flow)
		answer  func(url.Values)
		corrupt bool
		reason  string
		want    sso.Identity
	}{
		{name: "analyst by group", user: user("Ann@Example.com", "staff", "sec-team"),
			want: sso.Identity{User: "ann@example.com", Email: "ann@example.com", Role: access.Analyst}},
		{name: "first mapping wins", user: user("root@example.com", "sec-team", "warden-admins"),
			want: sso.Identity{User: "root@example.com", Email: "root@example.com", Role: access.Admin}},
		{name: "groups as one string", user: &testUser{user("aud@example.com"), map[string]any{"groups": "x audit"}},
			want: sso.Identity{User: "aud@example.com", Email: "aud@example.com", Role: access.Auditor}},
		{name: "unverified e-mail is not a name", user: &testUser{user("eve@example.com", "sec-team"), map[string]any{"email_verified": false}},
			want: sso.Identity{User: "oidc:sub-eve@example.com", Role: access.Analyst}},
		{name: "allowed domain", opts: func(o *sso.Options) { o.AllowedDomains = []string{"@Example.com"} }, user: user("ann@example.com", "sec-team"),
			want: sso.Identity{User: "ann@example.com", Email: "ann@example.com", Role: access.Analyst}},
		{name: "default role", opts: func(o *sso.Options) { o.DefaultRole = access.Viewer }, user: user("v@example.com", "marketing"),
			want: sso.Identity{User: "v@example.com", Email: "v@example.com", Role: access.Viewer}},

		{name: "bad state", user: user("ann@example.com", "sec-team"), answer: func(q url.Values) { q.Set("state", "forged-state-0123456789") }, reason: sso.ReasonBadState},
		{name: "no state", user: user("ann@example.com", "sec-team"), answer: func(q url.Values) { q.Del("state") }, reason: sso.ReasonBadState},
		{name: "stale flow", user: user("ann@example.com", "sec-team"), flow: func(f *sso.Flow) { f.Created = now.Add(-sso.FlowTTL - time.Minute) }, reason: sso.ReasonBadState},
		{name: "provider error", user: user("ann@example.com", "sec-team"), answer: func(q url.Values) { q.Set("error", "access_denied") }, reason: sso.ReasonDenied},
		{name: "iss parameter of another provider", user: user("ann@example.com", "sec-team"), answer: func(q url.Values) { q.Set("iss", "https://evil.example") }, reason: sso.ReasonWrongIssuer},
		{name: "wrong PKCE verifier", user: user("ann@example.com", "sec-team"), flow: func(f *sso.Flow) { f.Verifier = "another-verifier-0123456789-0123456789-0123456789" }, reason: sso.ReasonExchange},
		{name: "wrong issuer", user: &testUser{user("ann@example.com", "sec-team"), map[string]any{"iss": "https://evil.example/oidc"}}, reason: sso.ReasonWrongIssuer},
		{name: "wrong audience", user: &testUser{user("ann@example.com", "sec-team"), map[string]any{"aud": "another-app"}}, reason: sso.ReasonWrongAudience},
		{name: "another authorized party", user: &testUser{user("ann@example.com", "sec-team"), map[string]any{"azp": "another-app"}}, reason: sso.ReasonWrongAudience},
		{name: "expired token", user: &testUser{user("ann@example.com", "sec-team"), map[string]any{"exp": now.Add(-time.Minute).Unix()}}, reason: sso.ReasonExpired},
		{name: "another nonce", user: &testUser{user("ann@example.com", "sec-team"), map[string]any{"nonce": "replayed"}}, reason: sso.ReasonBadNonce},
		{name: "bad signature", user: user("ann@example.com", "sec-team"), corrupt: true, reason: sso.ReasonBadToken},
		{name: "domain not allowed", opts: func(o *sso.Options) { o.AllowedDomains = []string{"example.com"} }, user: user("mallory@example.org", "sec-team"), reason: sso.ReasonDomain},
		{name: "unverified e-mail in allowed domain", opts: func(o *sso.Options) { o.AllowedDomains = []string{"example.com"} },
			user: &testUser{user("eve@example.com", "sec-team"), map[string]any{"email_verified": false}}, reason: sso.ReasonDomain},
		{name: "unknown group", user: user("ann@example.com", "marketing"), reason: sso.ReasonUnknownGroup},
		{name: "no groups", user: user("ann@example.com"), reason: sso.ReasonUnknownGroup},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := idp.options()
			if tc.opts != nil {
				tc.opts(&o)
			}
			p, err := sso.New(o)
			if err != nil {
				t.Fatal(err)
			}
			f := sso.NewFlow("/alerts", now)
			authURL, err := p.AuthURL(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			au, _ := url.Parse(authURL)
			if q := au.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") != f.Nonce || q.Get("state") != f.State {
				t.Fatalf("authorization URL lacks PKCE, nonce or state: %s", authURL)
			}
			idp.m.QueueUser(tc.user)
			q := authorize(t, authURL)
			if tc.answer != nil {
				tc.answer(q)
			}
			if tc.flow != nil {
				tc.flow(&f)
			}
			idp.corrupt = tc.corrupt
			id, err := p.Finish(context.Background(), f, q)
			if tc.reason != "" {
				var se *sso.Error
				if !errors.As(err, &se) || se.Reason != tc.reason {
					t.Fatalf("got %+v, %v; want reason %s", id, err, tc.reason)
				}
				if se.Msg == "" || strings.Contains(se.Error()+se.Msg, o.ClientSecret) {
					t.Fatalf("message %q / error %q: empty or leaks the client secret", se.Msg, se.Error())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.User != tc.want.User || id.Email != tc.want.Email || id.Role != tc.want.Role || id.Subject == "" || id.Issuer != o.Issuer {
				t.Fatalf("identity %+v, want %+v", id, tc.want)
			}
		})
	}
}

// A code can be redeemed once: replaying the provider's answer fails at the token endpoint.
func TestCodeReplay(t *testing.T) {
	idp := startProvider(t)
	p, err := sso.New(idp.options())
	if err != nil {
		t.Fatal(err)
	}
	f := sso.NewFlow("/", time.Now())
	authURL, err := p.AuthURL(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	idp.m.QueueUser(user("ann@example.com", "sec-team"))
	q := authorize(t, authURL)
	if _, err := p.Finish(context.Background(), f, q); err != nil {
		t.Fatal(err)
	}
	var se *sso.Error
	if _, err := p.Finish(context.Background(), f, q); !errors.As(err, &se) || se.Reason != sso.ReasonExchange {
		t.Fatalf("replayed code: %v", err)
	}
}

func TestUnreachableProvider(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	p, err := sso.New(sso.Options{Issuer: "http://" + addr, ClientID: "warden", RedirectURL: "http://127.0.0.1/cb", DefaultRole: access.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	var se *sso.Error
	if _, err := p.AuthURL(context.Background(), sso.NewFlow("/", time.Now())); !errors.As(err, &se) || se.Reason != sso.ReasonUnavailable {
		t.Fatalf("AuthURL with the provider down: %v", err)
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name  string
		opts  sso.Options
		field string
	}{
		{"no issuer", sso.Options{ClientID: "w", RedirectURL: "https://w/cb", DefaultRole: access.Viewer}, "issuer"},
		{"no client", sso.Options{Issuer: "https://idp", RedirectURL: "https://w/cb", DefaultRole: access.Viewer}, "client_id"},
		{"no redirect", sso.Options{Issuer: "https://idp", ClientID: "w", DefaultRole: access.Viewer}, "redirect_url"},
		{"bad role", sso.Options{Issuer: "https://idp", ClientID: "w", RedirectURL: "https://w/cb", Roles: []sso.RoleMapping{{Value: "g", Role: "root"}}}, "roles[0]"},
		{"no roles", sso.Options{Issuer: "https://idp", ClientID: "w", RedirectURL: "https://w/cb"}, "roles"},
		{"bad default", sso.Options{Issuer: "https://idp", ClientID: "w", RedirectURL: "https://w/cb", DefaultRole: "ingest"}, "default_role"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sso.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
