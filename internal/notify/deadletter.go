package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// DeadLetter records a notification that could not be delivered, for an operator to inspect
// and replay.
type DeadLetter struct {
	Time         time.Time     `json:"time"`
	Receiver     string        `json:"receiver"`
	Attempts     int           `json:"attempts"`
	Error        string        `json:"error"`
	Notification *Notification `json:"notification"`
}

// DeadLetterSink stores dead letters. Put must be safe for concurrent use.
type DeadLetterSink interface {
	Put(ctx context.Context, d DeadLetter) error
}

// MemoryDeadLetters keeps the most recent dead letters in memory.
type MemoryDeadLetters struct {
	mu    sync.Mutex
	max   int
	items []DeadLetter
}

var _ DeadLetterSink = (*MemoryDeadLetters)(nil)

// NewMemoryDeadLetters keeps up to max letters (1,000 when <= 0), dropping the oldest.
func NewMemoryDeadLetters(max int) *MemoryDeadLetters {
	if max <= 0 {
		max = 1000
	}
	return &MemoryDeadLetters{max: max}
}

// Put records d.
func (m *MemoryDeadLetters) Put(_ context.Context, d DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = append(m.items, d)
	if over := len(m.items) - m.max; over > 0 {
		m.items = slices.Delete(m.items, 0, over)
	}
	return nil
}

// List returns the letters held, oldest first.
func (m *MemoryDeadLetters) List() []DeadLetter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.items)
}

// FileDeadLetters appends dead letters as JSON Lines to a file, one fsync per letter (dead
// letters are rare; each must survive a crash).
type FileDeadLetters struct {
	mu     sync.Mutex
	f      *os.File
	closed bool
}

var _ DeadLetterSink = (*FileDeadLetters)(nil)

// OpenFileDeadLetters opens (creating with mode 0600) the JSONL file at path for appending.
func OpenFileDeadLetters(path string) (*FileDeadLetters, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter file: %w", err)
	}
	return &FileDeadLetters{f: f}, nil
}

// Put appends d as one line and syncs the file.
func (w *FileDeadLetters) Put(_ context.Context, d DeadLetter) error {
	line, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("dead-letter file is closed")
	}
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("write dead letter: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync dead letter: %w", err)
	}
	return nil
}

// Close closes the file. It is safe to call more than once.
func (w *FileDeadLetters) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}

// ReadDeadLetters decodes a JSONL dead-letter stream. A torn last line (a crash during a
// write) is ignored; any other bad line is an error naming its number.
func ReadDeadLetters(r io.Reader) ([]DeadLetter, error) {
	var out []DeadLetter
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var pending error
	for n := 1; sc.Scan(); n++ {
		if pending != nil {
			return nil, pending
		}
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var d DeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			pending = fmt.Errorf("dead letter line %d: %w", n, err)
			continue
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	return out, nil
}
