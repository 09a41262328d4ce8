package app

import (
	"slices"
	"sync"

	"github.com/warden-ai/warden/internal/config"
)

// inventory answers questions about the configured models; models absent from it get the
// defaults (store_text redacted, tier medium) and count as shadow AI for the analyzers.
type inventory struct {
	mu     sync.RWMutex
	models []config.Model
	byName map[string]config.Model
}

func newInventory(models []config.Model) *inventory {
	inv := &inventory{}
	inv.set(models)
	return inv
}

func (inv *inventory) set(models []config.Model) {
	by := make(map[string]config.Model, len(models))
	for _, m := range models {
		by[m.Name] = m
	}
	inv.mu.Lock()
	inv.models, inv.byName = slices.Clone(models), by
	inv.mu.Unlock()
}

func (inv *inventory) add(m config.Model) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, ok := inv.byName[m.Name]; ok {
		return
	}
	inv.models = append(slices.Clone(inv.models), m)
	inv.byName[m.Name] = m
}

func (inv *inventory) list() []config.Model {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.models
}

func (inv *inventory) get(name string) (config.Model, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	m, ok := inv.byName[name]
	return m, ok
}

// policy returns a model's store_text policy and risk tier.
func (inv *inventory) policy(name string) (string, string) {
	if m, ok := inv.get(name); ok {
		return string(m.StoreText), m.RiskTier
	}
	return string(config.StoreRedacted), string(config.TierMedium)
}

// PolicyFunc returns the store_text policy and risk tier lookup of a configuration, for tools
// that read the data directory offline (index rebuild).
func PolicyFunc(cfg *config.Config) func(model string) (string, string) {
	return newInventory(cfg.Models).policy
}
