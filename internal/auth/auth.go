// Package auth holds Warden's API tokens (admin and ingest): loading them from the environment or
// generating them on first start into <data>/credentials (mode 0600), and the HTTP middleware that
// checks them in constant time. Tokens are never logged.
package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Kind is what a token may do.
type Kind int

// Token kinds. Admin may do everything; Ingest may only send events.
const (
	Ingest Kind = iota
	Admin
)

// Tokens are the two bearer tokens.
type Tokens struct {
	admin, ingest [sha256.Size]byte
	// Admin and Ingest hold the plain tokens only when they were generated or read from the
	// environment in this process, so the CLI can print them once. They are never logged.
	Admin, Ingest string
}

// New builds Tokens from plain values.
func New(admin, ingest string) (*Tokens, error) {
	if len(admin) < 16 || len(ingest) < 16 {
		return nil, errors.New("tokens must be at least 16 characters")
	}
	if admin == ingest {
		return nil, errors.New("admin and ingest tokens must differ")
	}
	return &Tokens{admin: sha256.Sum256([]byte(admin)), ingest: sha256.Sum256([]byte(ingest)), Admin: admin, Ingest: ingest}, nil
}

// Load returns the tokens from WARDEN_ADMIN_TOKEN / WARDEN_INGEST_TOKEN when set, else from
// <dataDir>/credentials, generating that file (0600) on first start.
func Load(dataDir string, getenv func(string) string) (*Tokens, error) {
	admin, ingest := getenv("WARDEN_ADMIN_TOKEN"), getenv("WARDEN_INGEST_TOKEN")
	path := filepath.Join(dataDir, "credentials")
	if admin == "" || ingest == "" {
		fa, fi, err := readFile(path)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrNotExist):
			fa, fi = "wda-"+random(), "wdi-"+random()
			content := fmt.Sprintf("# Warden API tokens. Keep this file private.\nWARDEN_ADMIN_TOKEN=%s\nWARDEN_INGEST_TOKEN=%s\n", fa, fi)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				return nil, fmt.Errorf("write credentials: %w", err)
			}
		default:
			return nil, err
		}
		if admin == "" {
			admin = fa
		}
		if ingest == "" {
			ingest = fi
		}
	}
	return New(admin, ingest)
}

func readFile(path string) (admin, ingest string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "WARDEN_ADMIN_TOKEN":
			admin = v
		case "WARDEN_INGEST_TOKEN":
			ingest = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("read credentials: %w", err)
	}
	if admin == "" || ingest == "" {
		return "", "", fmt.Errorf("credentials file %s lacks WARDEN_ADMIN_TOKEN or WARDEN_INGEST_TOKEN", path)
	}
	return admin, ingest, nil
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Check returns the kind of a presented token, or false. Both comparisons always run, in
// constant time over the SHA-256 of the presented value.
func (t *Tokens) Check(token string) (Kind, bool) {
	h := sha256.Sum256([]byte(token))
	a := subtle.ConstantTimeCompare(h[:], t.admin[:])
	i := subtle.ConstantTimeCompare(h[:], t.ingest[:])
	switch {
	case a == 1:
		return Admin, true
	case i == 1:
		return Ingest, true
	}
	return 0, false
}

// ErrorWriter writes a JSON error response; the HTTP layer supplies it.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, code, msg string)

// Require wraps h so that it needs a bearer token of at least kind need: no or unknown token →
// 401, a valid token of the wrong kind → 403.
func (t *Tokens) Require(need Kind, werr ErrorWriter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(authz, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
			werr(w, r, http.StatusUnauthorized, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
			return
		}
		kind, ok := t.Check(token)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="warden", error="invalid_token"`)
			werr(w, r, http.StatusUnauthorized, "unauthorized", "invalid token")
			return
		}
		if kind < need {
			werr(w, r, http.StatusForbidden, "forbidden", "this token may only send events; use the admin token")
			return
		}
		h.ServeHTTP(w, r)
	})
}
