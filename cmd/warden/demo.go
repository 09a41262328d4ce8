package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/app"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/demo"
	"github.com/warden-ai/warden/internal/guardsim"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/notify/webhook"
	"github.com/warden-ai/warden/internal/probe"
	"github.com/warden-ai/warden/internal/upstreamsim"
	"github.com/warden-ai/warden/internal/users"
)

// runDemo serves Warden in front of a built-in simulated upstream model (named as such: no
// real model is called) and drives synthetic traffic through the gateway and the ingest API:
// ordinary users, attacks, leaks, denied consumers. Alerts arrive at a local webhook receiver
// that verifies Warden's signature and prints them.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	data := fs.String("data", "", "data directory (default: a new temporary directory)")
	listen := fs.String("listen", "127.0.0.1:7700", "API address")
	gw := fs.String("gateway-listen", "127.0.0.1:7701", "gateway address")
	interval := fs.Duration("interval", 2*time.Second, "pause between rounds of synthetic traffic")
	rounds := fs.Int("rounds", 0, "rounds of traffic (0 = until interrupted)")
	logLevel := fs.String("log-level", "warn", "server log level")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *interval <= 0 {
		return usagef("-interval must be > 0")
	}
	dir := *data
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "warden-demo-"); err != nil {
			return err
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("-log-level: %v", err)
	}

	// The simulated upstream model: an OpenAI-compatible test double on loopback.
	simulated := upstreamsim.New(upstreamsim.Options{ChunkDelay: 5 * time.Millisecond})
	simulated.SetBehaviour(demo.ProbeUpstream, upstreamsim.Guarded)
	sim, simURL, err := serveLocal(simulated)
	if err != nil {
		return err
	}
	defer sim.Close()

	// The simulated guard model (a phrase list, not a classifier) that judges kb-assistant's
	// inputs over Warden's guard contract.
	guard := &guardsim.Server{}
	gsrv, guardURL, err := serveLocal(guard.GuardHandler())
	if err != nil {
		return err
	}
	defer gsrv.Close()

	// A local webhook receiver standing in for the SOC's endpoint.
	secret := "demo-webhook-secret"
	var printMu sync.Mutex
	hook, hookURL, err := serveLocal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), body, []byte(secret), 5*time.Minute, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p struct {
			Kind   string `json:"kind"`
			Level  int    `json:"level"`
			Alerts []struct {
				Severity string `json:"severity"`
				RuleID   string `json:"rule_id"`
				Summary  string `json:"summary"`
			} `json:"alerts"`
		}
		_ = json.Unmarshal(body, &p)
		printMu.Lock()
		for _, al := range p.Alerts {
			fmt.Fprintf(stdout, "%s  ALERT %-8s %s  %-34s %s\n", time.Now().Format("15:04:05"), p.Kind, al.Severity, al.RuleID, al.Summary)
		}
		printMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	if err != nil {
		return err
	}
	defer hook.Close()

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ks, err := keys.Open(keys.Options{Dir: filepath.Join(dir, "keys")})
	if err != nil {
		return err
	}
	fixture, err := demo.Setup(ctx, simURL, ks)
	if err != nil {
		return err
	}
	logins, err := demoLogins(ctx, dir)
	if err != nil {
		return err
	}
	cfg, err := demoConfig(fixture, hookURL, guardURL)
	if err != nil {
		return err
	}
	anchors, wcfg, err := startDemoAnchors()
	if err != nil {
		return err
	}
	defer anchors.srv.Close()
	defer anchors.tsa.Close()
	cfg.Audit.Witnesses, cfg.Audit.WitnessInterval = []config.Witness{wcfg}, 5*time.Second
	cfg.Audit.TimestampAuthorities, cfg.Audit.TimestampInterval = []string{anchors.tsa.URL}, 10*time.Second
	opts := app.Options{
		DataDir: dir, Listen: *listen, GatewayListen: *gw, Config: cfg, SigningKeyFile: anchors.keyFile,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
		Getenv: func(k string) string {
			if k == "DEMO_WEBHOOK_SECRET" {
				return secret
			}
			return os.Getenv(k)
		},
	}
	return app.Run(ctx, opts, func(a *app.App) {
		started := time.Now()
		reloadOnHangup(ctx, a)
		fmt.Fprintf(stdout, `Warden demo — the upstream model is SIMULATED (a built-in test double at %s); no real model is called.

  Console:    http://%s/   (log in as any of these; each sees what its role allows)
%s
  API:        http://%s   (admin token below)
  Gateway:    http://%s/v1 (OpenAI-compatible; demo keys were created for the personas)
  Data:       %s
  Admin token: %s
  Metrics:    http://%s/metrics with the metrics-only token %s
              (Prometheus scrape config and a Grafana dashboard: docs/METRICS.md)

  Try:  curl -s -H "Authorization: Bearer %s" http://%s/v1/alerts | head -c 2000
        curl -s -H "Authorization: Bearer %s" "http://%s/v1/events?limit=3"
        warden audit verify --data %s   (after Ctrl-C; docs/TRUST.md: --key, --checkpoint)
        warden subjects export --user data-scientist-7 --url http://%s --token %s   (or: erase)
  Scale out: the same binary as roles on NATS JetStream + PostgreSQL —
        warden serve --role ingest|worker|api --config (bus: {driver: nats})   docs/SCALE-OUT.md

  Trust anchors (outside the data directory, %s): the log's signing key
  (public: log.key.pub) and a witness (its own key and state) cosigning every checkpoint.

Synthetic traffic every %s: ordinary users, prompt injection and jailbreaks, PII and secrets
leaking in outputs, a consumer outside its groups, revoked and expired keys, access and
pipeline events. Alerts are printed as the webhook receiver gets them.

Output quality: half of support-bot's answers are graded by the quality-judge model (simulated);
        curl -s -H "Authorization: Bearer %s" http://%s/v1/models/support-bot/quality

Guard model: kb-assistant's inputs are judged by %s, a SIMULATED guard model (a phrase list
standing in for a GPU-served Prompt Guard; %s) that decides prompt_injection and jailbreak
(fail-open). It catches a paraphrased attack the built-in scanners let through; from +30 s to
+45 s it is down: the built-in verdict stands and events carry warden.guard_error.
        docs/INTEGRATIONS.md "Guard models"; metrics warden_guard_* on /metrics

Active probes: claims-bot is red-teamed every 10 s through the gateway (%d built-in probes:
injection, jailbreak, encoding, extraction, multilingual). At +20 s its simulated upstream
loses its guardrails; the next run raises warden.probe.regression.
        warden probe run --model claims-bot --url http://%s --token %s
        curl -s -H "Authorization: Bearer %s" http://%s/v1/models/claims-bot/probes

Rules: reload the rule files of this running server (a broken file is refused with file:line
and the running rules stay in force; metric warden_rules_reload_total):
        warden rules reload --url http://%s --token %s   (or: kill -HUP %d)

`, simURL, a.Addr(), logins, a.Addr(), a.GatewayAddr(), dir, a.Tokens().Admin, a.Addr(), a.MetricsToken(), a.Tokens().Admin, a.Addr(), a.Tokens().Admin, a.Addr(), dir, a.Addr(), a.Tokens().Admin, anchors.dir, *interval,
			a.Tokens().Admin, a.Addr(), demo.GuardName, guardURL, builtinProbes(), a.Addr(), a.Tokens().Admin, a.Tokens().Admin, a.Addr(),
			a.Addr(), a.Tokens().Admin, os.Getpid())
		go func() {
			for _, step := range []struct {
				at   time.Duration
				down bool
				msg  string
			}{
				{30 * time.Second, true, "the simulated guard model is down; kb-assistant's guard is fail-open: the built-in verdict stands (the paraphrased attack passes) and events carry warden.guard_error"},
				{45 * time.Second, false, "the simulated guard model is back; it judges kb-assistant's inputs again"},
			} {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(started.Add(step.at))):
				}
				guard.SetDown(step.down)
				printMu.Lock()
				fmt.Fprintf(stdout, "%s  demo: %s\n", time.Now().Format("15:04:05"), step.msg)
				printMu.Unlock()
			}
		}()
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Second):
			}
			simulated.SetBehaviour(demo.ProbeUpstream, upstreamsim.Vulnerable)
			printMu.Lock()
			fmt.Fprintf(stdout, "%s  demo: claims-bot's simulated upstream lost its guardrails (now vulnerable); the next probe run will notice\n", time.Now().Format("15:04:05"))
			printMu.Unlock()
		}()
		go func() {
			err := demo.Run(ctx, "http://"+a.GatewayAddr(), fixture, &lockedWriter{mu: &printMu, w: stdout}, demo.Options{Interval: *interval, Rounds: *rounds})
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "demo traffic stopped: %v\n", err)
			}
		}()
		go demoStatus(ctx, "http://"+a.Addr(), a.Tokens().Admin, &lockedWriter{mu: &printMu, w: stdout})
		go demoTrust(ctx, a, dir, anchors, &lockedWriter{mu: &printMu, w: stdout})
		go func() {
			err := demo.RunIngest(ctx, "http://"+a.Addr(), a.Tokens().Ingest, &lockedWriter{mu: &printMu, w: stdout}, demo.Options{Interval: *interval, Rounds: *rounds})
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "demo ingest traffic stopped: %v\n", err)
			}
		}()
	})
}

// demoLogins creates (or resets the password of) one demo person per role in the data
// directory and returns the lines that print them.
func demoLogins(ctx context.Context, dir string) (string, error) {
	st, err := users.Open(users.Options{Dir: filepath.Join(dir, "users")})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, role := range access.PersonRoles {
		name := "demo-" + string(role)
		pw, err := users.GeneratePassword()
		if err != nil {
			return "", err
		}
		if _, err := st.Create(ctx, name, role, pw); errors.Is(err, users.ErrExists) {
			err = st.SetPassword(ctx, name, pw)
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "              %-8s user %-13s password %s\n", role, name, pw)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// demoConfig is the demo's configuration: the fixture's inventory, the simulated guard model
// at guardURL, and one webhook receiver that every severity escalates to.
func demoConfig(f *demo.Fixture, hookURL, guardURL string) (*config.Config, error) {
	doc := map[string]any{
		"guards": []any{map[string]any{"name": demo.GuardName, "url": guardURL + "/v1/guard", "categories": []string{"prompt_injection", "jailbreak"},
			"roles": []string{"input"}, "fail": "open", "timeout": "500ms", "breaker": map[string]any{"failures": 3, "cooldown": "5s"}}},
		"receivers": []any{map[string]any{"name": "demo-webhook", "webhook": map[string]any{"url": hookURL, "secret_env": "DEMO_WEBHOOK_SECRET"}}},
		"escalation": map[string]any{
			"P1": []any{map[string]any{"after": "0s", "receivers": []string{"demo-webhook"}}},
			"P2": []any{map[string]any{"after": "0s", "receivers": []string{"demo-webhook"}}},
			"P3": []any{map[string]any{"after": "0s", "receivers": []string{"demo-webhook"}}},
			"P4": []any{map[string]any{"after": "0s", "receivers": []string{"demo-webhook"}}},
		},
		"response":  map[string]any{"group_wait": "5s", "group_interval": "30s"},
		"analysis":  map[string]any{"baseline_events": 200, "protected_attributes": []string{"region"}},
		"retention": map[string]any{"interval": "1h"},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	cfg.Models = f.Models
	return cfg, nil
}

// serveLocal serves h on a free loopback port.
func serveLocal(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

// demoStatus prints, every 20 s, what the response layer holds: alerts by severity, open
// incidents (opened automatically from P1/P2) and active containment.
func demoStatus(ctx context.Context, api, token string, w io.Writer) {
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var alerts struct {
			Alerts []struct{ Severity, State string } `json:"alerts"`
		}
		var incs struct {
			Incidents []struct{ ID, Severity, Phase, Title string } `json:"incidents"`
		}
		var cont struct {
			Actions []struct{ Kind, Target, State string } `json:"actions"`
		}
		if get("/v1/alerts?limit=1000", &alerts) != nil || get("/v1/incidents", &incs) != nil || get("/v1/containment", &cont) != nil {
			continue
		}
		bySev := map[string]int{}
		for _, a := range alerts.Alerts {
			if a.State != "resolved" {
				bySev[a.Severity]++
			}
		}
		var contained []string
		for _, c := range cont.Actions {
			if c.State == "" || c.State == "active" {
				contained = append(contained, c.Kind+" "+c.Target)
			}
		}
		fmt.Fprintf(w, "%s  STATUS  open alerts P1 %d · P2 %d · P3 %d · P4 %d; incidents %d; containment in force: %v\n",
			time.Now().Format("15:04:05"), bySev["P1"], bySev["P2"], bySev["P3"], bySev["P4"], len(incs.Incidents), contained)
		var q struct {
			Judging struct{ Judged, Errors int } `json:"judging"`
			Metrics []struct {
				Metric string   `json:"metric"`
				Recent *float64 `json:"recent"`
			} `json:"metrics"`
		}
		var probes struct {
			Families []struct {
				Family   string   `json:"family"`
				PassRate *float64 `json:"pass_rate"`
			} `json:"families"`
		}
		if get("/v1/models/support-bot/quality", &q) == nil && q.Judging.Judged > 0 {
			line := fmt.Sprintf("%s  QUALITY support-bot: %d answers judged by quality-judge", time.Now().Format("15:04:05"), q.Judging.Judged)
			for _, m := range q.Metrics {
				if m.Recent != nil {
					line += fmt.Sprintf("; %s %.2f", m.Metric, *m.Recent)
				}
			}
			fmt.Fprintln(w, line)
		}
		var kb struct {
			Events []struct {
				Attributes map[string]any `json:"attributes"`
				Safety     *struct {
					Triggers []struct{ Detector string } `json:"triggers"`
				} `json:"safety"`
			} `json:"events"`
		}
		if get("/v1/events?model=kb-assistant&type=inference&limit=200", &kb) == nil && len(kb.Events) > 0 {
			var judged, caught, failed int
			for _, e := range kb.Events {
				if _, ok := e.Attributes["warden.guards"]; ok {
					judged++
				}
				if _, ok := e.Attributes["warden.guard_error"]; ok {
					failed++
				}
				if e.Safety != nil && slices.ContainsFunc(e.Safety.Triggers, func(t struct{ Detector string }) bool { return t.Detector == "guard."+demo.GuardName }) {
					caught++
				}
			}
			fmt.Fprintf(w, "%s  GUARD   kb-assistant: %d of its last %d requests judged by guard.%s: %d caught by it, %d without a verdict (guard down; fail-open)\n",
				time.Now().Format("15:04:05"), judged, len(kb.Events), demo.GuardName, caught, failed)
		}
		var recent struct {
			Events []struct {
				Safety *struct {
					Action   string                      `json:"action"`
					Triggers []struct{ Detector string } `json:"triggers"`
				} `json:"safety"`
			} `json:"events"`
		}
		if get("/v1/events?type=inference&limit=500", &recent) == nil && len(recent.Events) > 0 {
			fmt.Fprintln(w, verdictLine(time.Now(), len(recent.Events), func(yield func(action, detector string) bool) {
				for _, e := range recent.Events {
					if e.Safety == nil || e.Safety.Action == "" || e.Safety.Action == "allow" {
						continue
					}
					for _, t := range e.Safety.Triggers {
						if !yield(e.Safety.Action, t.Detector) {
							return
						}
					}
				}
			}))
		}
		if get("/v1/models/claims-bot/probes", &probes) == nil && len(probes.Families) > 0 {
			line := time.Now().Format("15:04:05") + "  PROBES  claims-bot pass rate:"
			for _, f := range probes.Families {
				if f.PassRate != nil {
					line += fmt.Sprintf(" %s %.0f%%", f.Family, *f.PassRate*100)
				}
			}
			fmt.Fprintln(w, line)
		}
	}
}

// verdictLine summarises the findings of the last n requests whose verdict
// was not allow, as (verdict, detector) pairs, most frequent first;
// harmful-request findings are marked quiet (they never page).
func verdictLine(now time.Time, n int, triggers iter.Seq2[string, string]) string {
	type key struct{ action, detector string }
	counts := map[key]int{}
	for a, d := range triggers {
		counts[key{a, d}]++
	}
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b key) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a.action+a.detector, b.action+b.detector)
	})
	line := fmt.Sprintf("%s  VERDICTS last %d requests, findings behind the non-allow verdicts (verdict, detector):", now.Format("15:04:05"), n)
	for _, k := range keys {
		quiet := ""
		if strings.HasPrefix(k.detector, "harmful_request") {
			quiet = " quiet"
		}
		line += fmt.Sprintf(" %s %s%s ×%d;", k.action, k.detector, quiet, counts[k])
	}
	return strings.TrimSuffix(line, ";")
}

// builtinProbes counts the probes of the built-in packs, for the demo banner.
func builtinProbes() int {
	packs, err := probe.Builtin()
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range packs {
		n += len(p.Probes)
	}
	return n
}
