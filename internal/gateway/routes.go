package gateway

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/scan"
)

// upstream is one resolved endpoint of a route.
type upstream struct {
	base   string // URL without trailing slash and without user info, e.g. https://api.openai.com/v1
	host   string // recorded on events as the destination
	model  string
	apiKey string // never logged, recorded or returned
	// auth is the prepared Authorization header value ("Bearer " + apiKey), shared read-only
	// by every request to this upstream; nil without a credential.
	auth []string
}

// route is a model of the inventory, prepared for the hot path.
type route struct {
	model     config.Model
	upstreams []upstream
	policy    scan.Policy
	failOpen  bool
	// holdOutput: the output policy can block or redact, so streams are held back.
	holdOutput bool
	scanCtx    scan.Context // without guards: the built-in scanners only
	// guards are the model's guard models (config.Model.Guards) and guardBudget their longest
	// timeout, added to the scan deadline when they are consulted.
	guards      []string
	guardBudget time.Duration
	err         error // configuration problem, reported as 503 without details
}

type routeTable struct {
	data   *config.Model
	n      int
	routes map[string]*route
	list   []*route // inventory order
}

func (g *Gateway) routes() *routeTable {
	ms := g.opts.Models()
	t := g.table.Load()
	if t != nil && t.n == len(ms) && t.data == unsafe.SliceData(ms) {
		return t
	}
	t = buildRoutes(ms, g.opts.Getenv, g.guardBudget)
	g.table.Store(t)
	return t
}

// guardBudgeter is implemented by scanners that call guard models (*scan.Engine).
type guardBudgeter interface {
	GuardBudget(names []string) time.Duration
}

// guardBudget is how long the named guards may take (zero when the scanner has none).
func (g *Gateway) guardBudget(names []string) time.Duration {
	if b, ok := g.opts.Scanner.(guardBudgeter); ok && len(names) > 0 {
		return b.GuardBudget(names)
	}
	return 0
}

func buildRoutes(ms []config.Model, getenv func(string) string, budget func([]string) time.Duration) *routeTable {
	t := &routeTable{data: unsafe.SliceData(ms), n: len(ms), routes: make(map[string]*route, len(ms))}
	for _, m := range ms {
		r := &route{model: m, policy: scan.ModelPolicy(m.RiskTier, m.Scanning), scanCtx: scan.Context{Model: m.Name, SystemPrompt: m.SystemPrompt, Canaries: m.Canaries}}
		if len(m.Guards) > 0 {
			r.guards = m.Guards
			if budget != nil {
				r.guardBudget = budget(m.Guards)
			}
		}
		r.failOpen = !r.policy.FailClosed
		r.holdOutput = canStopOutput(r.policy)
		if m.FailOpen != nil {
			r.failOpen = *m.FailOpen
		}
		ups := slices.Concat([]config.Upstream{m.Upstream}, m.Fallbacks)
		for i, u := range ups {
			if u.URL == "" {
				if i == 0 {
					r.err = fmt.Errorf("model %q has no upstream url", m.Name)
				}
				continue
			}
			pu, err := url.Parse(u.URL)
			if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
				r.err = fmt.Errorf("model %q: upstream %d: invalid url", m.Name, i)
				continue
			}
			pu.User = nil
			up := upstream{base: strings.TrimRight(pu.String(), "/"), host: pu.Host, model: u.Model}
			if up.model == "" {
				up.model = m.Upstream.Model
			}
			if up.model == "" {
				up.model = m.Name
			}
			if u.APIKeyEnv != "" {
				up.apiKey = getenv(u.APIKeyEnv)
			}
			if up.apiKey != "" {
				up.auth = []string{"Bearer " + up.apiKey}
			}
			r.upstreams = append(r.upstreams, up)
		}
		t.routes[m.Name] = r
		t.list = append(t.list, r)
	}
	return t
}

// allowedFor reports whether the key's groups and model list admit the route; reason and code
// describe a denial.
func (r *route) allowedFor(groups, models []string) (ok bool, code, reason string) {
	if len(models) > 0 && !slices.Contains(models, r.model.Name) {
		return false, "model_not_allowed", "the key is not allowed to use this model"
	}
	if len(r.model.AllowedGroups) > 0 && !slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(r.model.AllowedGroups, g) }) {
		return false, "group_not_allowed", "the consumer is not in a group allowed to use this model"
	}
	return true, "", ""
}
