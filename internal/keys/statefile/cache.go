package statefile

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Cache holds the decoded form of a state file shared with other processes and re-reads it when
// the file changes. [Cache.Get] checks the file's [Stamp] at most once per poll interval; at most
// one caller reloads at a time while the others go on with the value already loaded. A file that
// cannot be read or decoded leaves the previous value in place (and is logged).
type Cache[T any] struct {
	path   string
	poll   time.Duration
	decode func([]byte) (*T, error)
	log    *slog.Logger
	cur    atomic.Pointer[cached[T]]
	next   atomic.Int64 // unix nanos of the next stamp check
	reload sync.Mutex
}

type cached[T any] struct {
	stamp Stamp
	val   *T
}

// NewCache reads and decodes path once; an error here is returned, later ones are logged.
func NewCache[T any](path string, poll time.Duration, log *slog.Logger, decode func([]byte) (*T, error)) (*Cache[T], error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache[T]{path: path, poll: poll, decode: decode, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cache[T]) load() error {
	data, st, err := Read(c.path)
	if err != nil {
		return err
	}
	v, err := c.decode(data)
	if err != nil {
		return fmt.Errorf("decode %s: %w", filepath.Base(c.path), err)
	}
	c.cur.Store(&cached[T]{stamp: st, val: v})
	c.next.Store(time.Now().Add(c.poll).UnixNano())
	return nil
}

// Loaded returns the value as last loaded, without looking at the file.
func (c *Cache[T]) Loaded() *T { return c.cur.Load().val }

// Get returns the current value, first reloading it when the poll interval has passed and the
// file changed. Callers that find another reload in progress get the loaded value at once.
func (c *Cache[T]) Get() *T {
	if time.Now().UnixNano() < c.next.Load() || !c.reload.TryLock() {
		return c.Loaded()
	}
	defer c.reload.Unlock()
	c.next.Store(time.Now().Add(c.poll).UnixNano())
	c.reloadIfChanged()
	return c.Loaded()
}

// Changed reloads at once, ignoring the poll interval, if the file changed since the last load:
// one stat call. Concurrent callers do not queue.
func (c *Cache[T]) Changed() *T {
	if c.reload.TryLock() {
		defer c.reload.Unlock()
		c.reloadIfChanged()
	}
	return c.Loaded()
}

// Fresh waits for any reload in progress and re-reads the file unconditionally: for a caller
// that has just written it, or that must see every other process's writes.
func (c *Cache[T]) Fresh() *T {
	c.reload.Lock()
	defer c.reload.Unlock()
	if err := c.load(); err != nil {
		c.log.Error("cannot reload state file; keeping the previous state", "file", filepath.Base(c.path), "err", err)
	}
	return c.Loaded()
}

func (c *Cache[T]) reloadIfChanged() {
	st, err := Stat(c.path)
	if err != nil {
		c.log.Warn("cannot check state file", "file", filepath.Base(c.path), "err", err)
		return
	}
	if c.cur.Load().stamp == st {
		return
	}
	if err := c.load(); err != nil {
		c.log.Error("cannot reload state file; keeping the previous state", "file", filepath.Base(c.path), "err", err)
	}
}
