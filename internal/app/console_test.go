package app

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/store"
)

// consoleClient is a browser-like client: a cookie jar, no automatic redirects.
type consoleClient struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

func newConsoleClient(t testing.TB, a *App) *consoleClient {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return &consoleClient{t: t, base: "http://" + a.Addr(), c: c}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (cc *consoleClient) do(method, path string, form url.Values) (*http.Response, string) {
	cc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, cc.base+path, body)
	if err != nil {
		cc.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := cc.c.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		cc.csrf = string(m[1])
	}
	return resp, string(b)
}

func (cc *consoleClient) login(user, pw string) *http.Response {
	cc.t.Helper()
	cc.do("GET", "/login", nil)
	resp, _ := cc.do("POST", "/login", url.Values{"csrf": {cc.csrf}, "username": {user}, "password": {pw}})
	if resp.StatusCode == http.StatusSeeOther {
		cc.do("GET", "/", nil) // picks up the session's CSRF token
	}
	return resp
}

func createUser(t *testing.T, a *App, name string, role access.Role) string {
	t.Helper()
	pw := "password-of-" + name
	if _, err := a.Users().Create(context.Background(), name, role, pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

// TestConsoleRoutes walks every console route: the public ones answer without a session, the
// pages send a visitor without one to the login page (GET) or refuse the form (POST, 403), and
// with a session each role gets 403 exactly where it lacks the page's permission.
func TestConsoleRoutes(t *testing.T) {
	a := startTestApp(t)
	rs, isPublic := a.consoleRoutes()
	perms := a.console.Permissions()
	anon := newConsoleClient(t, a)
	for _, rt := range rs {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = pathParam.ReplaceAllString(strings.ReplaceAll(path, "{$}", ""), "no-such-id")
		resp, body := anon.do(method, path, url.Values{})
		if method == "GET" {
			resp, body = anon.do(method, path, nil)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: missing no-store or request id", rt.pattern)
		}
		switch {
		case isPublic[rt.pattern] && method == "GET":
			if resp.StatusCode != 200 && !(strings.Contains(path, "static") && resp.StatusCode == http.StatusNotFound) {
				t.Errorf("%s: %d without a session, want 200", rt.pattern, resp.StatusCode)
			}
		case isPublic[rt.pattern]: // POST /login without the form token
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d without the login form token, want 403: %s", rt.pattern, resp.StatusCode, body)
			}
		case method == "GET":
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
				t.Errorf("%s: %d → %q without a session, want 303 to /login", rt.pattern, resp.StatusCode, loc)
			}
		default:
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d without a session, want 403", rt.pattern, resp.StatusCode)
			}
		}
	}
	if resp, _ := anon.do("GET", "/static/console.css", nil); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("console.css: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	for _, role := range access.PersonRoles {
		cc := newConsoleClient(t, a)
		name := "p-" + string(role)
		if resp := cc.login(name, createUser(t, a, name, role)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s login: %d", role, resp.StatusCode)
		}
		for pattern, need := range perms {
			method, path, _ := strings.Cut(pattern, " ")
			if pattern == "POST /logout" {
				continue
			}
			path = pathParam.ReplaceAllString(strings.ReplaceAll(path, "{$}", ""), "no-such-id")
			var form url.Values
			if method != "GET" {
				form = url.Values{"csrf": {cc.csrf}}
			}
			resp, body := cc.do(method, path, form)
			if denied := resp.StatusCode == http.StatusForbidden; denied == role.Can(need) {
				t.Errorf("role %s %s (can %s: %v): %d %.200s", role, pattern, need, role.Can(need), resp.StatusCode, body)
			}
		}
	}
}

// TestConsoleLoginAndBadInput: cookie attributes, wrong passwords (401, then 429 once rate
// limited, each an access event), a forged CSRF token, a viewer's ack, a disabled user's
// session, unknown query parameters, and HTML/JS in model names, prompts and rule names
// rendered escaped.
func TestConsoleLoginAndBadInput(t *testing.T) {
	a := startTestApp(t)
	ctx := context.Background()
	pw := createUser(t, a, "ann", access.Analyst)
	vpw := createUser(t, a, "vic", access.Viewer)

	// Failed logins: 401 five times, then 429 even with the right password.
	bad := newConsoleClient(t, a)
	for i := range 5 {
		if resp := bad.login("ann", "wrong-password-"+string(rune('a'+i))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	if resp := bad.login("ann", pw); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: %d, want 429 with Retry-After", resp.StatusCode)
	}
	waitEvents(t, a, store.Query{Type: "access", User: "ann"}, func(evs []*event.Event) bool {
		deny, limited := 0, 0
		for _, e := range evs {
			if e.Action == "login" && e.Decision == "deny" {
				deny++
				if e.Reason == "rate_limited" {
					limited++
				}
			}
		}
		return deny == 6 && limited == 1
	})

	// A fresh client from the same address is still limited for ann; another user is not.
	cc := newConsoleClient(t, a)
	resp := cc.login("vic", vpw)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("vic login: %d", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "warden_session" {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", sess)
	}

	// An alert whose rule name, summary and model carry markup.
	evil := `<script>alert("x")</script>`
	if err := a.alerts.Receive(ctx, []alert.Alert{{RuleID: "r-evil", RuleName: "rule " + evil, Severity: alert.P2, Summary: "summary " + evil, DedupKey: "evil", Model: "m" + evil}}); err != nil {
		t.Fatal(err)
	}
	list, _, _ := a.alerts.List(lifecycle.Filter{})
	id := list[0].ID

	// The viewer sees it, escaped, and cannot ack it.
	for _, p := range []string{"/", "/alerts", "/alerts/" + id} {
		resp, body := cc.do("GET", p, nil)
		if resp.StatusCode != 200 || strings.Contains(body, evil) || !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s: %d; markup not escaped or alert missing", p, resp.StatusCode)
		}
	}
	if resp, _ := cc.do("POST", "/alerts/"+id+"/ack", url.Values{"csrf": {cc.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer ack: %d, want 403", resp.StatusCode)
	}
	if resp, body := cc.do("GET", "/alerts?consumer=x", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "consumer") {
		t.Errorf("unknown parameter: %d", resp.StatusCode)
	}

	// The analyst (after the lockout window would pass; here a second analyst) acks with a
	// forged token (403, nothing changes), then with the real one.
	bob := newConsoleClient(t, a)
	if resp := bob.login("bob", createUser(t, a, "bob", access.Analyst)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob login: %d", resp.StatusCode)
	}
	if resp, _ := bob.do("POST", "/alerts/"+id+"/ack", url.Values{"csrf": {cc.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged CSRF (another session's token): %d, want 403", resp.StatusCode)
	}
	if v, _ := a.alerts.Get(id); v.State != alert.Firing {
		t.Fatalf("state after the forged ack: %s", v.State)
	}
	if resp, _ := bob.do("POST", "/alerts/"+id+"/ack", url.Values{"csrf": {bob.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ack: %d", resp.StatusCode)
	}
	if v, _ := a.alerts.Get(id); v.State != alert.Acknowledged || v.AckedBy != "bob" {
		t.Fatalf("after ack: %s by %q", v.State, v.AckedBy)
	}

	// Disabling a user ends their session at the next request.
	if _, err := a.Users().Disable(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := bob.do("GET", "/alerts", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled user's session: %d, want 303 to the login page", resp.StatusCode)
	}
	// Logging out ends the session.
	if resp, _ := cc.do("POST", "/logout", url.Values{"csrf": {cc.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := cc.do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
}

func waitEvents(t *testing.T, a *App, q store.Query, ok func([]*event.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.Limit = 1000
		page, err := a.store.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if ok(page.Events) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %+v never matched (%d found)", q, len(page.Events))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsolePagesRender renders every page over real data as an auditor: a model page with
// its charts, an audit search, an event whose inclusion proof verifies against the signed
// checkpoint, the audit status, the monthly KPIs, and an evidence package that verifies.
func TestConsolePagesRender(t *testing.T) {
	a := startTestApp(t)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var lines []string
	for i := range 20 {
		lines = append(lines, `{"type":"inference","time":"`+now+`","model":{"name":"bot"},"actor":{"user":"carol"},"source":{"ip":"10.0.0.7"},`+
			`"request":{"input":"hello <img src=x onerror=alert(1)> `+string(rune('a'+i))+`"},"response":{"output":"hi","status":"ok","latency_ms":`+itoa(100+i*10)+`}}`)
	}
	req, _ := http.NewRequest("POST", "http://"+a.Addr()+"/v1/events", strings.NewReader(strings.Join(lines, "\n")))
	req.Header.Set("Authorization", "Bearer "+testIngestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest: %v %v", resp, err)
	}
	resp.Body.Close()
	var evID string
	waitEvents(t, a, store.Query{Model: "bot"}, func(evs []*event.Event) bool {
		if len(evs) == 20 {
			evID = evs[0].ID
		}
		return len(evs) == 20
	})
	cc := newConsoleClient(t, a)
	if resp := cc.login("otto", createUser(t, a, "otto", access.Auditor)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	for _, tc := range []struct{ path, want string }{
		{"/", "bot"},
		{"/models", "bot"},
		{"/models/bot", "latency distribution"},
		{"/search?user=carol&model=bot&type=inference&since=1h", "10.0.0.7"},
		{"/audit", "verified"},
		{"/audit/events/" + evID, `id="proof-status">verified`},
		{"/reports", "mean time to detect"},
		{"/incidents", "Incidents"},
	} {
		resp, body := cc.do("GET", tc.path, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want %q in:\n%.600s", tc.path, resp.StatusCode, tc.want, body)
		}
		if strings.Contains(body, "<img src=x") {
			t.Errorf("%s: prompt markup rendered unescaped", tc.path)
		}
	}
	resp2, pkg := cc.do("GET", "/audit/evidence?model=bot", nil)
	if resp2.StatusCode != 200 {
		t.Fatalf("evidence: %d %.300s", resp2.StatusCode, pkg)
	}
	sum, err := audit.VerifyEvidence(strings.NewReader(pkg), int64(len(pkg)), a.audit.PublicKey())
	if err != nil || len(sum.Entries) != 20 {
		t.Fatalf("evidence package: %+v %v", sum, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
