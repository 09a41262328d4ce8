package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/analyze"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/console"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/incident"
	"github.com/warden-ai/warden/internal/report"
	"github.com/warden-ai/warden/internal/session"
	"github.com/warden-ai/warden/internal/sso"
	"github.com/warden-ai/warden/internal/store"
)

// buildConsole wires the web console to the App's components.
func (a *App) buildConsole() error {
	opts := console.Options{Backend: consoleBackend{a}, Users: a.users, Logger: a.log}
	if a.cfg.Store.Driver == "postgres" {
		// Every API node of the distributed mode sees the sessions the others started.
		ss, err := session.OpenPostgres(context.Background(), a.cfg.Store.DSN)
		if err != nil {
			return fmt.Errorf("console sessions: %w", err)
		}
		a.cleanups = append(a.cleanups, func() error { ss.Close(); return nil })
		opts.Sessions = ss
	}
	if o := a.cfg.Console.OIDC; o != nil {
		p, err := a.ssoProvider(o)
		if err != nil {
			return err
		}
		opts.SSO = p
	}
	c, err := console.New(opts)
	if err != nil {
		return err
	}
	a.console = c
	a.reg.MustRegister(modelCollector{a})
	return nil
}

// ssoProvider builds the console's OpenID Connect login; the client secret is read from the
// named environment variable or file and goes nowhere else.
func (a *App) ssoProvider(o *config.OIDC) (*sso.Provider, error) {
	var secret string
	switch {
	case o.ClientSecretEnv != "":
		if secret = a.opts.Getenv(o.ClientSecretEnv); secret == "" {
			return nil, fmt.Errorf("console.oidc.client_secret_env: environment variable %s is empty", o.ClientSecretEnv)
		}
	case o.ClientSecretFile != "":
		b, err := os.ReadFile(o.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("console.oidc.client_secret_file: %w", err)
		}
		if secret = strings.TrimSpace(string(b)); secret == "" {
			return nil, fmt.Errorf("console.oidc.client_secret_file: %s is empty", o.ClientSecretFile)
		}
	}
	roles := make([]sso.RoleMapping, len(o.Roles))
	for i, r := range o.Roles {
		roles[i] = sso.RoleMapping{Value: r.Value, Role: access.Role(r.Role)}
	}
	p, err := sso.New(sso.Options{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: o.RedirectURL,
		Scopes: o.Scopes, RoleClaim: o.RoleClaim, Roles: roles, DefaultRole: access.Role(o.DefaultRole),
		AllowedDomains: slices.Clone(o.AllowedDomains)})
	if err != nil {
		return nil, fmt.Errorf("console.%w", err)
	}
	return p, nil
}

// consoleBackend answers the console from the App's components.
type consoleBackend struct{ a *App }

var _ console.Backend = consoleBackend{}

func (b consoleBackend) Alerts(f lifecycle.Filter) ([]lifecycle.View, string, error) {
	return b.a.alerts.List(f)
}
func (b consoleBackend) Alert(id string) (lifecycle.View, error) { return b.a.alerts.Get(id) }
func (b consoleBackend) Ack(ctx context.Context, id, actor, comment string) (alert.Alert, error) {
	return b.a.alerts.Ack(ctx, id, actor, comment)
}
func (b consoleBackend) Resolve(ctx context.Context, id, actor, comment string) (alert.Alert, error) {
	return b.a.alerts.Resolve(ctx, id, actor, comment)
}
func (b consoleBackend) CreateSilence(ctx context.Context, s lifecycle.Silence) (lifecycle.Silence, error) {
	return b.a.alerts.CreateSilence(ctx, s)
}
func (b consoleBackend) Incidents(f incident.Filter) []incident.Incident {
	return b.a.incidents.List(f)
}
func (b consoleBackend) Incident(id string) (incident.Incident, error) {
	return b.a.incidents.Get(id)
}
func (b consoleBackend) UpdateIncident(ctx context.Context, id string, u incident.Update) (incident.Incident, error) {
	return b.a.incidents.Apply(ctx, id, u)
}
func (b consoleBackend) CaseFile(ctx context.Context, id string) (*incident.CaseFile, error) {
	return b.a.incidents.CaseFile(ctx, id)
}
func (b consoleBackend) ExportIncident(ctx context.Context, id string, w io.Writer) error {
	return b.a.incidents.Export(ctx, id, w)
}
func (b consoleBackend) Containment() []contain.Action { return b.a.contain.List(false) }
func (b consoleBackend) LiftContainment(ctx context.Context, id, by, reason string) (contain.Action, error) {
	return b.a.contain.Lift(ctx, id, by, reason)
}

func (b consoleBackend) Models() []console.ModelInfo {
	var out []console.ModelInfo
	for _, m := range b.a.models.list() {
		st := string(m.StoreText)
		if st == "" {
			st = "redacted"
		}
		out = append(out, console.ModelInfo{Name: m.Name, Owner: m.Owner, RiskTier: m.RiskTier, Sensitivity: m.Sensitivity, StoreText: st})
	}
	slices.SortFunc(out, func(x, y console.ModelInfo) int {
		if x.Name < y.Name {
			return -1
		}
		if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return out
}

func (b consoleBackend) ModelMetrics(name string) (analyze.ModelMetrics, bool) {
	return b.a.analyzer.ModelMetrics(name)
}
func (b consoleBackend) ModelDrift(name string) (analyze.ModelDrift, bool) {
	return b.a.analyzer.ModelDrift(name)
}
func (b consoleBackend) Search(ctx context.Context, q store.Query) (store.Page, error) {
	return b.a.store.Search(ctx, q)
}

// EventProof reads the event's audit-log entry and checks its inclusion proof against the
// latest signed checkpoint with the log's public key, as an outside verifier would.
func (b consoleBackend) EventProof(_ context.Context, id string) console.ProofCheck {
	i, ok := b.a.audit.Lookup(id)
	if !ok {
		return console.ProofCheck{}
	}
	pc := console.ProofCheck{Found: true, Index: i}
	stop := errors.New("stop")
	err := b.a.audit.Read(i, func(_ uint64, _ string, leaf, _ []byte) error {
		pc.Leaf = append([]byte(nil), leaf...)
		return stop
	})
	if err != nil && !errors.Is(err, stop) {
		pc.Error = "cannot read the entry: " + err.Error()
		return pc
	}
	p, err := b.a.audit.InclusionProof(i)
	if err != nil {
		pc.Error = "no proof: " + err.Error()
		return pc
	}
	pc.TreeSize = p.TreeSize
	if err := audit.VerifyProof(p, pc.Leaf, b.a.audit.PublicKey()); err != nil {
		pc.Error = err.Error()
		return pc
	}
	pc.Verified = true
	return pc
}

func (b consoleBackend) AuditStatus(context.Context) console.AuditStatus {
	a := b.a
	st := console.AuditStatus{Entries: a.audit.Size(), PublicKey: a.audit.PublicKey()}
	dir := filepath.Join(a.opts.DataDir, "log")
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				st.Bytes += fi.Size()
			}
		}
		return nil
	})
	if fi, err := os.Stat(filepath.Join(dir, "checkpoints")); err == nil {
		st.LastCheckpoint = fi.ModTime()
	}
	if cp, err := a.audit.Checkpoint(); err == nil {
		if n, err := parseCheckpointSize(cp); err == nil {
			st.CheckpointSize = n
		}
	}
	// A live check on every view: the newest entry's inclusion proof against the latest signed
	// checkpoint, with the log's public key. The full check of every entry is offline
	// (warden audit verify), since it must not race the writer.
	st.LastVerification = time.Now()
	if n := a.audit.Size(); n == 0 {
		st.VerificationOK, st.VerificationNote = true, "empty log"
	} else {
		var leaf []byte
		stop := errors.New("stop")
		err := a.audit.Read(n-1, func(_ uint64, _ string, l, _ []byte) error { leaf = append([]byte(nil), l...); return stop })
		p, perr := a.audit.InclusionProof(n - 1)
		switch {
		case err != nil && !errors.Is(err, stop):
			st.VerificationNote = "cannot read the newest entry: " + err.Error()
		case perr != nil:
			st.VerificationNote = "no proof: " + perr.Error()
		default:
			if verr := audit.VerifyProof(p, leaf, a.audit.PublicKey()); verr != nil {
				st.VerificationNote = verr.Error()
			} else {
				st.VerificationOK = true
				st.CheckpointSize = p.TreeSize
				st.VerificationNote = "live check: the checkpoint signature and the newest entry's inclusion proof"
			}
		}
	}
	return st
}

func (b consoleBackend) ExportEvidence(ctx context.Context, w io.Writer, q console.EvidenceQuery) error {
	a := b.a
	if q.Incident != "" {
		inc, err := a.incidents.Get(q.Incident)
		if err != nil {
			return err
		}
		return a.exportEvidence(ctx, w, inc.EventIDs)
	}
	// A checkpoint that covers every entry so far, so each selected one has a proof.
	if n := a.audit.Size(); n > 0 {
		if _, err := a.audit.InclusionProof(n - 1); err != nil {
			return err
		}
	}
	_, err := audit.ExportEvidence(filepath.Join(a.opts.DataDir, "log"), w, audit.ExportOptions{Blobs: true,
		Select: func(_ uint64, leaf []byte) bool {
			ev, err := event.ParseLeaf(leaf)
			if err != nil {
				return false
			}
			return (q.From.IsZero() || !ev.Time.Before(q.From)) && (q.To.IsZero() || ev.Time.Before(q.To)) &&
				(q.Model == "" || ev.Model.Name == q.Model)
		}})
	return err
}

func (b consoleBackend) Report(ctx context.Context, kind report.Kind, from, to time.Time) (report.Report, error) {
	return report.Generate(ctx, kind, from, to, reportSource{b.a})
}

// RecordLogin appends a console login attempt as an access event: the built-in rules watch
// failed-then-succeeded logins and bursts of denials like any other access.
func (b consoleBackend) RecordLogin(ctx context.Context, l console.LoginAttempt) {
	decision := "deny"
	if l.Allowed {
		decision = "allow"
	}
	user := l.User
	if len(user) > 128 {
		user = user[:128]
	}
	ev := &event.Event{Type: event.TypeAccess, Time: l.Time.UTC(), Action: "login", Resource: "warden-console",
		Decision: decision, Reason: l.Reason, Actor: event.Actor{User: user},
		Source: event.Source{IP: l.IP, Client: "warden-console"}}
	attrs := map[string]any{}
	if l.Failures > 0 {
		attrs["recent_failures"] = float64(l.Failures)
	}
	if l.Method != "" {
		attrs["method"] = l.Method
	}
	if l.Subject != "" && len(l.Subject) <= 255 {
		attrs["oidc_subject"] = l.Subject
	}
	if len(attrs) > 0 {
		ev.Attributes = attrs
	}
	if err := ev.Validate(); err != nil {
		b.a.log.Warn("login event invalid", "err", err)
		return
	}
	if err := b.a.pipeline.Emit(context.WithoutCancel(ctx), []*event.Event{ev}); err != nil {
		b.a.log.Error("login event not recorded", "err", err)
	}
}

// parseCheckpointSize reads the tree size (second line) of a signed checkpoint.
func parseCheckpointSize(cp []byte) (uint64, error) {
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 3 {
		return 0, errors.New("malformed checkpoint")
	}
	return strconv.ParseUint(lines[1], 10, 64)
}
