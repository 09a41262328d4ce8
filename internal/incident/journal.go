package incident

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Incidents persist in an append-only JSON Lines journal (<dir>/incidents.journal): each change
// appends the changed incident as one line, which replaces the earlier line of that id on
// replay; a drop line removes one. Every append is fsynced before the change is visible, so the
// cost of a change is the size of that incident, not of the whole store. When most lines are
// superseded the live incidents are written to a new file, fsynced and renamed over the journal.
// A torn last line (a crash mid-append) is dropped on open. A legacy incidents.json is imported
// once and removed.

const (
	journalName = "incidents.journal"
	legacyName  = "incidents.json"
)

type jrec struct {
	Incident *Incident `json:"incident,omitempty"`
	Drop     string    `json:"drop,omitempty"`
}

type journal struct {
	dir   string
	f     *os.File
	lines int
	buf   bytes.Buffer
}

// openJournal replays the journal in dir (importing a legacy incidents.json) into live.
func openJournal(dir string, live map[string]*Incident) (*journal, error) {
	path := filepath.Join(dir, journalName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open incident journal: %w", err)
	}
	lines, good, err := replay(f, live)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate torn incident journal tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek incident journal: %w", err)
	}
	j := &journal{dir: dir, f: f, lines: lines}
	legacy := filepath.Join(dir, legacyName)
	data, err := os.ReadFile(legacy)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return j, nil
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("incident store: %w", err)
	}
	var list []*Incident
	if err := json.Unmarshal(data, &list); err != nil {
		f.Close()
		return nil, fmt.Errorf("incident store: decode %s: %w", legacyName, err)
	}
	for _, i := range list {
		if i != nil && i.ID != "" {
			live[i.ID] = i
		}
	}
	if err := j.rewrite(live); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Remove(legacy); err != nil {
		return nil, fmt.Errorf("incident store: remove imported %s: %w", legacyName, err)
	}
	return j, nil
}

// replay applies every complete line to live and returns the count and the offset after the
// last good line. A bad line followed by more data is corruption, not a torn tail.
func replay(r io.Reader, live map[string]*Incident) (int, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	lines := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var rec jrec
			jerr := json.Unmarshal(line, &rec)
			if jerr == nil && (rec.Incident == nil || rec.Incident.ID == "") && rec.Drop == "" {
				jerr = errors.New("line holds neither an incident nor a drop")
			}
			if jerr != nil {
				if _, perr := br.Peek(1); perr == nil {
					return 0, 0, fmt.Errorf("incident journal line %d: %w", lines+1, jerr)
				}
				return lines, off, nil // torn last line
			}
			if rec.Drop != "" {
				delete(live, rec.Drop)
			} else {
				live[rec.Incident.ID] = rec.Incident
			}
			off += int64(len(line))
			lines++
		}
		if errors.Is(err, io.EOF) {
			return lines, off, nil // an unterminated tail is torn
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read incident journal: %w", err)
		}
	}
}

// append writes recs as lines and fsyncs. On failure the file is cut back to where it was.
func (j *journal) append(recs ...jrec) error {
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("encode incident: %w", err)
		}
	}
	off, err := j.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("incident journal: %w", err)
	}
	if _, err := j.f.Write(j.buf.Bytes()); err != nil {
		_ = j.f.Truncate(off)
		_, _ = j.f.Seek(off, io.SeekStart)
		return fmt.Errorf("append incident journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync incident journal: %w", err)
	}
	j.lines += len(recs)
	if j.buf.Cap() > 1<<20 {
		j.buf = bytes.Buffer{}
	}
	return nil
}

// rewrite replaces the journal with one line per live incident.
func (j *journal) rewrite(live map[string]*Incident) error {
	path := filepath.Join(j.dir, journalName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("compact incident journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(w)
	for _, i := range live {
		if err = enc.Encode(jrec{Incident: i}); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact incident journal: %w", err)
	}
	nf, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("reopen incident journal: %w", err)
	}
	if _, err := nf.Seek(0, io.SeekEnd); err != nil {
		nf.Close()
		return fmt.Errorf("reopen incident journal: %w", err)
	}
	if d, err := os.Open(j.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	j.f.Close()
	j.f, j.lines = nf, len(live)
	return nil
}

func (j *journal) close() error { return j.f.Close() }
