package sso

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// FlowTTL bounds how long a person may take at the identity provider.
const FlowTTL = 10 * time.Minute

// Flow is one login in progress. It lives in an HttpOnly cookie of the browser that started
// it (so every API node can finish it): the state ties the provider's answer to that browser,
// the nonce ties the ID token to this login, and the verifier proves to the token endpoint
// that the code is redeemed by the one who asked for it (PKCE).
type Flow struct {
	State, Nonce, Verifier string
	Next                   string // local path to return to
	Created                time.Time
}

// NewFlow starts a login that returns to next.
func NewFlow(next string, now time.Time) Flow {
	return Flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next, Created: now}
}

func random() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Encode is the cookie value: v1.state.nonce.verifier.next(base64url).unix-seconds.
func (f Flow) Encode() string {
	return strings.Join([]string{"v1", f.State, f.Nonce, f.Verifier,
		base64.RawURLEncoding.EncodeToString([]byte(f.Next)), strconv.FormatInt(f.Created.Unix(), 10)}, ".")
}

// ErrBadFlow is a flow cookie that is missing or malformed.
var ErrBadFlow = errors.New("malformed login flow")

// ParseFlow reads a cookie value made by Encode.
func ParseFlow(s string) (Flow, error) {
	if len(s) > 1024 {
		return Flow{}, ErrBadFlow
	}
	p := strings.Split(s, ".")
	if len(p) != 6 || p[0] != "v1" {
		return Flow{}, ErrBadFlow
	}
	for _, tok := range p[1:4] {
		if len(tok) < 16 || !urlSafe(tok) {
			return Flow{}, ErrBadFlow
		}
	}
	next, err := base64.RawURLEncoding.DecodeString(p[4])
	if err != nil {
		return Flow{}, ErrBadFlow
	}
	sec, err := strconv.ParseInt(p[5], 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return Flow{}, ErrBadFlow
	}
	return Flow{State: p[1], Nonce: p[2], Verifier: p[3], Next: string(next), Created: time.Unix(sec, 0)}, nil
}

func urlSafe(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
