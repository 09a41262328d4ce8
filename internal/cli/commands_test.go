package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/incident"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/notify"
)

// The tests of the warden CLIs against the real stores and APIs (moved here from the domain
// packages with the CLIs).

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not observed within 1s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a containment Emitter that can fail like a pipeline that is down.
type recorder struct {
	mu   sync.Mutex
	evs  []*event.Event
	fail bool
}

func (r *recorder) Emit(_ context.Context, evs []*event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("pipeline down")
	}
	r.evs = append(r.evs, evs...)
	return nil
}

func (r *recorder) events() []*event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*event.Event(nil), r.evs...)
}

func newAlertServer(t *testing.T) (*lifecycle.Manager, *Client) {
	t.Helper()
	m, err := lifecycle.New(lifecycle.Options{
		Deliverer: lifecycle.DelivererFunc(func(context.Context, string, *notify.Notification) error { return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Mux(m.Routes()...))
	t.Cleanup(srv.Close)
	return m, &Client{BaseURL: srv.URL, Token: "secret-token"}
}

func mk(name string, sev alert.Severity, model string) alert.Alert {
	return alert.Alert{RuleID: name, RuleName: name, Severity: sev, Model: model, DedupKey: name + "/" + model, Summary: name}
}

func fakeExporter(calls *[][]string) func(context.Context, io.Writer, []string) error {
	return func(_ context.Context, w io.Writer, ids []string) error {
		*calls = append(*calls, slices.Clone(ids))
		type ev struct{ ID, SHA256 string }
		var pkg struct{ Events []ev }
		for _, id := range ids {
			sum := sha256.Sum256([]byte(id))
			pkg.Events = append(pkg.Events, ev{id, hex.EncodeToString(sum[:])})
		}
		return json.NewEncoder(w).Encode(pkg)
	}
}

func TestKeysCLI(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	var out, errb bytes.Buffer
	err := RunKeys(ctx, []string{"create", "--data", data, "--consumer", "ops", "--groups", "a, b", "--models", "m1", "--rpm", "5", "--expires", "24h"}, &out, &errb)
	if err != nil {
		t.Fatalf("create: %v (%s)", err, errb.String())
	}
	secret := strings.TrimSpace(out.String())
	if !strings.HasPrefix(secret, "wk-") || strings.Contains(secret, "\n") {
		t.Fatalf("stdout = %q, want the key alone", out.String())
	}
	s, err := keys.Open(keys.Options{Dir: filepath.Join(data, "keys"), PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Lookup(secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.Groups, "|") != "a|b" || k.RPM != 5 || k.ExpiresAt.IsZero() {
		t.Fatalf("key = %+v", k)
	}
	out.Reset()
	if err := RunKeys(ctx, []string{"list", "--data", data, "--json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), k.Hash) || !strings.Contains(out.String(), k.ID) {
		t.Fatalf("list --json = %s", out.String())
	}
	out.Reset()
	// Positional arguments may stand before the flags, as in every other subcommand.
	if err := RunKeys(ctx, []string{"revoke", k.ID, "--data", data}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := s.Lookup(secret); return errors.Is(err, keys.ErrRevoked) })
	for _, args := range [][]string{nil, {"bogus"}, {"create", "--data", data}, {"create", "--data", data, "--consumer", "x", "--rpm", "-1"}, {"revoke", "--data", data}, {"revoke", "--data", data, "key_missing"}, {"create", "--nope"}, {"list", "--data", data, "extra"}, {"revoke", "--data", data, "a", "b"}} {
		var ue *UsageError
		if err := RunKeys(ctx, args, &out, &errb); !errors.As(err, &ue) {
			t.Errorf("Run(%q) err = %v, want UsageError", args, err)
		}
	}
}

// TestCLIActionAuditedByServer: the CLI (no Emitter) writes an action; the server sees it within
// a second and its Run loop records the audit event, retrying while the pipeline fails.
func TestCLIActionAuditedByServer(t *testing.T) {
	data := t.TempDir()
	rec := &recorder{fail: true}
	srv, err := contain.Open(contain.Options{Dir: data + "/contain", Emitter: rec, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var out, errb bytes.Buffer
	if err := RunContain(ctx, []string{"pause-model", "--data", data, "--ttl", "10m", "--reason", "drill", "--by", "ops", "support-bot"}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	id := strings.TrimSpace(out.String())
	waitFor(t, func() bool { _, ok := srv.ModelPaused("support-bot"); return ok })
	time.Sleep(60 * time.Millisecond)
	if len(rec.events()) != 0 {
		t.Fatal("events recorded while the pipeline fails")
	}
	rec.mu.Lock()
	rec.fail = false
	rec.mu.Unlock()
	waitFor(t, func() bool { return len(rec.events()) == 1 })
	if e := rec.events()[0]; e.ID != id+".apply" || e.Action != "containment.pause_model" || e.Model.Name != "support-bot" || e.Actor.User != "ops" {
		t.Fatalf("event = %+v", e)
	}
	out.Reset()
	if err := RunContain(ctx, []string{"lift", id, "--data", data, "--by", "ops"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := srv.ModelPaused("support-bot"); return !ok })
	waitFor(t, func() bool { return len(rec.events()) == 2 })
	out.Reset()
	if err := RunContain(ctx, []string{"list", "--data", data, "--all"}, &out, &errb); err != nil || !strings.Contains(out.String(), "lifted by ops") {
		t.Fatalf("list: %v %s", err, out.String())
	}
	for _, args := range [][]string{nil, {"explode"}, {"pause-model", "--data", data}, {"rate-limit", "--data", data, "c"}, {"lift", "--data", data, "ct_none"}, {"list", "--bogus"}, {"list", "--data", data, "extra"}, {"pause-model", "--data", data, "a", "b"}} {
		var ue *UsageError
		if err := RunContain(ctx, args, &out, &errb); !errors.As(err, &ue) {
			t.Errorf("Run(%q) = %v, want UsageError", args, err)
		}
	}
}

func TestAlertsCLI(t *testing.T) {
	m, c := newAlertServer(t)
	ctx := context.Background()
	if err := m.Receive(ctx, []alert.Alert{mk("inject", alert.P1, "bot"), mk("drift", alert.P3, "bot")}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := RunAlerts(ctx, args, c, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	out := run("list", "--severity", "P3")
	if !strings.Contains(out, "drift") || strings.Contains(out, "inject") || !strings.Contains(out, "inhibited") {
		t.Errorf("list output:\n%s", out)
	}
	vs, _, _ := m.List(lifecycle.Filter{Severity: alert.P1})
	if out := run("ack", vs[0].ID, "--comment", "on it", "--actor", "alice"); !strings.Contains(out, "acknowledged by alice") {
		t.Errorf("ack output: %s", out)
	}
	if out := run("resolve", vs[0].ID); !strings.Contains(out, "resolved by api") {
		t.Errorf("resolve output: %s", out)
	}
	sid := strings.TrimSpace(run("silence", "add", "--matchers", `model=bot,severity=~"P3|P4"`, "--duration", "2h", "--comment", "maintenance", "--author", "bob"))
	s, err := m.Silence(sid)
	if err != nil || s.CreatedBy != "bob" || s.EndsAt.Sub(s.StartsAt) != 2*time.Hour {
		t.Fatalf("silence %q = %+v, %v", sid, s, err)
	}
	if out := run("silence", "list", "--state", "active"); !strings.Contains(out, sid) || !strings.Contains(out, `severity=~"P3|P4"`) {
		t.Errorf("silence list:\n%s", out)
	}
	run("silence", "expire", sid)
	if out := run("silence", "list", "--state", "active"); strings.Contains(out, sid) {
		t.Errorf("expired silence still active:\n%s", out)
	}

	var ue *UsageError
	for _, args := range [][]string{{}, {"frob"}, {"ack"}, {"silence"}, {"silence", "add", "--matchers", "x"}, {"silence", "add", "--matchers", "a=b", "--duration", "1h"}, {"list", "--bogus"}} {
		if err := RunAlerts(ctx, args, c, &bytes.Buffer{}); !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want UsageError", args, err)
		}
	}
	var ae *httpx.Error
	err = RunAlerts(ctx, []string{"ack", "missing"}, c, &bytes.Buffer{})
	if !errors.As(err, &ae) || ae.Status != 404 || strings.Contains(err.Error(), c.Token) {
		t.Errorf("ack missing: %v", err)
	}
	bad := &Client{BaseURL: "http://127.0.0.1:1", Token: "secret-token"}
	if err := RunAlerts(ctx, []string{"list"}, bad, &bytes.Buffer{}); err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("unreachable server: %v", err)
	}
}

func TestIncidentsCLI(t *testing.T) {
	var exports [][]string
	m, err := incident.New(incident.Options{ExportEvidence: fakeExporter(&exports), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Mux(m.Routes(nil)...))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "tok"}
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := RunIncidents(ctx, args, c, &out)
		return out.String(), err
	}
	out, err := run("open", "--title", "leak", "--type", "safety", "--severity", "P2", "--model", "bot")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Fields(out)[0]
	for _, args := range [][]string{{"owner", id, "bob"}, {"phase", id, "containment"}, {"note", id, "key rotated"}, {"serious", id, "--category", "death"}} {
		if _, err := run(args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	inc, _ := m.Get(id)
	if inc.Owner != "bob" || inc.Phase != incident.Containment || inc.Serious == nil || inc.Timeline[len(inc.Timeline)-2].Text != "key rotated" {
		t.Errorf("after CLI: %+v", inc)
	}
	out, err = run("list", "--serious")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, inc.Serious.Deadline.UTC().Format(time.RFC3339)) {
		t.Errorf("list: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "case.tar")
	if _, err := run("export", id, "--out", file); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(file)
	defer f.Close()
	if _, err := incident.VerifyExport(f); err != nil {
		t.Errorf("exported file: %v", err)
	}
	if out, err := run("art73", id, "--format", "html"); err != nil || !strings.Contains(out, "Art. 3(49)(a)") {
		t.Errorf("art73 html: %v", err)
	}
	for _, tt := range []struct {
		args  []string
		field string
	}{
		{[]string{"phase", id, "done"}, "phase"},
		{[]string{"serious", id, "--category", "fire"}, "category"},
		{[]string{"open", "--title", "x", "--type", "weird"}, "type"},
	} {
		_, err := run(tt.args...)
		var ae *httpx.Error
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Field != tt.field {
			t.Errorf("%v: %v", tt.args, err)
		}
	}
	var ue *UsageError
	if _, err := run("export", id); !errors.As(err, &ue) {
		t.Errorf("export without --out: %v", err)
	}
	if _, err := run("show", "inc-nope"); err == nil {
		t.Error("show unknown incident succeeded")
	}
}
