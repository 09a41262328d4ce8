package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/app"
	"github.com/warden-ai/warden/internal/audit"
	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/tsa"
	"github.com/warden-ai/warden/internal/tsa/tsatest"
	"github.com/warden-ai/warden/internal/witness"
)

// demoAnchors are the demo's trust anchors, outside the data directory: the audit log's signing
// key (its public half is what an auditor pins with --key) and a witness with its own key and
// state, serving the tlog-witness protocol on loopback — in production a separate process
// (`warden witness serve`) run by another party.
type demoAnchors struct {
	dir, keyFile, pubFile, witnessPub string
	witnessName                       string
	srv                               *http.Server
	// tsa is an RFC 3161 time-stamping authority with a throw-away CA (tsaCA): the test TSA,
	// standing in for a public or qualified one.
	tsa   *tsatest.TSA
	tsaCA string
}

func startDemoAnchors() (*demoAnchors, config.Witness, error) {
	dir, err := os.MkdirTemp("", "warden-demo-anchors-")
	if err != nil {
		return nil, config.Witness{}, err
	}
	skey, vkey, err := audit.GenerateKey(audit.DefaultOrigin)
	if err != nil {
		return nil, config.Witness{}, err
	}
	d := &demoAnchors{dir: dir, keyFile: filepath.Join(dir, "log.key"), pubFile: filepath.Join(dir, "log.key.pub")}
	if err := os.WriteFile(d.keyFile, []byte(skey+"\n"), 0o600); err != nil {
		return nil, config.Witness{}, err
	}
	if err := os.WriteFile(d.pubFile, []byte(vkey+"\n"), 0o600); err != nil {
		return nil, config.Witness{}, err
	}
	w, err := witness.New(witness.Options{Dir: filepath.Join(dir, "witness"), Name: "witness.demo", LogKeys: []string{vkey}})
	if err != nil {
		return nil, config.Witness{}, err
	}
	d.witnessPub, d.witnessName = filepath.Join(dir, "witness", "witness.pub"), "witness.demo"
	srv, url, err := serveLocal(w.Handler())
	if err != nil {
		return nil, config.Witness{}, err
	}
	d.srv = srv
	if d.tsa, err = tsatest.Start(tsatest.Options{}); err != nil {
		return nil, config.Witness{}, err
	}
	d.tsaCA = filepath.Join(dir, "tsa-ca.pem")
	if err := os.WriteFile(d.tsaCA, d.tsa.CAPEM, 0o600); err != nil {
		return nil, config.Witness{}, err
	}
	return d, config.Witness{URL: url, Key: w.VerifierKey()}, nil
}

// demoTrust shows, within the first minute, the audit trail's trust features on the running
// server: a checkpoint cosigned by the witness, then the erasure of a data subject's text, then
// the witness cosigning the next checkpoint — which it does only after checking the consistency
// proof from the checkpoint before the erasure, so the erasure provably left history intact.
func demoTrust(ctx context.Context, a *app.App, dataDir string, d *demoAnchors, w io.Writer) {
	stamp := func() string { return time.Now().Format("15:04:05") }
	witnessed := func() (uint64, bool) {
		b, err := os.ReadFile(filepath.Join(dataDir, "log", "witnessed"))
		if err != nil {
			return 0, false
		}
		n, err := checkpointSizeOf(b)
		return n, err == nil && strings.Contains(string(b), "— "+d.witnessName+" ")
	}
	waitWitnessed := func(above uint64) (uint64, bool) {
		for {
			if n, ok := witnessed(); ok && n > above {
				return n, true
			}
			select {
			case <-ctx.Done():
				return 0, false
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if !sleep(15 * time.Second) {
		return
	}
	n, ok := waitWitnessed(0)
	if !ok {
		return
	}
	fmt.Fprintf(w, "%s  TRUST   witness %s cosigned the audit log's checkpoint of size %d (DATA/log/witnessed)\n", stamp(), d.witnessName, n)
	if size, tok, ok := latestToken(dataDir); ok {
		fmt.Fprintf(w, "%s  TRUST   checkpoint of size %d time-stamped (RFC 3161) by %q at %s — a test TSA with a throw-away CA here; configure a real one in audit.timestamp_authorities (DATA/log/timestamps)\n",
			stamp(), size, tok.Signer, tok.Time.Format(time.RFC3339))
	}
	if !sleep(10 * time.Second) {
		return
	}
	const subject = "emp-12" // the persona whose answers leak PII
	before := a.AuditSize()
	res, err := a.EraseSubject(ctx, subject, "demo")
	if err != nil {
		fmt.Fprintf(w, "%s  TRUST   erasure of %s failed: %v\n", stamp(), subject, err)
		return
	}
	fmt.Fprintf(w, "%s  TRUST   data subject %q erased: text of %d events removed from the index, %d audit-log blobs overwritten, %d case files rewritten; leaves and hashes untouched\n",
		stamp(), subject, res.Texts, res.Blobs, res.CaseFiles)
	m, ok := waitWitnessed(max(n, before))
	if !ok {
		return
	}
	fmt.Fprintf(w, "%s  TRUST   witness cosigned the checkpoint of size %d after the erasure: each cosignature since size %d checked a consistency proof, so the erasure changed no history\n", stamp(), m, n)
	// The long-term tier: today's daily aggregates per model, kept for years after text expires.
	if days, err := a.Aggregates(time.Now(), time.Now(), ""); err == nil {
		for _, d := range days {
			var n int64
			for _, c := range d.Events {
				n += c
			}
			p95 := "-"
			if d.Latency != nil {
				p95 = fmt.Sprintf("%.0f ms", d.Latency.P95)
			}
			cats := make([]string, 0, len(d.Safety))
			for c, k := range d.Safety {
				cats = append(cats, fmt.Sprintf("%s %d", c, k))
			}
			slices.Sort(cats)
			fmt.Fprintf(w, "%s  AGGREGATE %s %-20s %6d events, p95 %s, %d flagged [%s] — kept for years after text expires (`warden aggregates`)\n",
				stamp(), d.Date, d.Model, n, p95, d.Flagged, strings.Join(cats, ", "))
		}
	}
	fmt.Fprintf(w, "%s  TRUST   after Ctrl-C, verify offline: warden audit verify --data %s --key %s --witness-key %s --tsa-cert %s\n", stamp(), dataDir, d.pubFile, d.witnessPub, d.tsaCA)
}

// latestToken returns the newest time-stamp token of the data directory's audit log.
func latestToken(dataDir string) (uint64, *tsa.Token, bool) {
	m, _ := filepath.Glob(filepath.Join(dataDir, "log", "timestamps", "*.tst"))
	if len(m) == 0 {
		return 0, nil, false
	}
	slices.Sort(m)
	last := m[len(m)-1]
	size, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(last), ".tst"), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	b, err := os.ReadFile(last)
	if err != nil {
		return 0, nil, false
	}
	t, err := tsa.Parse(b)
	return size, t, err == nil
}

// checkpointSizeOf reads the tree size (second line) of a signed checkpoint.
func checkpointSizeOf(cp []byte) (uint64, error) {
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("malformed checkpoint")
	}
	var n uint64
	_, err := fmt.Sscanf(lines[1], "%d", &n)
	return n, err
}
