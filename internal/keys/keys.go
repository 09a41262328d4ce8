// Package keys manages Warden's virtual keys: the "wk-…" bearer tokens clients present to the
// gateway instead of upstream provider credentials. A key maps to a consumer, its groups, the
// models it may call, rate limits (requests and tokens per minute) and an expiry.
//
// Only the SHA-256 of each key is stored, in <data>/keys/keys.json (directory 0700, file 0600),
// written under an advisory lock so the CLI and a running server can change it concurrently.
// [Store.Lookup] hashes the presented key, finds it in a map keyed by hash (O(1)) and confirms
// with a constant-time comparison; it re-reads the file when its stamp changed, at most once per
// [Options.PollInterval] (default 250 ms), so keys created or revoked by another process take
// effect within a second without a background goroutine.
package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/keys/statefile"
)

// Prefix starts every virtual key.
const Prefix = "wk-"

// Lookup errors. They never contain the key.
var (
	ErrUnknown  = errors.New("unknown key")
	ErrRevoked  = errors.New("key revoked")
	ErrExpired  = errors.New("key expired")
	ErrNotFound = errors.New("no key with that id")
	ErrInvalid  = errors.New("invalid key spec")
)

// Key is the stored record of a virtual key. It never contains the key itself.
type Key struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"` // hex SHA-256 of the key
	Consumer  string    `json:"consumer"`
	Groups    []string  `json:"groups,omitempty"`
	Models    []string  `json:"models,omitempty"` // empty: every model the groups allow
	RPM       int       `json:"rpm,omitempty"`    // requests per minute, 0 = unlimited
	TPM       int       `json:"tpm,omitempty"`    // tokens per minute, 0 = unlimited
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// AllowsModel reports whether the key's model list admits name.
func (k *Key) AllowsModel(name string) bool {
	return len(k.Models) == 0 || slices.Contains(k.Models, name)
}

// Status is "active", "revoked" or "expired" at time now.
func (k *Key) Status(now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Spec describes a key to create.
type Spec struct {
	Consumer string        `json:"consumer"`
	Groups   []string      `json:"groups,omitempty"`
	Models   []string      `json:"models,omitempty"`
	RPM      int           `json:"rpm,omitempty"`
	TPM      int           `json:"tpm,omitempty"`
	TTL      time.Duration `json:"-"` // 0 = never expires
}

func (s Spec) validate() error {
	if strings.TrimSpace(s.Consumer) == "" {
		return fmt.Errorf("%w: consumer is required", ErrInvalid)
	}
	if len(s.Consumer) > 256 {
		return fmt.Errorf("%w: consumer longer than 256 bytes", ErrInvalid)
	}
	if s.RPM < 0 || s.TPM < 0 {
		return fmt.Errorf("%w: rpm and tpm must be ≥ 0", ErrInvalid)
	}
	if s.TTL < 0 {
		return fmt.Errorf("%w: expiry must be in the future", ErrInvalid)
	}
	for _, g := range slices.Concat(s.Groups, s.Models) {
		if strings.TrimSpace(g) == "" || strings.Contains(g, ",") {
			return fmt.Errorf("%w: empty group or model name", ErrInvalid)
		}
	}
	return nil
}

// Options configure a Store.
type Options struct {
	// Dir is the keys directory, normally <data>/keys.
	Dir          string
	Logger       *slog.Logger
	Now          func() time.Time
	PollInterval time.Duration // how often Lookup checks for changes by other processes; default 250ms
}

// fileFormat is the on-disk document.
type fileFormat struct {
	Version int   `json:"version"`
	Keys    []Key `json:"keys"`
}

type snapshot struct {
	byHash map[[sha256.Size]byte]*Key
	keys   []Key
}

// Store is the key store. It is safe for concurrent use, also across processes.
type Store struct {
	path  string
	log   *slog.Logger
	now   func() time.Time
	state *statefile.JSONFile[fileFormat, snapshot]
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("keys: Options.Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	s := &Store{path: filepath.Join(opts.Dir, "keys.json"), log: opts.Logger.With("component", "keys"), now: opts.Now}
	state, err := statefile.OpenJSON(s.path, fileFormat{Version: 1, Keys: []Key{}}, opts.PollInterval, s.log, s.build)
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	s.state = state
	return s, nil
}

func (s *Store) build(f fileFormat) (*snapshot, error) {
	sn := &snapshot{byHash: make(map[[sha256.Size]byte]*Key, len(f.Keys)), keys: f.Keys}
	for i := range f.Keys {
		var h [sha256.Size]byte
		if n, err := hex.Decode(h[:], []byte(f.Keys[i].Hash)); err != nil || n != sha256.Size {
			s.log.Warn("skipping key with malformed hash", "id", f.Keys[i].ID)
			continue
		}
		sn.byHash[h] = &f.Keys[i]
	}
	return sn, nil
}

// Hash returns the stored form of a key.
func Hash(key string) [sha256.Size]byte { return sha256.Sum256([]byte(key)) }

// Lookup returns the record of an active key. Errors: ErrUnknown, ErrRevoked (with the record),
// ErrExpired (with the record).
func (s *Store) Lookup(key string) (*Key, error) {
	if !strings.HasPrefix(key, Prefix) {
		return nil, ErrUnknown
	}
	h := Hash(key)
	k := s.state.Get().byHash[h]
	if k == nil {
		// A key created a moment ago by another process (the CLI): check the file's stamp now
		// rather than at the next poll. A stat per miss; reloads only when the file changed.
		k = s.state.Changed().byHash[h]
	}
	if k == nil {
		return nil, ErrUnknown
	}
	stored, _ := hex.DecodeString(k.Hash)
	if subtle.ConstantTimeCompare(stored, h[:]) != 1 {
		return nil, ErrUnknown
	}
	switch k.Status(s.now()) {
	case "revoked":
		return k, ErrRevoked
	case "expired":
		return k, ErrExpired
	}
	return k, nil
}

// List returns every key record, newest first.
func (s *Store) List() ([]Key, error) {
	out := slices.Clone(s.state.Fresh().keys)
	slices.SortStableFunc(out, func(a, b Key) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// Create makes a new key and returns it with its record. The key is shown only here.
func (s *Store) Create(_ context.Context, spec Spec) (string, Key, error) {
	if err := spec.validate(); err != nil {
		return "", Key{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return "", Key{}, err
	}
	id, err := newID()
	if err != nil {
		return "", Key{}, err
	}
	h := Hash(secret)
	now := s.now().UTC()
	k := Key{ID: id, Hash: hex.EncodeToString(h[:]), Consumer: spec.Consumer, Groups: spec.Groups, Models: spec.Models, RPM: spec.RPM, TPM: spec.TPM, CreatedAt: now}
	if spec.TTL > 0 {
		k.ExpiresAt = now.Add(spec.TTL)
	}
	err = s.state.Update(func(f *fileFormat) error {
		f.Keys = append(f.Keys, k)
		return nil
	})
	if err != nil {
		return "", Key{}, err
	}
	return secret, k, nil
}

// Revoke marks the key with that id revoked. Revoking twice is not an error.
func (s *Store) Revoke(_ context.Context, id string) (Key, error) {
	var out Key
	err := s.state.Update(func(f *fileFormat) error {
		for i := range f.Keys {
			if f.Keys[i].ID == id {
				if f.Keys[i].RevokedAt.IsZero() {
					f.Keys[i].RevokedAt = s.now().UTC()
				}
				out = f.Keys[i]
				return nil
			}
		}
		return fmt.Errorf("revoke %q: %w", id, ErrNotFound)
	})
	return out, err
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// newSecret returns "wk-" followed by 160 random bits in lower-case base32.
func newSecret() (string, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return Prefix + strings.ToLower(b32.EncodeToString(b[:])), nil
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key id: %w", err)
	}
	return "key_" + hex.EncodeToString(b[:]), nil
}
