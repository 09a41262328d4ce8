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
	"os"
	"path/filepath"
	"strings"
	"time"

	tnote "github.com/transparency-dev/formats/note"

	"github.com/warden-ai/warden/internal/witness"
)

func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "witness", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"serve":  runWitnessServe,
		"keygen": runWitnessKeygen,
	})
}

// runWitnessKeygen creates the witness's key in its state directory (unless there is one) and
// prints the verifier key, so the logs' audit.witnesses can be configured before it serves.
func runWitnessKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("witness keygen", flag.ContinueOnError)
	state := fs.String("state", "./warden-witness", "state directory of the witness (0700)")
	name := fs.String("name", "", "the witness's key name (default witness.HOSTNAME)")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *name == "" {
		*name = defaultWitnessName()
	}
	vkey, err := witness.InitKey(*state, *name)
	if err != nil {
		return usagef("%v", err)
	}
	fmt.Fprintf(stdout, "witness key: %s\n(also in %s)\n", vkey, filepath.Join(*state, "witness.pub"))
	return nil
}

func defaultWitnessName() string {
	h, _ := os.Hostname()
	return "witness." + strings.ReplaceAll(strings.ToLower(h), " ", "-")
}

// runWitnessServe runs a C2SP tlog-witness: a separate process, with its own key and state,
// that cosigns a Warden audit log's checkpoints only as consistent extensions of the last one
// it cosigned.
func runWitnessServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("witness serve", flag.ContinueOnError)
	state := fs.String("state", "./warden-witness", "state directory: the witness's key and the latest cosigned checkpoint per log (0700)")
	listen := fs.String("listen", "127.0.0.1:7380", "address of the witness API (POST /add-checkpoint)")
	name := fs.String("name", "", "the witness's key name when the state directory has no key yet (default witness.HOSTNAME)")
	var logKeys listFlag
	fs.Var(&logKeys, "log-key", "public key of a log to witness (or a file of keys, e.g. log.key.pub or DATA/log/log.pub); repeatable")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if len(logKeys) == 0 {
		return usagef("-log-key is required: the witness cosigns only logs whose keys it is given")
	}
	var keys []string
	for _, k := range logKeys {
		ks, err := readKeysArg("-log-key", k)
		if err != nil {
			return err
		}
		keys = append(keys, ks...)
	}
	if *name == "" {
		*name = defaultWitnessName()
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	w, err := witness.New(witness.Options{Dir: *state, Name: *name, LogKeys: keys, Logger: logger})
	if err != nil {
		return usagef("%v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usagef("-listen: %v", err)
	}
	fmt.Fprintf(stdout, "witness listening on http://%s\nwitness key: %s\n", ln.Addr(), w.VerifierKey())
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readWitnessKeysArg reads witness verifier keys (cosignature/v1 or Ed25519 note keys): a key
// itself, or a file holding one key per line.
func readWitnessKeysArg(v string) ([]string, error) {
	if _, err := tnote.NewVerifierForCosignatureV1(v); err == nil {
		return []string{v}, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, usagef("-witness-key: neither a witness key nor a readable file: %v", err)
	}
	var keys []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if _, err := tnote.NewVerifierForCosignatureV1(l); err != nil {
			return nil, usagef("-witness-key: %q: %v", l, err)
		}
		keys = append(keys, l)
	}
	if len(keys) == 0 {
		return nil, usagef("-witness-key: %s holds no key", v)
	}
	return keys, nil
}
