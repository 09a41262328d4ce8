package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/warden-ai/warden/internal/app"
	"github.com/warden-ai/warden/internal/config"
)

type serveFlags struct {
	config, data, listen, gateway, logLevel, pprof, signingKey, role string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	d := app.DefaultOptions()
	fs.StringVar(&f.config, "config", "", "YAML configuration file (optional)")
	fs.StringVar(&f.data, "data", d.DataDir, "data directory (created 0700)")
	fs.StringVar(&f.listen, "listen", d.Listen, "API and console address")
	fs.StringVar(&f.gateway, "gateway-listen", d.GatewayListen, "OpenAI-compatible gateway address (\"off\" to disable)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.signingKey, "signing-key", "", "audit log signing key kept outside the data directory (default $WARDEN_SIGNING_KEY_FILE; create one with `warden audit keygen`)")
	fs.StringVar(&f.role, "role", app.RoleAll, "roles of this process, comma-separated: all, gateway, ingest, worker, api (all but \"all\" need bus.driver nats; see docs/SCALE-OUT.md)")
	fs.StringVar(&f.pprof, "pprof-listen", "", "serve Go profiling (net/http/pprof) on this loopback address; off by default")
}

func (f *serveFlags) options(stderr io.Writer) (app.Options, error) {
	cfg, err := config.LoadFile(f.config)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return app.Options{}, usagef("%v", err)
		}
		return app.Options{}, usagef("%v", err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return app.Options{}, usagef("-log-level: %v", err)
	}
	roles, err := app.ParseRoles(f.role)
	if err != nil {
		return app.Options{}, usagef("-role: %v", err)
	}
	if !roles.All() && cfg.Bus.Driver != "nats" {
		return app.Options{}, usagef("-role %s needs the distributed mode: set bus: {driver: nats, url: …} and store: {driver: postgres, dsn: …} in the config (docs/SCALE-OUT.md)", roles)
	}
	return app.Options{
		DataDir: f.data, Listen: f.listen, GatewayListen: f.gateway, Config: cfg,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
		Getenv: os.Getenv, SigningKeyFile: f.signingKey, Roles: roles,
	}, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	opts, err := f.options(stderr)
	if err != nil {
		return err
	}
	if f.pprof != "" {
		if err := servePprof(f.pprof); err != nil {
			return err
		}
	}
	return app.Run(ctx, opts, func(a *app.App) {
		reloadOnHangup(ctx, a)
		scheme := func(l config.ListenerTLS) string {
			if l.Enabled() {
				return "https"
			}
			return "http"
		}
		api, gwScheme := scheme(opts.Config.TLS.API), scheme(opts.Config.TLS.Gateway)
		if opts.Roles.All() {
			fmt.Fprintf(stdout, "Warden is running.\n  API:      %s://%s\n", api, a.Addr())
		} else {
			fmt.Fprintf(stdout, "Warden is running (roles: %s).\n  API:      %s://%s\n", opts.Roles, api, a.Addr())
		}
		if gw := a.GatewayAddr(); gw != "" {
			fmt.Fprintf(stdout, "  Gateway:  %s://%s/v1 (OpenAI-compatible)\n", gwScheme, gw)
		}
		fmt.Fprintf(stdout, "  Tokens:   %s/credentials (or WARDEN_ADMIN_TOKEN / WARDEN_INGEST_TOKEN)\n", f.data)
	})
}

// reloadOnHangup reloads the rule files on SIGHUP until ctx ends. A reload that fails keeps the
// running rules; the server logs every problem (file:line) and counts it in
// warden_rules_reload_total{result="failure"}.
func reloadOnHangup(ctx context.Context, a *app.App) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_, _ = a.ReloadRules(ctx, "SIGHUP") // logged and counted by ReloadRules
			}
		}
	}()
}

// servePprof serves the runtime profiles on a loopback-only listener, for performance work.
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("-pprof-listen: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("-pprof-listen must be a loopback address (profiles are unauthenticated)")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return nil
}
