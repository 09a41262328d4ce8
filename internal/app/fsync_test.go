package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/config"
)

// TestFsyncFailureStopsIngest injects a file whose fsync fails under the running App: the
// request caught by it and every later one get a 503 that says why (code log_unusable), /readyz
// fails naming the audit log, and after a restart the log verifies with everything acknowledged
// before the failure and nothing of the failed request.
func TestFsyncFailureStopsIngest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse([]byte("models:\n  - name: bot\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARDEN_ADMIN_TOKEN": "admin-token-0123456789", "WARDEN_INGEST_TOKEN": "ingest-token-0123456789"}
	var failing atomic.Bool
	eio := errors.New("injected EIO")
	opts := Options{DataDir: dir, Listen: "127.0.0.1:0", GatewayListen: "off", Config: cfg, Getenv: func(k string) string { return env[k] },
		auditSync: func(f *os.File) error {
			if failing.Load() {
				return eio
			}
			return f.Sync()
		}}
	a, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			a.Stop(context.Background())
		}
	})
	type reply struct {
		code  int
		body  map[string]any
		retry string
	}
	do := func(method, path, body string) reply {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+a.Addr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+env["WARDEN_INGEST_TOKEN"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return reply{resp.StatusCode, b, resp.Header.Get("Retry-After")}
	}
	ev := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"type":"access","time":"%s","action":"invoke","decision":"allow"}`, id, time.Now().UTC().Format(time.RFC3339))
	}
	if r := do("POST", "/v1/events", ev("before-1")); r.code != http.StatusAccepted {
		t.Fatalf("before the failure: %d %v", r.code, r.body)
	}
	before := a.audit.Size()

	failing.Store(true)
	for _, id := range []string{"during-1", "after-1"} {
		r := do("POST", "/v1/events", ev(id))
		e, _ := r.body["error"].(map[string]any)
		if r.code != http.StatusServiceUnavailable || e["code"] != "log_unusable" || !strings.Contains(fmt.Sprint(e["message"]), "fsync") || r.retry == "" {
			t.Fatalf("%s: %d %v (Retry-After %q); want 503 log_unusable saying why", id, r.code, r.body, r.retry)
		}
		if strings.Contains(fmt.Sprint(r.body), dir) || strings.Contains(fmt.Sprint(r.body), "injected") {
			t.Fatalf("%s: internal error leaked: %v", id, r.body)
		}
	}
	r := do("GET", "/readyz", "")
	failed, _ := r.body["failed"].(map[string]any)
	if r.code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(failed["audit"]), "stopped accepting") {
		t.Fatalf("readyz after the failure: %d %v", r.code, r.body)
	}
	if err := a.audit.Err(); !errors.Is(err, audit.ErrUnusable) || !errors.Is(err, eio) {
		t.Fatalf("audit.Err = %v", err)
	}
	a.Stop(context.Background())
	stopped = true

	// The log was rolled back, not corrupted: it verifies, holds what was acknowledged and
	// nothing of the refused requests, and accepts again once reopened.
	res, err := audit.Verify(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatalf("verify after the failure: %v", err)
	}
	if res.Entries != before {
		t.Fatalf("log holds %d entries after restart, want the %d acknowledged", res.Entries, before)
	}
	failing.Store(false)
	a2, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Stop(context.Background())
	if _, ok := a2.audit.Lookup("during-1"); ok {
		t.Fatal("event of the request that failed to sync is in the log")
	}
	if _, ok := a2.audit.Lookup("before-1"); !ok {
		t.Fatal("acknowledged event lost")
	}
}
