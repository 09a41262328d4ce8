package users

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/warden-ai/warden/internal/access"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateAuthenticateDisable(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "users")
	s := open(t, dir)
	pw, err := GeneratePassword()
	if err != nil || len(pw) < MinPasswordLen {
		t.Fatalf("password %q %v", pw, err)
	}
	if _, err := s.Create(ctx, "ann", access.Analyst, pw); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "ann", access.Viewer, pw); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	u, err := s.Authenticate("ann", pw)
	if err != nil || u.Role != access.Analyst {
		t.Fatalf("authenticate: %+v %v", u, err)
	}
	for _, tc := range []struct{ name, pw string }{{"ann", pw + "x"}, {"ann", ""}, {"bob", pw}, {"", ""}} {
		if _, err := s.Authenticate(tc.name, tc.pw); !errors.Is(err, ErrCredentials) {
			t.Errorf("authenticate(%q, …): %v, want ErrCredentials", tc.name, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), pw) {
		t.Fatal("users.json holds the password")
	}
	for _, p := range []string{dir, filepath.Join(dir, "users.json")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v, want private", p, fi.Mode().Perm())
		}
	}
	tok, _, err := s.IssueToken(ctx, "ann")
	if err != nil || !strings.HasPrefix(tok, TokenPrefix) {
		t.Fatalf("token %q %v", tok, err)
	}
	if strings.Contains(string(mustRead(t, filepath.Join(dir, "users.json"))), tok) {
		t.Fatal("users.json holds the token")
	}
	// Another process (the CLI) sees the same store.
	other := open(t, dir)
	if u, err := other.LookupToken(tok); err != nil || u.Name != "ann" {
		t.Fatalf("lookup from a second store: %+v %v", u, err)
	}
	if _, err := s.LookupToken(tok + "x"); !errors.Is(err, ErrCredentials) {
		t.Fatalf("wrong token: %v", err)
	}
	if err := other.SetPassword(ctx, "ann", "a new password 123"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("ann", pw); !errors.Is(err, ErrCredentials) {
		t.Fatalf("old password after SetPassword: %v", err)
	}
	if _, err := s.Authenticate("ann", "a new password 123"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", "a new password 123"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPassword(nobody): %v", err)
	}
	if err := s.SetPassword(ctx, "ann", "short"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := other.Disable(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	// The first store notices at once for tokens it re-checks and within the poll for passwords.
	if _, err := s.LookupToken(tok); !errors.Is(err, ErrCredentials) {
		t.Fatalf("token of a disabled user: %v", err)
	}
	if _, err := s.Authenticate("ann", "a new password 123"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled user: %v", err)
	}
	if _, _, err := s.IssueToken(ctx, "ann"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("token for a disabled user: %v", err)
	}
	if _, _, err := s.IssueToken(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for nobody: %v", err)
	}
	if _, err := s.Disable(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable nobody: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateRejects(t *testing.T) {
	s := open(t, t.TempDir())
	for _, tc := range []struct {
		name, role, pw string
	}{
		{"", "viewer", "0123456789abc"},
		{"-ann", "viewer", "0123456789abc"},
		{"ann smith", "viewer", "0123456789abc"},
		{"<script>", "viewer", "0123456789abc"},
		{strings.Repeat("a", 65), "viewer", "0123456789abc"},
		{"ann", "root", "0123456789abc"},
		{"ann", "ingest", "0123456789abc"},
		{"ann", "viewer", "short"},
		{"ann", "viewer", strings.Repeat("p", 73)},
	} {
		if _, err := s.Create(context.Background(), tc.name, access.Role(tc.role), tc.pw); !errors.Is(err, ErrInvalid) {
			t.Errorf("create(%q, %q, len %d): %v, want ErrInvalid", tc.name, tc.role, len(tc.pw), err)
		}
	}
	if n := len(s.List()); n != 0 {
		t.Fatalf("%d users stored after rejected creates", n)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Create(context.Background(), "ann", access.Viewer, "correct horse battery"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Authenticate("ann", "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}
