package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/httpx"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateLookupRevoke(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s := openStore(t, dir)
	ctx := context.Background()
	secret, k, err := s.Create(ctx, Spec{Consumer: "billing", Groups: []string{"support"}, Models: []string{"m1"}, RPM: 10, TPM: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "wk-") || len(secret) < 3+26 {
		t.Fatalf("key %q: want wk- and ≥128 bits", secret)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret[3:])) {
		t.Fatal("key stored in clear")
	}
	got, err := s.Lookup(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Consumer != "billing" || got.RPM != 10 || !got.AllowsModel("m1") || got.AllowsModel("m2") {
		t.Fatalf("lookup = %+v", got)
	}
	for _, bad := range []string{"", "wk-", secret + "x", strings.ToUpper(secret), "sk-" + secret[3:]} {
		if _, err := s.Lookup(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("Lookup(%q) err = %v, want ErrUnknown", bad, err)
		}
	}
	if _, err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(secret); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revoke err = %v", err)
	}
	if _, err := s.Revoke(ctx, "key_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown err = %v", err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(Options{Dir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.Create(context.Background(), Spec{Consumer: "c", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(secret); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := s.Lookup(secret); !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
}

func TestSpecValidation(t *testing.T) {
	s := openStore(t, t.TempDir())
	for name, spec := range map[string]Spec{
		"no consumer":  {},
		"negative rpm": {Consumer: "c", RPM: -1},
		"empty group":  {Consumer: "c", Groups: []string{" "}},
		"negative ttl": {Consumer: "c", TTL: -time.Second},
	} {
		if _, _, err := s.Create(context.Background(), spec); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestOtherProcessChangesVisible simulates the CLI (a second Store on the same directory)
// creating and revoking keys while a server's Store keeps serving lookups.
func TestOtherProcessChangesVisible(t *testing.T) {
	dir := t.TempDir()
	server := openStore(t, dir)
	cli := openStore(t, dir)
	secret, k, err := cli.Create(context.Background(), Spec{Consumer: "late"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := server.Lookup(secret); return err == nil })
	if _, err := cli.Revoke(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := server.Lookup(secret); return errors.Is(err, ErrRevoked) })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("change not visible within 1s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAdminHandler(t *testing.T) {
	s := openStore(t, t.TempDir())
	h := httpx.Mux(AdminRoutes(s)...)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec
	}
	rec := do("POST", "/v1/keys", `{"consumer":"web","groups":["g"],"rpm":3,"expires":"1h"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var created struct {
		Key    string `json:"key"`
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(created.Key); err != nil || created.Status != "active" {
		t.Fatalf("created key unusable: %v %+v", err, created)
	}
	rec = do("GET", "/v1/keys", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), created.Key) || strings.Contains(rec.Body.String(), `"hash"`) {
		t.Fatalf("list leaks key or hash: %s", rec.Body)
	}
	if rec := do("DELETE", "/v1/keys/"+created.ID, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"revoked"`) {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
		body2              string // the answer must contain this
	}{
		{"DELETE", "/v1/keys/key_none", "", 404, `"code":"not_found"`},
		{"POST", "/v1/keys", `{"consumer":""}`, 400, `"code":"invalid_key_spec"`},
		{"POST", "/v1/keys", `{"consumer":"x","expires":"soon"}`, 400, `"field":"expires"`},
		{"POST", "/v1/keys", `{"consumer":"x","extra":1}`, 400, `"code":"invalid"`},
		{"POST", "/v1/keys", `not json`, 400, `"code":"invalid"`},
		{"POST", "/v1/keys", `{"consumer":"x","rpm":"many"}`, 400, `"field":"rpm"`},
	} {
		if rec := do(tc.method, tc.path, tc.body); rec.Code != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, rec.Code, tc.want)
		} else if !strings.Contains(rec.Body.String(), tc.body2) {
			t.Errorf("%s %s %s: body %s does not contain %s", tc.method, tc.path, tc.body, rec.Body, tc.body2)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := s.Create(context.Background(), Spec{Consumer: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Lookup(secret); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeyFromOtherProcessUsableAtOnce: a key another process just created is found on its first
// use, without waiting for the next poll.
func TestKeyFromOtherProcessUsableAtOnce(t *testing.T) {
	dir := t.TempDir()
	server, err := Open(Options{Dir: dir, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := cli.Create(context.Background(), Spec{Consumer: "c", Groups: []string{"g"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Lookup(secret); err != nil {
		t.Fatalf("new key not usable at once: %v", err)
	}
	if _, err := server.Lookup("wk-doesnotexist000000000000000000"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown key: %v", err)
	}
}
