package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestClusterSharedSessions: two `--role api` nodes on one PostgreSQL share console sessions —
// a person who logged in through one node is logged in on the other (as behind a load
// balancer), and logging out on the second ends the session on the first.
func TestClusterSharedSessions(t *testing.T) {
	ns := startNATSProc(t)
	dsn, _, _ := pgSchema(t, "127.0.0.1:5432")
	env := newClusterEnv(t, ns.url(), dsn)
	dataA, dataB := t.TempDir(), t.TempDir()
	code, out, errs := runCLI(t, "users", "create", "ann", "--role", "analyst", "--data", dataA)
	lines := strings.Fields(out)
	if code != 0 || len(lines) == 0 {
		t.Fatalf("users create: %d %s %s", code, out, errs)
	}
	password := lines[len(lines)-1]
	// The users file is per data directory: the second node knows ann too (as every node must).
	if code, out, errs := runCLI(t, "users", "create", "ann", "--role", "analyst", "--data", dataB); code != 0 {
		t.Fatalf("users create on B: %d %s %s", code, out, errs)
	}
	a, b := env.startRole(t, "api", dataA), env.startRole(t, "api", dataB)

	jar, _ := cookiejar.New(nil) // cookies are per host, not port: both nodes get the session
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(addr, path string) (int, string) {
		t.Helper()
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	post := func(addr, path string, form url.Values) int {
		t.Helper()
		resp, err := c.PostForm("http://"+addr+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, body := get(a.addr, "/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form on A: %.300s", body)
	}
	if code := post(a.addr, "/login", url.Values{"csrf": {m[1]}, "username": {"ann"}, "password": {password}}); code != http.StatusSeeOther {
		t.Fatalf("login on A: %d", code)
	}
	code, body = get(b.addr, "/alerts")
	if code != 200 || !strings.Contains(body, "ann · <b>analyst</b>") {
		t.Fatalf("node B does not know the session started on A: %d %.300s", code, body)
	}
	m = csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on B's page")
	}
	var old string
	for _, ck := range jar.Cookies(&url.URL{Scheme: "http", Host: a.addr}) {
		if ck.Name == "warden_session" {
			old = ck.Value
		}
	}
	if code := post(b.addr, "/logout", url.Values{"csrf": {m[1]}}); code != http.StatusSeeOther {
		t.Fatalf("logout on B: %d", code)
	}
	// B's answer cleared the cookie; the old one, replayed to A, must be dead there too.
	req, _ := http.NewRequest("GET", "http://"+a.addr+"/alerts", nil)
	req.AddCookie(&http.Cookie{Name: "warden_session", Value: old})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if old == "" || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("A after logout on B: %d (cookie %q), want 303 to the login page", resp.StatusCode, old)
	}
}
