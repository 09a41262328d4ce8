package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/witness"
)

// buildWitnessing creates a client per configured witness (audit.witnesses).
func (a *App) buildWitnessing() error {
	hc := &http.Client{Timeout: 10 * time.Second}
	for i, w := range a.cfg.Audit.Witnesses {
		c, err := witness.NewClient(w.URL, w.Key, hc)
		if err != nil {
			return fmt.Errorf("audit.witnesses[%d]: %w", i, err)
		}
		a.witnesses = append(a.witnesses, c)
	}
	return nil
}

// runWitnessing submits each new checkpoint to the configured witnesses and stores the
// checkpoint with the cosignatures that came back (DATA/log/witnessed), for
// `warden audit verify --witness-key`.
func (a *App) runWitnessing(ctx context.Context) error {
	if len(a.witnesses) == 0 {
		return nil
	}
	t := time.NewTicker(a.cfg.Audit.WitnessInterval)
	defer t.Stop()
	var done uint64
	for {
		if n, err := a.witnessOnce(ctx, done); err != nil {
			a.log.Warn("witnessing", "err", err)
		} else {
			done = n
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// witnessOnce has the latest checkpoint cosigned if it is larger than done; it returns the
// size now witnessed. The file is written when at least one witness cosigned; a witness that
// refused or was unreachable is reported (and is missing from the file, so a verifier that
// requires it fails).
func (a *App) witnessOnce(ctx context.Context, done uint64) (uint64, error) {
	if a.audit.Size() == done {
		return done, nil
	}
	cp, err := a.audit.CheckpointNow()
	if err != nil {
		return done, err
	}
	size, err := checkpointSize(cp)
	if err != nil || size <= done {
		return done, err
	}
	var sigs [][]byte
	var failed []string
	for _, c := range a.witnesses {
		sig, err := c.Cosign(ctx, cp, size, a.audit.ConsistencyProof)
		if err != nil {
			a.log.Error("witness refused or unreachable", "witness", c.Name(), "size", size, "err", err)
			failed = append(failed, c.Name())
			continue
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return done, fmt.Errorf("no witness cosigned the checkpoint of size %d", size)
	}
	out := append(bytes.TrimRight(cp, "\n"), '\n')
	out = append(out, bytes.Join(sigs, nil)...)
	if err := a.audit.SetWitnessed(out); err != nil {
		return done, err
	}
	a.log.Debug("checkpoint witnessed", "size", size, "witnesses", len(sigs))
	if len(failed) > 0 {
		return size, fmt.Errorf("checkpoint of size %d not cosigned by %s", size, strings.Join(failed, ", "))
	}
	return size, nil
}

// checkpointSize reads the tree size (second line) of a signed checkpoint.
func checkpointSize(cp []byte) (uint64, error) {
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 3 {
		return 0, fmt.Errorf("malformed checkpoint")
	}
	return strconv.ParseUint(lines[1], 10, 64)
}

// AuditSize is the number of entries in the audit log.
func (a *App) AuditSize() uint64 { return a.audit.Size() }
