package app

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/scan"
)

// guardOptions turns the configuration's guard models into scanner options, resolving their
// credentials (token_env through getenv, token_file from disk) into request headers. A guard
// whose credential cannot be resolved stops the start: better than calling it unauthenticated.
func guardOptions(gs []config.Guard, getenv func(string) string) ([]scan.GuardOptions, error) {
	if len(gs) == 0 {
		return nil, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = 30 * time.Second
	client := &http.Client{
		Transport: tr,
		// A redirect is a misconfiguration of the guard's URL: report its status, never
		// follow it with the credential.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	out := make([]scan.GuardOptions, 0, len(gs))
	for _, g := range gs {
		tok, err := g.Token(getenv)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		var h http.Header
		if tok != "" {
			v := tok
			if http.CanonicalHeaderKey(g.Auth.Header) == "Authorization" {
				v = "Bearer " + tok
			}
			h = http.Header{http.CanonicalHeaderKey(g.Auth.Header): {v}}
		}
		roles := make([]scan.Role, len(g.Roles))
		for i, r := range g.Roles {
			roles[i] = scan.Role(r)
		}
		out = append(out, scan.GuardOptions{
			Name: g.Name,
			Hook: scan.ExternalOptions{URL: g.URL, Timeout: g.Timeout, FailureThreshold: g.Breaker.Failures, Cooldown: g.Breaker.Cooldown,
				MaxResponseBytes: g.MaxResponseBytes, Header: h, Client: client},
			Categories: slices.Clone(g.Categories), Roles: roles, FailClosed: g.FailClosed(), Mode: scan.GuardMode(g.Mode),
		})
	}
	return out, nil
}
