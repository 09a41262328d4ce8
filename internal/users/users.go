// Package users keeps Warden's people: a name, a role (see package access), a password stored
// as a bcrypt hash, and personal API tokens stored as SHA-256 hashes. The store is one JSON file,
// <data>/users/users.json (directory 0700, file 0600), changed under an advisory lock so the CLI
// (`warden users …`) and a running server can both change it; the server notices a change at its
// next lookup (one stat call).
package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/keys/statefile"
)

// TokenPrefix starts every personal API token.
const TokenPrefix = "wdu-"

// Errors. None of them contains a password or token.
var (
	ErrExists      = errors.New("user already exists")
	ErrNotFound    = errors.New("no such user")
	ErrDisabled    = errors.New("user disabled")
	ErrCredentials = errors.New("wrong user name or password")
	ErrInvalid     = errors.New("invalid user")
)

// User is a stored person.
type User struct {
	Name         string      `json:"name"`
	Role         access.Role `json:"role"`
	PasswordHash string      `json:"password_hash"`
	Tokens       []Token     `json:"tokens,omitempty"`
	CreatedAt    time.Time   `json:"created_at"`
	DisabledAt   time.Time   `json:"disabled_at,omitzero"`
}

// Disabled reports whether the user was disabled.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

// Token is a personal API token's record: never the token itself.
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"` // hex SHA-256 of the token
	CreatedAt time.Time `json:"created_at"`
}

type fileFormat struct {
	Version int    `json:"version"`
	Users   []User `json:"users"`
}

// Options configure a Store.
type Options struct {
	Dir string // the users directory (<data>/users)
	Now func() time.Time
	// Cost is the bcrypt cost; default bcrypt.DefaultCost.
	Cost int
}

type snapshot struct {
	users   []User
	byToken map[[sha256.Size]byte]int
}

// Store is the user store.
type Store struct {
	path  string
	opts  Options
	state *statefile.JSONFile[fileFormat, snapshot]
	dummy []byte // a hash compared against for unknown users, so timing does not tell names
}

// Open opens (creating if needed) the store in opts.Dir.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("users: Options.Dir is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Cost == 0 {
		opts.Cost = bcrypt.DefaultCost
	}
	s := &Store{path: filepath.Join(opts.Dir, "users.json"), opts: opts}
	var err error
	if s.dummy, err = bcrypt.GenerateFromPassword([]byte("no such user, no such password"), opts.Cost); err != nil {
		return nil, fmt.Errorf("open user store: %w", err)
	}
	if s.state, err = statefile.OpenJSON(s.path, fileFormat{Version: 1, Users: []User{}}, 0, nil, build); err != nil {
		return nil, fmt.Errorf("open user store: %w", err)
	}
	return s, nil
}

// build indexes the file's document.
func build(f fileFormat) (*snapshot, error) {
	sn := &snapshot{users: f.Users, byToken: map[[sha256.Size]byte]int{}}
	for i, u := range f.Users {
		for _, t := range u.Tokens {
			var h [sha256.Size]byte
			if n, err := hex.Decode(h[:], []byte(t.Hash)); err == nil && n == sha256.Size {
				sn.byToken[h] = i
			}
		}
	}
	return sn, nil
}

// current returns the users as in the file now: one stat call per lookup, so a token issued or
// a user disabled a moment ago by the CLI counts at once. Concurrent callers do not queue; a
// file that cannot be read leaves the previous users in force.
func (s *Store) current() *snapshot { return s.state.Changed() }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidName reports whether name may be a user name: 1..64 of letters, digits, ".", "_", "@",
// "-", starting with a letter or digit.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// GeneratePassword returns a random password of 24 characters (120 bits).
func GeneratePassword() (string, error) {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return strings.ToLower(b32.EncodeToString(b[:])), nil
}

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 12

// Create adds a user with role and password.
func (s *Store) Create(_ context.Context, name string, role access.Role, password string) (User, error) {
	if !ValidName(name) {
		return User{}, fmt.Errorf("%w: name must be 1..64 letters, digits, '.', '_', '@' or '-'", ErrInvalid)
	}
	if _, err := access.ParseRole(string(role)); err != nil {
		return User{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(password) < MinPasswordLen || len(password) > 72 {
		return User{}, fmt.Errorf("%w: password must be %d..72 bytes", ErrInvalid, MinPasswordLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.Cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u := User{Name: name, Role: role, PasswordHash: string(h), CreatedAt: s.opts.Now().UTC()}
	err = s.state.Update(func(f *fileFormat) error {
		if slices.ContainsFunc(f.Users, func(x User) bool { return x.Name == name }) {
			return fmt.Errorf("%q: %w", name, ErrExists)
		}
		f.Users = append(f.Users, u)
		return nil
	})
	return u, err
}

// Authenticate checks a name and password. It takes the same time for unknown names as for
// wrong passwords. A disabled user gets ErrDisabled only after the right password.
func (s *Store) Authenticate(name, password string) (User, error) {
	u, ok := s.find(name)
	hash := s.dummy
	if ok {
		hash = []byte(u.PasswordHash)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || err != nil {
		return User{}, ErrCredentials
	}
	if u.Disabled() {
		return User{}, ErrDisabled
	}
	return u, nil
}

func (s *Store) find(name string) (User, bool) {
	for _, u := range s.current().users {
		if u.Name == name {
			return u, true
		}
	}
	return User{}, false
}

// Get returns the user named name, refreshed from the file when it changed.
func (s *Store) Get(name string) (User, error) {
	u, ok := s.find(name)
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

// IssueToken creates a personal API token for the user; the token is returned only here.
func (s *Store) IssueToken(_ context.Context, name string) (string, Token, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, fmt.Errorf("generate token: %w", err)
	}
	secret := TokenPrefix + strings.ToLower(b32.EncodeToString(b[:]))
	var idb [6]byte
	_, _ = rand.Read(idb[:])
	h := sha256.Sum256([]byte(secret))
	t := Token{ID: "ut-" + hex.EncodeToString(idb[:]), Hash: hex.EncodeToString(h[:]), CreatedAt: s.opts.Now().UTC()}
	err := s.state.Update(func(f *fileFormat) error {
		for i := range f.Users {
			if f.Users[i].Name == name {
				if f.Users[i].Disabled() {
					return fmt.Errorf("%q: %w", name, ErrDisabled)
				}
				f.Users[i].Tokens = append(f.Users[i].Tokens, t)
				return nil
			}
		}
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// LookupToken returns the active user a personal token belongs to. Unknown tokens and tokens of
// disabled users are ErrCredentials.
func (s *Store) LookupToken(token string) (User, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return User{}, ErrCredentials
	}
	h := sha256.Sum256([]byte(token))
	sn := s.current() // one snapshot: the index and the users it points into
	i, ok := sn.byToken[h]
	if !ok {
		return User{}, ErrCredentials
	}
	u := sn.users[i]
	match := 0
	for _, t := range u.Tokens {
		stored, _ := hex.DecodeString(t.Hash)
		match |= subtle.ConstantTimeCompare(stored, h[:])
	}
	if match != 1 || u.Disabled() {
		return User{}, ErrCredentials
	}
	return u, nil
}

// List returns every user in name order.
func (s *Store) List() []User {
	out := slices.Clone(s.current().users)
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetPassword replaces a user's password (and re-enables nothing: a disabled user stays
// disabled).
func (s *Store) SetPassword(_ context.Context, name, password string) error {
	if len(password) < MinPasswordLen || len(password) > 72 {
		return fmt.Errorf("%w: password must be %d..72 bytes", ErrInvalid, MinPasswordLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.Cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.state.Update(func(f *fileFormat) error {
		for i := range f.Users {
			if f.Users[i].Name == name {
				f.Users[i].PasswordHash = string(h)
				return nil
			}
		}
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	})
}

// Disable disables a user: their password and tokens stop working and their sessions end.
// Disabling twice is not an error.
func (s *Store) Disable(_ context.Context, name string) (User, error) {
	var out User
	err := s.state.Update(func(f *fileFormat) error {
		for i := range f.Users {
			if f.Users[i].Name == name {
				if !f.Users[i].Disabled() {
					f.Users[i].DisabledAt = s.opts.Now().UTC()
				}
				out = f.Users[i]
				return nil
			}
		}
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	})
	return out, err
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)
