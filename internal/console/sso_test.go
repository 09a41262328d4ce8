package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/warden-ai/warden/internal/app"
	"github.com/warden-ai/warden/internal/config"
)

// testPerson is someone at the test identity provider (mockoidc, an OIDC provider run in
// process) whose ID-token claims a case may override.
type testPerson struct {
	*mockoidc.MockUser
	set map[string]any
}

func (u *testPerson) Claims(scope []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
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

func person(email string, set map[string]any, groups ...string) *testPerson {
	return &testPerson{&mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: true, Groups: groups}, set}
}

const oidcSecretEnv = "WARDEN_TEST_OIDC_SECRET"

// startSSO runs the test identity provider and Warden configured to use it. Warden is reached
// as http://localhost:PORT and the provider as http://127.0.0.1:PORT: two different sites, as
// in production. (The test provider approves without a page of its own, so the browser's
// navigation stays one that Warden's page started.)
func startSSO(t *testing.T) (*mockoidc.MockOIDC, *app.App, string) {
	t.Helper()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	base := fmt.Sprintf("http://localhost:%d", port)
	cfg, err := config.Parse(fmt.Appendf(nil, `models:
  - name: support-bot
console:
  oidc:
    issuer: %s
    client_id: %s
    client_secret_env: %s
    redirect_url: %s/login/oidc/callback
    roles:
      - {value: warden-admins, role: admin}
      - {value: sec-team, role: analyst}
    allowed_domains: [example.com]
`, idp.Issuer(), idp.ClientID, oidcSecretEnv, base))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": adminToken, "WARDEN_INGEST_TOKEN": ingestToken, oidcSecretEnv: idp.ClientSecret}
	a, err := app.New(context.Background(), app.Options{DataDir: filepath.Join(t.TempDir(), "data"), Listen: fmt.Sprintf("127.0.0.1:%d", port),
		GatewayListen: "off", Config: cfg, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return idp, a, base
}

var reasonRE = regexp.MustCompile(`data-reason="([a-z_]*)"`)

// TestSSOLogin logs in through the provider over plain HTTP and checks that each way it can go
// wrong is a clear login error with its own reason, recorded as an access event.
func TestSSOLogin(t *testing.T) {
	idp, _, base := startSSO(t)
	now := time.Now()
	cases := []struct {
		name     string
		person   mockoidc.User
		tamper   func(q url.Values) // the provider's answer on its way back
		noCookie bool
		status   int
		reason   string
		user     string // the session's person, for a success
	}{
		{name: "analyst", person: person("ann@example.com", nil, "sec-team"), status: 200, user: "ann@example.com · <b>analyst</b>"},
		{name: "admin", person: person("root@example.com", nil, "sec-team", "warden-admins"), status: 200, user: "root@example.com · <b>admin</b>"},
		{name: "bad state", person: person("ann@example.com", nil, "sec-team"), tamper: func(q url.Values) { q.Set("state", "forged-by-someone-else") }, status: 400, reason: "bad_state"},
		{name: "no flow cookie", person: person("ann@example.com", nil, "sec-team"), noCookie: true, status: 400, reason: "bad_state"},
		{name: "provider refused", person: person("ann@example.com", nil, "sec-team"), tamper: func(q url.Values) { q.Del("code"); q.Set("error", "access_denied") }, status: 401, reason: "provider_error"},
		{name: "wrong issuer", person: person("ann@example.com", map[string]any{"iss": "https://evil.example/oidc"}, "sec-team"), status: 401, reason: "wrong_issuer"},
		{name: "wrong audience", person: person("ann@example.com", map[string]any{"aud": "another-app"}, "sec-team"), status: 401, reason: "wrong_audience"},
		{name: "expired token", person: person("ann@example.com", map[string]any{"exp": now.Add(-time.Hour).Unix()}, "sec-team"), status: 401, reason: "expired_token"},
		{name: "another nonce", person: person("ann@example.com", map[string]any{"nonce": "from-another-login"}, "sec-team"), status: 401, reason: "bad_nonce"},
		{name: "other domain", person: person("mallory@example.org", nil, "sec-team"), status: 403, reason: "domain_not_allowed"},
		{name: "unknown group", person: person("bob@example.com", nil, "marketing"), status: 403, reason: "unknown_group"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(u string) *http.Response {
				t.Helper()
				resp, err := c.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = resp.Body.Close() })
				return resp
			}
			resp := get(base + "/login/oidc?next=/alerts")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), idp.AuthorizationEndpoint()) {
				t.Fatalf("start: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			idp.QueueUser(tc.person)
			resp = get(resp.Header.Get("Location"))
			back, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || resp.StatusCode != http.StatusFound {
				t.Fatalf("provider: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			q := back.Query()
			if tc.tamper != nil {
				tc.tamper(q)
				back.RawQuery = q.Encode()
			}
			if tc.noCookie {
				c.Jar, _ = cookiejar.New(nil)
			}
			resp = get(back.String())
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("callback: %d, want %d\n%s", resp.StatusCode, tc.status, body)
			}
			if tc.reason != "" {
				m := reasonRE.FindSubmatch(body)
				if m == nil || string(m[1]) != tc.reason || !strings.Contains(string(body), "Single sign-on failed: ") {
					t.Fatalf("login page without the %s error:\n%s", tc.reason, body)
				}
				if strings.Contains(string(body), idp.ClientSecret) {
					t.Fatal("the client secret is on the page")
				}
				return
			}
			if !strings.Contains(string(body), `http-equiv="refresh" content="0;url=/alerts"`) {
				t.Fatalf("no same-site move on to /alerts:\n%s", body)
			}
			page := get(base + "/alerts")
			pb, _ := io.ReadAll(page.Body)
			if page.StatusCode != 200 || !strings.Contains(string(pb), tc.user) {
				t.Fatalf("/alerts after login: %d, want %q on it\n%.500s", page.StatusCode, tc.user, pb)
			}
		})
	}

	// Every attempt is an access event: action login, method oidc, the reason, and for a
	// token that was good but not admitted, who tried.
	want := map[string]string{"ok": "ann@example.com", "bad_state": "", "provider_error": "", "wrong_issuer": "", "wrong_audience": "",
		"expired_token": "", "bad_nonce": "", "domain_not_allowed": "mallory@example.org", "unknown_group": "bob@example.com"}
	var last string
	waitFor(t, 15*time.Second, "the login access events", func() bool {
		_, body := api(t, "GET", base+"/v1/events?type=access&limit=100", adminToken, "")
		last = string(body)
		var page struct {
			Events []struct {
				Action, Decision, Reason string
				Actor                    struct{ User string }
				Attributes               map[string]any
			}
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return false
		}
		got := map[string]bool{}
		for _, e := range page.Events {
			if e.Action != "login" || e.Attributes["method"] != "oidc" {
				continue
			}
			if u, ok := want[e.Reason]; ok && (u == "" || e.Actor.User == u) && (e.Decision == "allow") == (e.Reason == "ok") {
				got[e.Reason] = true
			}
		}
		return len(got) == len(want)
	})
	if t.Failed() {
		t.Log(last)
	}
}

// TestSSOInBrowser logs in through the test identity provider in Debian's headless Chromium,
// across sites (localhost → 127.0.0.1 → localhost), and sees a person
// whose groups have no role refused with a clear message.
func TestSSOInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s missing: run scripts/test-deps.sh (apt-get install chromium)", chromium)
	}
	artifacts := os.Getenv("WARDEN_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(t.TempDir(), "artifacts")
	}
	if err := os.MkdirAll(artifacts, 0o700); err != nil {
		t.Fatal(err)
	}
	idp, _, base := startSSO(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx0 := ctx
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
		defer cancelT()
		if err := chromedp.Do(ctx, steps...); err != nil {
			sctx, scancel := context.WithTimeout(ctx0, 5*time.Second)
			defer scancel()
			loc, lerr := chromedp.Run(sctx, chromedp.Location())
			html, _ := chromedp.Run(sctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v (at %s %v)\n%.1500s", what, err, loc, lerr, html)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name+".png"), png, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if err := chromedp.Do(ctx); err != nil { // the browser lives as long as ctx
		t.Fatalf("start the browser: %v", err)
	}
	run("open the login page", chromedp.Navigate(base+"/alerts"), chromedp.WaitVisible(chromedp.CSS("#sso")))
	shot("50-sso-login")
	idp.QueueUser(person("ann@example.com", nil, "sec-team"))
	run("log in with single sign-on", chromedp.Click(chromedp.CSS("#sso")), chromedp.WaitVisible(chromedp.CSS("#whoami")))
	if who := text("#whoami"); who != "ann@example.com · analyst" {
		t.Fatalf("logged in as %q", who)
	}
	if h := text("h1"); !strings.HasPrefix(h, "Alerts") { // back where the person started
		t.Fatalf("after login: %q, want the alerts page", h)
	}
	shot("51-sso-analyst-alerts")
	run("log out", chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.CSS("#sso")))

	idp.QueueUser(person("bob@example.com", nil, "marketing"))
	run("a person without a mapped group", chromedp.Click(chromedp.CSS("#sso")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if msg := text("#login-error"); !strings.Contains(msg, "no group that has a role") {
		t.Fatalf("error shown: %q", msg)
	}
	shot("52-sso-unknown-group")
}

// TestSSOSessionEndsWithDisabledUser: a single-sign-on person has no local account, yet
// disabling a local user of the same name ends their session and refuses their next login.
func TestSSOSessionEndsWithDisabledUser(t *testing.T) {
	idp, a, base := startSSO(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	status := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	idp.QueueUser(person("ann@example.com", nil, "sec-team"))
	if code, body := status("/login/oidc?next=/models"); code != 200 || !strings.Contains(body, "url=/models") {
		t.Fatalf("login: %d %.300s", code, body)
	}
	if code, body := status("/models"); code != 200 || !strings.Contains(body, "ann@example.com · <b>analyst</b>") {
		t.Fatalf("/models: %d %.300s", code, body)
	}
	ctx := context.Background()
	if _, err := a.Users().Create(ctx, "ann@example.com", "viewer", "a-long-password-0123"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Users().Disable(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if code, body := status("/models"); code != 200 || !strings.Contains(body, `id="sso"`) {
		t.Fatalf("/models after disable: %d, want the login page\n%.300s", code, body)
	}
	idp.QueueUser(person("ann@example.com", nil, "sec-team"))
	if code, body := status("/login/oidc"); code != http.StatusForbidden || !strings.Contains(body, "disabled") {
		t.Fatalf("login of a disabled person: %d %.300s", code, body)
	}
}
