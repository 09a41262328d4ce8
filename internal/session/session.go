// Package session keeps the console's login sessions, by the SHA-256 of the cookie that carries
// them (the cookie value itself is never stored): in memory for one process, or in PostgreSQL so
// that every API node of the distributed mode sees the sessions the others started — a person
// logged in through one node stays logged in behind a load balancer, and logging out or being
// disabled ends the session on every node.
//
// The stores only keep records; the console decides expiry (idle and absolute limits) and when
// to refresh the last-seen time.
package session

import (
	"context"
	"sync"
	"time"
)

// Key is the SHA-256 of a session cookie's value.
type Key = [32]byte

// Session is one logged-in person.
type Session struct {
	User    string
	Role    string
	SSO     bool   // logged in through the identity provider
	CSRF    string // the session's form token
	Created time.Time
	Seen    time.Time
}

// Memory keeps sessions in this process.
type Memory struct {
	mu sync.Mutex
	m  map[Key]Session
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[Key]Session{}} }

// Put stores s under k.
func (m *Memory) Put(_ context.Context, k Key, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[k] = s
	return nil
}

// Get returns the session under k.
func (m *Memory) Get(_ context.Context, k Key) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[k]
	return s, ok, nil
}

// Touch sets the last-seen time of the session under k.
func (m *Memory) Touch(_ context.Context, k Key, seen time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.m[k]; ok {
		s.Seen = seen
		m.m[k] = s
	}
	return nil
}

// Delete removes the session under k.
func (m *Memory) Delete(_ context.Context, k Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, k)
	return nil
}

// DeleteExpired removes sessions last seen before idleBefore or created before createdBefore.
func (m *Memory) DeleteExpired(_ context.Context, idleBefore, createdBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.m {
		if s.Seen.Before(idleBefore) || s.Created.Before(createdBefore) {
			delete(m.m, k)
		}
	}
	return nil
}
