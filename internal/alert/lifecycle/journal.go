package lifecycle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/warden-ai/warden/internal/alert"
)

// The Manager keeps its state in an append-only JSON Lines journal (<dir>/alerts.journal): each
// line replaces the record with the same kind and id, so replaying the file rebuilds the state.
// Every batch of lines is fsynced before the caller sees success. When the journal holds many
// superseded lines it is compacted: the live state is written to a temporary file, fsynced and
// renamed over the journal. A torn last line (a crash mid-append) is dropped on open.

const journalName = "alerts.journal"

type recordKind string

const (
	recAlert   recordKind = "alert"
	recGroup   recordKind = "group"
	recSilence recordKind = "silence"
	recDrop    recordKind = "drop_alert"
	recDropGrp recordKind = "drop_group"
)

type record struct {
	Kind    recordKind `json:"k"`
	ID      string     `json:"id,omitempty"`
	Alert   *entry     `json:"alert,omitempty"`
	Group   *group     `json:"group,omitempty"`
	Silence *Silence   `json:"silence,omitempty"`
}

// entry is an alert plus the Manager's bookkeeping for it.
type entry struct {
	A alert.Alert `json:"a"`
	// NextLevel is the index of the next escalation level to notify.
	NextLevel int `json:"next_level"`
	// EscalateAt is the absolute due time of NextLevel; zero when nothing is pending.
	EscalateAt time.Time `json:"escalate_at,omitzero"`
	// Reached lists the receivers notified about this alert so far (for ack/resolve fan-out).
	Reached []string `json:"reached,omitempty"`
}

// group is one notification group.
type group struct {
	Key       string    `json:"key"`
	Created   time.Time `json:"created"`
	NextFlush time.Time `json:"next_flush,omitzero"`
	LastFlush time.Time `json:"last_flush,omitzero"`
	LastSent  time.Time `json:"last_sent,omitzero"`
	// Sent is the set of firing alert ids in the last firing notification.
	Sent []string `json:"sent,omitempty"`
	// TopRank is the most urgent severity rank notified so far (0 = none).
	TopRank int `json:"top_rank,omitempty"`
}

type journal struct {
	dir   string
	f     *os.File
	lines int
}

type snapshot struct {
	alerts   map[string]*entry
	groups   map[string]*group
	silences map[string]*Silence
}

func openJournal(dir string) (*journal, *snapshot, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, journalName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open journal: %w", err)
	}
	snap, lines, good, err := replay(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("truncate torn journal tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("seek journal: %w", err)
	}
	return &journal{dir: dir, f: f, lines: lines}, snap, nil
}

// replay reads every complete record; it returns the offset after the last good line. A bad
// line followed by more data is corruption, not a torn tail, and is an error.
func replay(r io.Reader) (*snapshot, int, int64, error) {
	snap := &snapshot{alerts: map[string]*entry{}, groups: map[string]*group{}, silences: map[string]*Silence{}}
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	lines := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var rec record
			if jerr := json.Unmarshal(bytes.TrimSpace(line), &rec); jerr != nil {
				if _, perr := br.Peek(1); perr == nil {
					return nil, 0, 0, fmt.Errorf("journal line %d: %w", lines+1, jerr)
				}
				return snap, lines, off, nil // torn last line
			}
			if aerr := snap.apply(&rec); aerr != nil {
				return nil, 0, 0, fmt.Errorf("journal line %d: %w", lines+1, aerr)
			}
			off += int64(len(line))
			lines++
		}
		if errors.Is(err, io.EOF) {
			return snap, lines, off, nil // an unterminated tail is torn
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("read journal: %w", err)
		}
	}
}

func (s *snapshot) apply(r *record) error {
	switch r.Kind {
	case recAlert:
		if r.Alert == nil || r.Alert.A.ID == "" {
			return errors.New("alert record without alert")
		}
		s.alerts[r.Alert.A.ID] = r.Alert
	case recGroup:
		if r.Group == nil || r.Group.Key == "" {
			return errors.New("group record without group")
		}
		s.groups[r.Group.Key] = r.Group
	case recSilence:
		if r.Silence == nil || r.Silence.ID == "" {
			return errors.New("silence record without silence")
		}
		if err := r.Silence.Matchers.compile(); err != nil {
			return err
		}
		s.silences[r.Silence.ID] = r.Silence
	case recDrop:
		delete(s.alerts, r.ID)
	case recDropGrp:
		delete(s.groups, r.ID)
	default:
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	return nil
}

func encodeRecords(recs []record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return nil, fmt.Errorf("encode %s record: %w", recs[i].Kind, err)
		}
	}
	return buf.Bytes(), nil
}

func (j *journal) append(recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	b, err := encodeRecords(recs)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("append journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	j.lines += len(recs)
	return nil
}

// rewrite replaces the journal with recs atomically.
func (j *journal) rewrite(recs []record) error {
	b, err := encodeRecords(recs)
	if err != nil {
		return err
	}
	path := filepath.Join(j.dir, journalName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("compact journal: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("compact journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("compact journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("compact journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compact journal: %w", err)
	}
	if d, err := os.Open(j.dir); err == nil {
		_ = d.Sync() // best effort: make the rename durable
		d.Close()
	}
	nf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("reopen journal: %w", err)
	}
	j.f.Close()
	j.f = nf
	j.lines = len(recs)
	return nil
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
