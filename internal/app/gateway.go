package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/contain"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/gateway"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/listener"
	"github.com/warden-ai/warden/internal/rules"
)

// buildAccess opens the virtual-key and containment stores and mounts their admin APIs.
func (a *App) buildAccess() error {
	var err error
	if a.keys, err = keys.Open(keys.Options{Dir: filepath.Join(a.opts.DataDir, "keys"), Logger: a.log}); err != nil {
		return fmt.Errorf("open key store: %w", err)
	}
	if a.contain, err = contain.Open(contain.Options{Dir: filepath.Join(a.opts.DataDir, "contain"), Emitter: a.pipeline, Logger: a.log}); err != nil {
		return fmt.Errorf("open containment store: %w", err)
	}
	a.mountAdmin(keys.AdminRoutes(a.keys)...)
	a.mountAdmin(contain.AdminRoutes(a.contain, requestUser)...)
	a.refreshConsumers()
	return nil
}

// buildGateway creates the OpenAI-compatible gateway (not yet listening).
func (a *App) buildGateway() error {
	var err error
	a.gateway, err = gateway.New(gateway.Options{
		Models: a.models.list, Keys: a.keys, Contain: a.contain, Scanner: a.scanner, Emitter: a.pipeline,
		Logger: a.log, Registerer: a.reg, Getenv: a.opts.Getenv, ProbeSecret: a.probes.secret,
	})
	if err != nil {
		return fmt.Errorf("build gateway: %w", err)
	}
	return nil
}

func (a *App) startGateway() error {
	if a.opts.GatewayListen == "off" {
		return nil
	}
	certs, err := a.listenerCerts("gateway", a.cfg.TLS.Gateway, tls.RequireAndVerifyClientCert)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.opts.GatewayListen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.opts.GatewayListen, err)
	}
	a.gwLn = ln
	// The gateway extends the write deadline per request for its route's timeout (streams).
	a.gwSrv = listener.Server(a.gateway.Handler(), listener.Limits{}, a.log)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := listener.Serve(a.gwSrv, ln, listener.Limits{}, certs); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("gateway server stopped", "err", err)
		}
	}()
	return nil
}

// refreshConsumers caches the consumers that hold a key, for shadow-AI detection.
func (a *App) refreshConsumers() {
	ks, err := a.keys.List()
	if err != nil {
		a.log.Warn("listing keys failed", "err", err)
		return
	}
	set := make(map[string]bool, len(ks))
	for _, k := range ks {
		set[k.Consumer] = true
	}
	a.consumers.Store(&set)
}

func (a *App) runConsumerRefresh(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.refreshConsumers()
		}
	}
}

// knownConsumer reports whether a consumer holds a virtual key. While no key exists the key
// registry is not in use (ingest-only deployments), so every consumer counts as known.
func (a *App) knownConsumer(c string) bool {
	set := a.consumers.Load()
	return set == nil || len(*set) == 0 || (*set)[c]
}

// goContain applies a rule's containment actions in the background, as a goroutine Stop waits
// for. It is only called from stages and handlers that Stop also waits for, so the WaitGroup
// is never incremented from zero while Stop waits.
func (a *App) goContain(al alert.Alert, actions []rules.Action) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.containFromRule(al, actions)
	}()
}

// containFromRule applies a rule's containment actions, targeting the key, consumer or model of
// the alert's most recent triggering event.
func (a *App) containFromRule(al alert.Alert, actions []rules.Action) {
	var ev *event.Event
	for i := len(al.EventIDs) - 1; i >= 0 && ev == nil; i-- {
		if idx, ok := a.audit.Lookup(al.EventIDs[i]); ok {
			if leaf, err := a.audit.Leaf(idx); err == nil {
				ev, _ = event.ParseLeaf(leaf)
			}
		}
	}
	for _, act := range actions {
		c := contain.Action{TTL: act.TTL, RPM: act.RPM, Reason: fmt.Sprintf("rule %s (%s): %s", al.RuleID, al.Severity, al.Summary), By: "rule:" + al.RuleID}
		switch act.Type {
		case "pause_model":
			c.Kind, c.Target = contain.PauseModel, al.Model
		case "suspend_key":
			if ev != nil {
				c.Kind, c.Target = contain.SuspendKey, ev.Actor.APIKeyID
			}
		case "rate_limit", "block":
			target := al.Actor
			if ev != nil && ev.Actor.Consumer != "" {
				target = ev.Actor.Consumer
			}
			c.Kind, c.Target = contain.RateLimit, target
			if act.Type == "block" {
				c.Kind = contain.BlockConsumer
			}
		}
		if c.Kind == "" || c.Target == "" {
			a.log.Warn("containment action has no target; skipped", "rule", al.RuleID, "action", act.Type)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := a.contain.Apply(ctx, c); err != nil {
			a.log.Error("containment failed", "rule", al.RuleID, "action", act.Type, "err", err)
		}
		cancel()
	}
}

// auditAction records a human or automatic response action as an access event in the log.
func (a *App) auditAction(ctx context.Context, action string, details map[string]any) {
	attrs := map[string]any{}
	actor := "warden"
	for k, v := range details {
		switch x := v.(type) {
		case string, float64, bool:
			attrs[k] = x
		case int:
			attrs[k] = float64(x)
		default:
			attrs[k] = fmt.Sprint(x)
		}
		if k == "actor" || k == "by" {
			if s, ok := v.(string); ok && s != "" {
				actor = s
			}
		}
	}
	ev := &event.Event{Type: event.TypeAccess, Time: time.Now().UTC(), Action: action, Decision: "allow",
		Resource: "warden", Actor: event.Actor{User: actor}, Attributes: attrs}
	if err := ev.Validate(); err != nil {
		a.log.Error("audit action event invalid", "action", action, "err", err)
		return
	}
	if err := a.pipeline.Emit(context.WithoutCancel(ctx), []*event.Event{ev}); err != nil {
		a.log.Error("audit action not recorded", "action", action, "err", err)
	}
}
