package app

import (
	"context"
	"sync"

	"github.com/warden-ai/warden/internal/scan"
)

// scanMemo carries the PII and secret findings of the redaction pass (in the ingest path,
// before the append) to the analysis worker's scan of the same raw text, so those two scanners
// run once per text instead of twice. Only for a process that runs both the pipeline and the
// worker (role all). Bounded: past maxEntries texts the oldest are forgotten, and a text the
// worker does not find is simply scanned in full — the findings are the same either way.
type scanMemo struct {
	red *scan.Redactor
	eng *scan.Engine

	mu  sync.Mutex
	m   map[string]memoEntry
	q   []memoKey // insertion order, for eviction
	gen uint64
	max int
}

type memoEntry struct {
	known scan.Known
	gen   uint64
}

type memoKey struct {
	text string
	gen  uint64
}

func newScanMemo(red *scan.Redactor, eng *scan.Engine, maxEntries int) *scanMemo {
	return &scanMemo{red: red, eng: eng, m: map[string]memoEntry{}, max: maxEntries}
}

// Redact redacts text for store_text: redacted and remembers what it found.
func (m *scanMemo) Redact(text string) string {
	red, known := m.red.Scan(text)
	if text == "" {
		return red
	}
	m.mu.Lock()
	m.gen++
	m.m[text] = memoEntry{known: known, gen: m.gen}
	m.q = append(m.q, memoKey{text, m.gen})
	for len(m.q) > m.max {
		old := m.q[0]
		m.q[0] = memoKey{}
		m.q = m.q[1:]
		if e, ok := m.m[old.text]; ok && e.gen == old.gen {
			delete(m.m, old.text)
		}
	}
	m.mu.Unlock()
	return red
}

// Scan is the analysis worker's scan: the engine's full scan, minus the PII and secret
// scanners when the redaction pass already ran them over this very text.
func (m *scanMemo) Scan(ctx context.Context, text string, role scan.Role, sc scan.Context) ([]scan.Finding, error) {
	m.mu.Lock()
	e, ok := m.m[text]
	if ok {
		delete(m.m, text)
	}
	m.mu.Unlock()
	if ok {
		return m.eng.ScanKnown(ctx, text, role, sc, e.known)
	}
	return m.eng.Scan(ctx, text, role, sc)
}

// size is the number of texts remembered.
func (m *scanMemo) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
