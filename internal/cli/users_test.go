package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-ai/warden/internal/access"
	"github.com/warden-ai/warden/internal/users"
)

func runUsersCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := RunUsers(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), err
}

func TestUsersCLI(t *testing.T) {
	data := t.TempDir()
	out, err := runUsersCmd(t, "", "create", "ann", "--role", "analyst", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	pw := lines[len(lines)-1]
	st, err := users.Open(users.Options{Dir: filepath.Join(data, "users")})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := st.Authenticate("ann", pw); err != nil || u.Role != access.Analyst {
		t.Fatalf("the printed password (last line %q) does not log in: %v", pw, err)
	}
	if _, err := runUsersCmd(t, "a password read from stdin\n", "create", "bob", "--role=auditor", "--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate("bob", "a password read from stdin"); err != nil {
		t.Fatalf("stdin password: %v", err)
	}
	tok, err := runUsersCmd(t, "", "token", "ann", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := st.LookupToken(strings.TrimSpace(tok)); err != nil || u.Name != "ann" {
		t.Fatalf("printed token: %+v %v", u, err)
	}
	if _, err := runUsersCmd(t, "", "disable", "ann", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, err = runUsersCmd(t, "", "list", "--json", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	var vs []userView
	if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) != 2 {
		t.Fatalf("list: %s %v", out, err)
	}
	if vs[0].Name != "ann" || vs[0].Status != "disabled" || vs[0].Tokens != 1 || vs[1].Role != access.Auditor {
		t.Fatalf("list: %+v", vs)
	}
	if strings.Contains(out, pw) || strings.Contains(out, "password_hash") {
		t.Fatal("list shows password material")
	}
}

func TestUsersCLIUsageErrors(t *testing.T) {
	data := t.TempDir()
	if _, err := runUsersCmd(t, "", "create", "ann", "--role", "viewer", "--data", data); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"frob"},
		{"create", "ann2", "--data", data}, // no role
		{"create", "ann2", "--role", "root", "--data", data},                        // unknown role
		{"create", "ann", "--role", "viewer", "--data", data},                       // exists
		{"create", "bad name", "--role", "viewer", "--data", data},                  // invalid name
		{"create", "--role", "viewer", "--data", data},                              // no name
		{"create", "short", "--role", "viewer", "--password-stdin", "--data", data}, // short password
		{"token", "nobody", "--data", data},
		{"disable", "nobody", "--data", data},
		{"list", "extra", "--data", data},
		{"list", "--bogus", "--data", data},
	} {
		_, err := runUsersCmd(t, "short\n", args...)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("users %v: %v, want a usage error", args, err)
		}
	}
}
