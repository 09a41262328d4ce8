package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/config"
)

// TestReadyz reproduces the /readyz findings of issue 12: it said ready with an unusable index
// and disclosed the entry count to anyone. Now counts need a token and a failed check is a 503
// naming it, with warden index rebuild suggested for the index.
func TestReadyz(t *testing.T) {
	cfg, err := config.Parse([]byte("models:\n  - name: bot\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": "admin-token-0123456789", "WARDEN_INGEST_TOKEN": "ingest-token-0123456789"}
	a, err := New(context.Background(), Options{DataDir: t.TempDir() + "/data", Listen: "127.0.0.1:0", GatewayListen: "off", Config: cfg,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	get := func(token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+a.Addr()+"/readyz", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := get(""); code != 200 || body["status"] != "ready" || body["audit_entries"] != nil || body["index_lag"] != nil {
		t.Fatalf("unauthenticated: %d %v", code, body)
	}
	if code, body := get("wrong-token"); code != 200 || body["audit_entries"] != nil {
		t.Fatalf("wrong token: %d %v", code, body)
	}
	if code, body := get(env["WARDEN_ADMIN_TOKEN"]); code != 200 || body["index_lag"] == nil || body["audit_entries"] == nil {
		t.Fatalf("with token: %d %v", code, body)
	}
	// An index store that cannot be read.
	a.store.Close()
	code, body := get("")
	failed, _ := body["failed"].(map[string]any)
	if code != http.StatusServiceUnavailable || body["status"] != "not_ready" || !strings.Contains(failed["index"].(string), "warden index rebuild") {
		t.Fatalf("unusable index: %d %v", code, body)
	}
}
