package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// AlertClaimTTL is how long a claim on an alert's dedup key holds without being released:
// within it, the same alert raised by another worker (a partition handed over mid-window, the
// new owner replaying entries the old one had analysed) is dropped.
const AlertClaimTTL = 24 * time.Hour

// alertKey maps a dedup key (any text) to a key-value key.
func alertKey(dedupKey string) string {
	h := sha256.Sum256([]byte(dedupKey))
	return "alert." + hex.EncodeToString(h[:16])
}

// ClaimAlert de-duplicates an alert across workers: the first worker to raise a dedup key
// claims it (create-if-absent in the <Stream>_ALERTS bucket) and records and notifies it; a
// later raise is its own (true) when the claim is this member's, and a duplicate (false) when
// another member holds it. The claim lasts until ReleaseAlert or AlertClaimTTL.
func (b *Bus) ClaimAlert(ctx context.Context, dedupKey, member string) (bool, error) {
	key := alertKey(dedupKey)
	_, err := b.alerts.Create(ctx, key, []byte(member))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("claim alert: %w", err)
	}
	e, err := b.alerts.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) { // released meanwhile
		return b.ClaimAlert(ctx, dedupKey, member)
	}
	if err != nil {
		return false, fmt.Errorf("claim alert: %w", err)
	}
	return string(e.Value()) == member, nil
}

// ReleaseAlert ends the claim on a dedup key (its condition cleared): the next raise is a new
// alert, whichever worker raises it.
func (b *Bus) ReleaseAlert(ctx context.Context, dedupKey string) error {
	if err := b.alerts.Delete(ctx, alertKey(dedupKey)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release alert: %w", err)
	}
	return nil
}
