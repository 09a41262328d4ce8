package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/config"
)

const (
	testAdminToken  = "admin-token-0123456789"
	testIngestToken = "ingest-token-0123456789"
)

// startTestApp starts an App on loopback :0 and stops it when the test ends.
func startTestApp(t *testing.T) *App {
	t.Helper()
	cfg, err := config.Parse([]byte("models:\n  - name: bot\n    risk_tier: high\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": testAdminToken, "WARDEN_INGEST_TOKEN": testIngestToken}
	a, err := New(context.Background(), Options{DataDir: t.TempDir() + "/data", Listen: "127.0.0.1:0", GatewayListen: "off", Config: cfg,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestEveryRouteAnswersThroughOnePath walks every route registered on the running App's API
// mux and checks the contract of docs/ARCHITECTURE.md and httpx: without a token 401 (only the health
// checks are public), an ingest token on admin routes 403, and every answer — success or error,
// JSON or not — carries Cache-Control: no-store and the request id; every error is
// {"error":{"code","message"},"request_id"} with the id of the request.
func TestEveryRouteAnswersThroughOnePath(t *testing.T) {
	a := startTestApp(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	do := func(t *testing.T, method, path, token, body string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://"+a.Addr()+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, got)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", method, path)
		}
		if resp.StatusCode >= 400 {
			checkErrorShape(t, method+" "+path, resp, b)
		}
		return resp, b
	}

	// A personal token per role, and the metrics-only token.
	roleTokens := map[access.Role]string{}
	for _, role := range access.PersonRoles {
		name := "u-" + string(role)
		if _, err := a.Users().Create(context.Background(), name, role, "password-"+name); err != nil {
			t.Fatal(err)
		}
		tok, _, err := a.Users().IssueToken(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		roleTokens[role] = tok
	}

	_, consolePublic := a.consoleRoutes()
	consolePerm := a.console.Permissions()
	routes := a.apiRoutes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes registered; the alert, incident, key and containment APIs are missing", len(routes))
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.pattern] {
			t.Errorf("pattern %q registered twice", rt.pattern)
		}
		seen[rt.pattern] = true
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || strings.HasSuffix(path, "/") {
			t.Errorf("route %q: want an exact \"METHOD /path\" pattern", rt.pattern)
			continue
		}
		path = pathParam.ReplaceAllString(path, "no-such-id")
		if _, isPage := consolePerm[rt.pattern]; isPage || consolePublic[rt.pattern] {
			continue // the console's routes answer HTML: TestConsoleRoutes
		}
		t.Run(rt.pattern, func(t *testing.T) {
			resp, _ := do(t, method, path, "", "")
			if public[rt.pattern] {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("public route answered %d without a token, want 200", resp.StatusCode)
				}
				checkUnknownParam(t, do, method, path, "")
				return
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("without a token: %d, want 401", resp.StatusCode)
			}
			if resp, _ := do(t, method, path, "wrong-token-0123456789", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("with a wrong token: %d, want 401", resp.StatusCode)
			}
			if !strings.HasPrefix(rt.pattern, "POST /v1/events") && !strings.HasPrefix(rt.pattern, "POST /v1/traces") {
				if resp, _ := do(t, method, path, testIngestToken, ""); resp.StatusCode != http.StatusForbidden {
					t.Errorf("with the ingest token: %d, want 403", resp.StatusCode)
				}
			}
			// With the admin token the handler itself answers: an unknown id, a malformed body.
			body := ""
			if method != http.MethodGet {
				body = "{"
			}
			if resp, _ := do(t, method, path, testAdminToken, body); resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				t.Errorf("with the admin token: %d", resp.StatusCode)
			}
			// Each person's token: 403 exactly when the role lacks the route's permission.
			need := permissionFor(rt.pattern)
			for role, tok := range roleTokens {
				resp, _ := do(t, method, path, tok, body)
				if denied := resp.StatusCode == http.StatusForbidden; denied == role.Can(need) || resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("role %s (can %s: %v): %d", role, need, role.Can(need), resp.StatusCode)
				}
			}
			// The metrics-only token scrapes /metrics and nothing else.
			wantMetrics := http.StatusForbidden
			if rt.pattern == "GET /metrics" {
				wantMetrics = http.StatusOK
			}
			if resp, _ := do(t, method, path, a.MetricsToken(), body); resp.StatusCode != wantMetrics {
				t.Errorf("with the metrics token: %d, want %d", resp.StatusCode, wantMetrics)
			}
			checkUnknownParam(t, do, method, path, testAdminToken)
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		if resp, _ := do(t, http.MethodGet, "/v1/alerts/x/y/z", testAdminToken, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown path: %d, want 404", resp.StatusCode)
		}
	})
}

// checkUnknownParam sends an unknown query parameter: 400 naming it, before the handler runs.
func checkUnknownParam(t *testing.T, do func(*testing.T, string, string, string, string) (*http.Response, []byte), method, path, token string) {
	t.Helper()
	resp, b := do(t, method, path+"?consumer=x", token, "")
	var e struct {
		Error struct {
			Field string `json:"field"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	if resp.StatusCode != http.StatusBadRequest || e.Error.Field != "consumer" {
		t.Errorf("unknown parameter consumer: %d %s, want 400 naming it", resp.StatusCode, b)
	}
}

func checkErrorShape(t *testing.T, what string, resp *http.Response, b []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: error %d with Content-Type %q, want application/json: %s", what, resp.StatusCode, ct, b)
		return
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: error %d body %s is not {\"error\":{\"code\",\"message\"}} (%v)", what, resp.StatusCode, b, err)
		return
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
		t.Errorf("%s: error request_id %q, header %q", what, e.RequestID, resp.Header.Get("X-Request-Id"))
	}
}
