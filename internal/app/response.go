package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/alert/lifecycle"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/receivers"
	"github.com/warden-ai/warden/internal/rules"
)

// buildResponse wires the alert manager (lifecycle, grouping, escalation) to the notifiers.
func (a *App) buildResponse() error {
	var cfgs []receivers.ReceiverConfig
	for i := range a.cfg.Receivers {
		var rc receivers.ReceiverConfig
		n := a.cfg.Receivers[i]
		if err := n.Decode(&rc); err != nil {
			return fmt.Errorf("receivers[%d] (line %d): %w", i, n.Line, err)
		}
		cfgs = append(cfgs, rc)
	}
	built, err := receivers.Build(cfgs, a.opts.Getenv, receivers.Options{Version: "warden"})
	if err != nil {
		return err
	}
	dl, err := notify.OpenFileDeadLetters(filepath.Join(a.opts.DataDir, "dead-letters.jsonl"))
	if err != nil {
		return fmt.Errorf("open dead letters: %w", err)
	}
	dopts := notify.DefaultOptions()
	dopts.Logger = a.log
	dopts.Registerer = a.reg
	dopts.DeadLetters = dl
	if a.dispatcher, err = notify.NewDispatcher(built, dopts); err != nil {
		return err
	}
	mopts := lifecycle.OptionsFromConfig(a.cfg)
	mopts.Dir = filepath.Join(a.opts.DataDir, "alerts")
	mopts.Deliverer = a.dispatcher // the manager speaks the notify contract: nothing to adapt
	mopts.Logger = a.log
	mopts.DeliveryStatus = func(id string) any { return a.dispatcher.Status().Alert(id) }
	mopts.Audit = a.auditAction
	mopts.OnChange = a.onAlertChange
	mopts.RequestActor = requestUser
	if a.alerts, err = lifecycle.New(mopts); err != nil {
		return fmt.Errorf("build alert manager: %w", err)
	}
	a.cleanups = append(a.cleanups, a.alerts.Close)
	if err := a.reg.Register(a.alerts.Collector()); err != nil {
		return fmt.Errorf("register alert feedback metrics: %w", err)
	}
	a.mountAdmin(a.alerts.Routes()...)
	return nil
}

// receiveAlerts is the analysis worker's alert sink.
func (a *App) receiveAlerts(ctx context.Context, alerts []alert.Alert) {
	if err := a.alerts.Receive(ctx, alerts); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error("recording alerts failed", "alerts", len(alerts), "err", err)
	}
}

// resolveAlerts resolves the alerts whose rule condition cleared.
func (a *App) resolveAlerts(ctx context.Context, keys []string) {
	for _, k := range keys {
		if _, err := a.alerts.ResolveCondition(ctx, k); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("auto-resolve failed", "dedup_key", k, "err", err)
		}
	}
}

// onAlertChange is called by the alert manager for every new or changed alert.
func (a *App) onAlertChange(ctx context.Context, al alert.Alert) {
	if al.State == alert.Firing && al.Count == 1 {
		a.containByPolicy(al)
	}
	if a.incidentHook != nil {
		a.incidentHook(ctx, al)
	}
}

// containByPolicy applies the configured proportional containment (response.containment) to a
// newly firing alert: the first level matching its severity and its model's risk tier.
func (a *App) containByPolicy(al alert.Alert) {
	if len(a.cfg.Response.Containment) == 0 || len(al.Actions) > 0 { // a rule's own actions win
		return
	}
	m, _ := a.models.get(al.Model)
	tier := config.RiskTier(m.RiskTier)
	if tier == "" {
		tier = config.TierMedium
	}
	for _, p := range a.cfg.Response.Containment {
		if p.Severity != al.Severity || (len(p.Tiers) > 0 && !slices.Contains(p.Tiers, tier)) {
			continue
		}
		a.goContain(al, []rules.Action{{Type: p.Action, TTL: p.TTL, RPM: p.RPM}})
		return
	}
}
