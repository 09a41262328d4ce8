package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/app"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/tsa"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "audit", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"verify": runAuditVerify,
		"keygen": runAuditKeygen,
	})
}

func logDir(data string) string { return filepath.Join(data, "log") }

func requireDataDir(data string) error {
	if data == "" {
		return usagef("-data is required")
	}
	if _, err := os.Stat(logDir(data)); err != nil {
		return usagef("no audit log in %s (is -data the server's data directory?)", data)
	}
	return nil
}

func runAuditVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	data := fs.String("data", "./warden-data", "data directory")
	key := fs.String("key", "", "trusted public key(s): a note verifier key, or a file with one key per line (old keys after a rotation included)")
	cpFile := fs.String("checkpoint", "", "a signed checkpoint saved earlier (e.g. a copy of DATA/log/checkpoint): the log must be a consistent extension of it")
	var witnessKeys listFlag
	fs.Var(&witnessKeys, "witness-key", "witness public key (or file, e.g. the witness's witness.pub); the log must hold a checkpoint cosigned by it, DATA/log/witnessed (repeatable)")
	tsaCert := fs.String("tsa-cert", "", "PEM file of the trusted RFC 3161 time-stamping authority (its certificate or CA): the log's time-stamp tokens (DATA/log/timestamps) must verify against it")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := requireDataDir(*data); err != nil {
		return err
	}
	var o audit.VerifyOptions
	var err error
	if o.Timestamps, err = tsaVerifierArg(*tsaCert); err != nil {
		return err
	}
	if *key != "" {
		if o.Keys, err = readKeysArg("-key", *key); err != nil {
			return err
		}
	}
	if *cpFile != "" {
		if o.Anchor, err = os.ReadFile(*cpFile); err != nil {
			return usagef("-checkpoint: %v", err)
		}
	}
	for _, w := range witnessKeys {
		ks, err := readWitnessKeysArg(w)
		if err != nil {
			return err
		}
		o.WitnessKeys = append(o.WitnessKeys, ks...)
	}
	start := time.Now()
	sum, err := audit.VerifyWith(logDir(*data), o)
	if err != nil {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			return &checkFailed{fmt.Errorf("audit log NOT verified: %s: %s (first bad entry: %d, %s)", kindText(ve.Kind), ve.Reason, ve.Index, ve.File)}
		}
		return &checkFailed{err}
	}
	fmt.Fprintf(stdout, "audit log intact\n  entries:     %d\n  tree size:   %d\n  root hash:   %s\n  checkpoints: %d\n  blobs:       %d checked (%d erased), %d segments pruned\n",
		sum.Entries, sum.TreeSize, hex.EncodeToString(sum.RootHash), sum.Checkpoints, sum.Blobs, sum.ErasedBlobs, sum.PrunedBlobSegments)
	if sum.Entries > sum.TreeSize {
		fmt.Fprintf(stdout, "  unsigned:    %d entries after the latest checkpoint (a checkpoint is signed within a second, and on shutdown)\n", sum.Entries-sum.TreeSize)
	}
	for _, k := range sum.PublicKeys {
		fmt.Fprintf(stdout, "  public key:  %s\n", k)
	}
	if sum.Pinned {
		fmt.Fprintln(stdout, "  key source:  pinned by --key")
	} else {
		fmt.Fprintln(stdout, "  key source:  taken from the data directory (log.pub): SELF-ASSERTED — whoever can write the directory can replace the key and rewrite the log; pass --key with the published key and --checkpoint with a checkpoint saved earlier")
	}
	if o.Anchor != nil {
		fmt.Fprintf(stdout, "  anchor:      consistent extension of the trusted checkpoint of size %d\n", sum.AnchorSize)
	}
	if len(o.WitnessKeys) > 0 {
		fmt.Fprintf(stdout, "  witnessed:   the first %d entries, by a checkpoint cosigned by %s", sum.WitnessedSize, strings.Join(sum.Witnesses, ", "))
		if sum.Entries > sum.WitnessedSize {
			fmt.Fprintf(stdout, " (the %d entries after it are vouched for by the log's key only)", sum.Entries-sum.WitnessedSize)
		}
		fmt.Fprintln(stdout)
	}
	printTimestamps(stdout, sum.TimestampTokens, sum.Timestamps, o.Timestamps != nil, sum.Entries)
	fmt.Fprintf(stdout, "  took:        %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func runAuditKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	out := fs.String("out", "", "signing key file to create (0600); the public key goes to FILE.pub")
	origin := fs.String("origin", audit.DefaultOrigin, "log origin (the checkpoint's first line)")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" {
		return usagef("-out is required")
	}
	skey, vkey, err := audit.GenerateKey(*origin)
	if err != nil {
		return usagef("-origin: %v", err)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return usagef("-out: %v", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", []byte(vkey+"\n"), 0o644); err != nil { //nolint:gosec // a public verification key is meant to be readable
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (secret, keep it off the data directory) and %s.pub\npublic key: %s\n", *out, *out, vkey)
	return nil
}

// signingKeyFlag returns the signer named by a --signing-key flag or $WARDEN_SIGNING_KEY_FILE, or nil.
func signingKeyFlag(path string) (audit.Signer, error) {
	if path == "" {
		path = os.Getenv(app.SigningKeyEnv)
	}
	if path == "" {
		return nil, nil
	}
	s, _, err := audit.LoadSignerFile(path)
	if err != nil {
		return nil, usagef("-signing-key: %v", err)
	}
	return s, nil
}

// kindText names a verification failure for people.
func kindText(kind string) string {
	switch kind {
	case audit.KindRollback:
		return "rollback/truncation"
	case audit.KindWrongKey:
		return "wrong key"
	case audit.KindInconsistent:
		return "inconsistent with the trusted checkpoint"
	case audit.KindUnwitnessed:
		return "not witnessed"
	case audit.KindUntimestamped:
		return "not time-stamped by a trusted TSA"
	}
	return "corrupt"
}

// readKeysArg reads note verifier keys given on the command line: a key itself, or a file
// holding one key per line.
func readKeysArg(flagName, v string) ([]string, error) {
	text := v
	if _, err := audit.ParseKeys(v); err != nil {
		b, rerr := os.ReadFile(v)
		if rerr != nil {
			return nil, usagef("%s: neither a public key nor a readable file: %v", flagName, rerr)
		}
		text = string(b)
	}
	keys, err := audit.ParseKeys(text)
	if err != nil {
		return nil, usagef("%s: %v", flagName, err)
	}
	return keys, nil
}

func runEvidence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "evidence", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"export": runEvidenceExport,
		"verify": runEvidenceVerify,
	})
}

func runEvidenceExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evidence export", flag.ContinueOnError)
	data := fs.String("data", "./warden-data", "data directory")
	out := fs.String("out", "", "package file to write (required)")
	from := fs.String("from", "", "first event time (RFC 3339), inclusive")
	to := fs.String("to", "", "last event time (RFC 3339), exclusive")
	model := fs.String("model", "", "only events of this model")
	var ids listFlag
	fs.Var(&ids, "ids", "only these event ids (comma-separated)")
	noText := fs.Bool("no-text", false, "leave the stored text blobs out of the package")
	signingKey := fs.String("signing-key", "", "the log's signing key when kept outside the data directory (default $WARDEN_SIGNING_KEY_FILE)")
	if _, err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" {
		return usagef("-out is required")
	}
	if err := requireDataDir(*data); err != nil {
		return err
	}
	var fromT, toT time.Time
	var err error
	if *from != "" {
		if fromT, err = time.Parse(time.RFC3339Nano, *from); err != nil {
			return usagef("-from: not RFC 3339: %q", *from)
		}
	}
	if *to != "" {
		if toT, err = time.Parse(time.RFC3339Nano, *to); err != nil {
			return usagef("-to: not RFC 3339: %q", *to)
		}
	}
	signer, err := signingKeyFlag(*signingKey)
	if err != nil {
		return err
	}
	if signer == nil {
		if _, err := os.Stat(filepath.Join(logDir(*data), "log.key")); err != nil {
			return usagef("the log's signing key is not in the data directory: pass -signing-key (or set %s)", app.SigningKeyEnv)
		}
	}
	opts := audit.ExportOptions{IDs: ids, Blobs: !*noText, Signer: signer}
	if *from != "" || *to != "" || *model != "" || len(ids) == 0 {
		opts.Select = func(_ uint64, leaf []byte) bool {
			if len(ids) > 0 && *from == "" && *to == "" && *model == "" {
				return false
			}
			ev, err := event.ParseLeaf(leaf)
			if err != nil {
				return false
			}
			if !fromT.IsZero() && ev.Time.Before(fromT) {
				return false
			}
			if !toT.IsZero() && !ev.Time.Before(toT) {
				return false
			}
			return *model == "" || ev.Model.Name == *model
		}
	}
	tmp := *out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return usagef("-out: %v", err)
	}
	sum, err := audit.ExportEvidence(logDir(*data), f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export evidence: %w", err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d events, %d text blobs, proofs against tree size %d (first checkpoint %d), %d bytes\n",
		*out, sum.Entries, sum.Blobs, sum.TreeSize, sum.FirstCheckpoint, sum.Bytes)
	return nil
}

func runEvidenceVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evidence verify", flag.ContinueOnError)
	key := fs.String("key", "", "pinned public key: the verifier key string, or a file holding it")
	tsaCert := fs.String("tsa-cert", "", "PEM file of the trusted RFC 3161 time-stamping authority (its certificate or CA): the package's time-stamp token must verify against it")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: warden evidence verify FILE [--key KEY] [--tsa-cert PEM]")
	}
	tv, err := tsaVerifierArg(*tsaCert)
	if err != nil {
		return err
	}
	var pinned string
	if *key != "" {
		keys, err := readKeysArg("-key", *key)
		if err != nil {
			return err
		}
		pinned = strings.Join(keys, "\n")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	sum, err := audit.VerifyEvidenceWith(f, st.Size(), audit.EvidenceOptions{Key: pinned, Timestamps: tv})
	if err != nil {
		return &checkFailed{err}
	}
	fmt.Fprintf(stdout, "evidence package intact\n  origin:    %s\n  key:       %s\n  tree size: %d\n  root hash: %s\n  events:    %d (each with a verified inclusion proof)\n",
		sum.Origin, sum.PublicKey, sum.TreeSize, hex.EncodeToString(sum.RootHash), len(sum.Entries))
	if sum.Pinned {
		fmt.Fprintln(stdout, "  key source: pinned by --key")
	} else {
		fmt.Fprintln(stdout, "  key source: taken from the package itself (log.pub): SELF-ASSERTED — anyone can build a package that verifies against its own key; pass --key with the operator's published key")
	}
	printTimestamps(stdout, sum.TimestampTokens, sum.Timestamps, tv != nil, 0)
	return nil
}

// tsaVerifierArg returns the checker of RFC 3161 tokens against the TSA certificates in the
// PEM file of --tsa-cert (nil without the flag).
func tsaVerifierArg(file string) (audit.TimestampVerifier, error) {
	if file == "" {
		return nil, nil
	}
	roots, err := tsa.LoadRoots(file)
	if err != nil {
		return nil, usagef("-tsa-cert: %v", err)
	}
	return func(token []byte) (audit.TimestampInfo, error) {
		t, err := tsa.VerifyToken(token, roots)
		if err != nil {
			return audit.TimestampInfo{}, err
		}
		return audit.TimestampInfo{Time: t.Time, Signer: t.Signer, Digest: t.Digest}, nil
	}, nil
}

// printTimestamps reports the RFC 3161 tokens of a log or package: checked ones (with
// --tsa-cert) date their checkpoint's entries; unchecked ones are only counted.
func printTimestamps(w io.Writer, tokens int, checked []audit.Timestamp, verified bool, entries uint64) {
	switch {
	case tokens == 0:
		return
	case !verified:
		fmt.Fprintf(w, "  timestamps:  %d RFC 3161 tokens, not checked (pass --tsa-cert with the TSA's certificate)\n", tokens)
		return
	}
	last := checked[len(checked)-1]
	fmt.Fprintf(w, "  timestamped: %d RFC 3161 tokens verified; the first %d entries existed by %s (TSA %s)",
		len(checked), last.Size, last.Time.UTC().Format(time.RFC3339), last.Signer)
	if entries > last.Size {
		fmt.Fprintf(w, "; the %d entries after it are not time-stamped", entries-last.Size)
	}
	fmt.Fprintln(w)
}
