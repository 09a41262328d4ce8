package incident

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/warden-ai/warden/internal/atomicfile"
)

// CaseFile is everything an investigator or regulator needs about one incident, compiled
// automatically when the incident opens and whenever new triggering events arrive.
type CaseFile struct {
	Incident    Incident  `json:"incident"`
	GeneratedAt time.Time `json:"generated_at"`
	// EventIDs are the triggering events; their inclusion proofs are in the evidence package.
	EventIDs []string `json:"event_ids"`
	// Window is the ±24h period around detection used for actor activity and containment.
	Window struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	} `json:"window"`
	ActorActivity map[string][]json.RawMessage `json:"actor_activity"`
	Containment   []json.RawMessage            `json:"containment"`
	// Missing names the parts that could not be compiled and why (never silently empty).
	Missing []string `json:"missing,omitempty"`
}

// ActivityWindow is how far before and after detection the actor's activity is collected.
const ActivityWindow = 24 * time.Hour

// CompileCaseFile builds the case file now (and stores it when the Manager has a Dir).
func (m *Manager) CompileCaseFile(ctx context.Context, id string) (*CaseFile, error) {
	inc, err := m.Get(id)
	if err != nil {
		return nil, err
	}
	cf := &CaseFile{Incident: inc, GeneratedAt: time.Now(), EventIDs: slices.Clone(inc.EventIDs), ActorActivity: map[string][]json.RawMessage{}}
	if cf.EventIDs == nil {
		cf.EventIDs = []string{}
	}
	at := inc.DetectedAt
	if at.IsZero() {
		at = inc.OpenedAt
	}
	cf.Window.From, cf.Window.To = at.Add(-ActivityWindow), at.Add(ActivityWindow)
	switch {
	case len(inc.Actors) == 0:
	case m.opt.Search == nil:
		cf.Missing = append(cf.Missing, "actor activity: no search function configured")
	default:
		for _, actor := range inc.Actors {
			evs, err := m.opt.Search(ctx, actor, cf.Window.From, cf.Window.To)
			if err != nil {
				cf.Missing = append(cf.Missing, fmt.Sprintf("actor activity of %q: search failed", actor))
				m.log.Warn("case file search", "incident", id, "err", err)
				continue
			}
			if evs == nil {
				evs = []json.RawMessage{}
			}
			cf.ActorActivity[actor] = evs
		}
	}
	if m.opt.Containment == nil {
		cf.Missing = append(cf.Missing, "containment log: no containment function configured")
	} else if log, err := m.opt.Containment(ctx, inc.Model, inc.Actors, cf.Window.From, cf.Window.To); err != nil {
		cf.Missing = append(cf.Missing, "containment log: query failed")
		m.log.Warn("case file containment", "incident", id, "err", err)
	} else {
		cf.Containment = log
	}
	if cf.Containment == nil {
		cf.Containment = []json.RawMessage{}
	}
	if m.opt.Dir != "" {
		data, err := json.MarshalIndent(cf, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode case file: %w", err)
		}
		if err := atomicfile.Write(m.caseFilePath(id), data); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	if i, ok := m.inc[id]; ok {
		i.CaseFileAt = &cf.GeneratedAt
		delete(m.pending, id)
		if err := m.saveLocked(i); err != nil {
			m.log.Error("save incidents", "err", err)
		}
	}
	m.mu.Unlock()
	return cf, nil
}

func (m *Manager) caseFilePath(id string) string {
	return filepath.Join(m.opt.Dir, "casefiles", id+".json")
}

// CaseFile returns the stored case file, compiling it if there is none yet.
func (m *Manager) CaseFile(ctx context.Context, id string) (*CaseFile, error) {
	if _, err := m.Get(id); err != nil {
		return nil, err
	}
	if m.opt.Dir != "" {
		m.mu.Lock()
		stale := m.pending[id]
		m.mu.Unlock()
		data, err := os.ReadFile(m.caseFilePath(id))
		if err == nil && !stale {
			var cf CaseFile
			if err := json.Unmarshal(data, &cf); err != nil {
				return nil, fmt.Errorf("decode case file %s: %w", id, err)
			}
			return &cf, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read case file %s: %w", id, err)
		}
	}
	return m.CompileCaseFile(ctx, id)
}

// RecompileAfter is the minimum time between two automatic compilations of one case file, so
// a burst of new triggering events costs one compilation, not one per event.
const RecompileAfter = 30 * time.Second

func (m *Manager) compilePending(ctx context.Context) {
	now := time.Now()
	m.mu.Lock()
	ids := make([]string, 0, len(m.pending))
	for id := range m.pending {
		if at := m.inc[id].CaseFileAt; at == nil || !now.Before(at.Add(RecompileAfter)) {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if _, err := m.CompileCaseFile(ctx, id); err != nil {
			m.log.Error("compile case file", "incident", id, "err", err)
		}
	}
}

// nextCompile is when the earliest debounced case file may be recompiled (zero: none pending).
func (m *Manager) nextCompile() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for id := range m.pending {
		t := time.Now()
		if at := m.inc[id].CaseFileAt; at != nil {
			t = at.Add(RecompileAfter)
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// Manifest lists the members of an exported case file with their SHA-256, so the bundle can be
// checked offline; evidence.pkg verifies on its own (`warden evidence verify`).
type Manifest struct {
	Format     string            `json:"format"`
	IncidentID string            `json:"incident_id"`
	ExportedAt time.Time         `json:"exported_at"`
	Files      map[string]string `json:"sha256"`
}

// ManifestFormat identifies the export layout.
const ManifestFormat = "warden-case-file/1"

// Export writes a tar archive: case.json (the freshly compiled case file), evidence.pkg (the
// signed evidence package of the triggering events with their inclusion proofs), for serious
// incidents art73-report.json and art73-report.html, and manifest.json last.
func (m *Manager) Export(ctx context.Context, id string, w io.Writer) error {
	if m.opt.ExportEvidence == nil {
		return errors.New("export case file: no evidence exporter configured")
	}
	cf, err := m.CompileCaseFile(ctx, id)
	if err != nil {
		return fmt.Errorf("export case file: %w", err)
	}
	var ev bytes.Buffer
	if err := m.opt.ExportEvidence(ctx, &ev, cf.EventIDs); err != nil {
		return fmt.Errorf("export case file: evidence package: %w", err)
	}
	caseJSON, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return fmt.Errorf("export case file: %w", err)
	}
	members := []struct {
		name string
		data []byte
	}{{"case.json", caseJSON}, {"evidence.pkg", ev.Bytes()}}
	if cf.Incident.Serious != nil {
		r := BuildArt73Report(cf, m.opt.Provider, cf.GeneratedAt)
		rj, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("export case file: %w", err)
		}
		var rh bytes.Buffer
		if err := r.WriteHTML(&rh); err != nil {
			return fmt.Errorf("export case file: %w", err)
		}
		members = append(members, struct {
			name string
			data []byte
		}{"art73-report.json", rj}, struct {
			name string
			data []byte
		}{"art73-report.html", rh.Bytes()})
	}
	man := Manifest{Format: ManifestFormat, IncidentID: id, ExportedAt: cf.GeneratedAt, Files: map[string]string{}}
	tw := tar.NewWriter(w)
	for _, mem := range members {
		sum := sha256.Sum256(mem.data)
		man.Files[mem.name] = hex.EncodeToString(sum[:])
		if err := writeTar(tw, mem.name, mem.data, cf.GeneratedAt); err != nil {
			return fmt.Errorf("export case file: %w", err)
		}
	}
	mj, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("export case file: %w", err)
	}
	if err := writeTar(tw, "manifest.json", mj, cf.GeneratedAt); err != nil {
		return fmt.Errorf("export case file: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("export case file: %w", err)
	}
	m.audit(ctx, "incident.export", map[string]any{"incident_id": id, "events": len(cf.EventIDs)})
	return nil
}

func writeTar(tw *tar.Writer, name string, data []byte, t time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: t, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// VerifyExport reads an exported case file and checks every member against the manifest; it
// returns the members by name. (The evidence package inside is verified by the audit package.)
func VerifyExport(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read case file archive: %w", err)
		}
		if h.Size > 1<<30 {
			return nil, fmt.Errorf("case file member %s too large", h.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		if _, dup := files[h.Name]; dup {
			return nil, fmt.Errorf("case file member %s appears twice", h.Name)
		}
		files[h.Name] = data
	}
	var man Manifest
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil || man.Format != ManifestFormat {
		return nil, errors.New("case file archive: missing or invalid manifest.json")
	}
	for name, want := range man.Files {
		data, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("case file archive: %s listed in the manifest is missing", name)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != want {
			return nil, fmt.Errorf("case file archive: %s does not match its manifest hash", name)
		}
	}
	for name := range files {
		if _, ok := man.Files[name]; !ok && name != "manifest.json" {
			return nil, fmt.Errorf("case file archive: %s is not in the manifest", name)
		}
	}
	return files, nil
}

// RefreshCaseFiles recompiles the stored case files of the incidents involving actor (every
// stored case file when actor is ""), so that text the index no longer holds — deleted by
// retention or a data subject's erasure — is gone from the case files too: their actor
// activity is read from the index again. The old file is replaced atomically. It returns how
// many case files it rewrote.
func (m *Manager) RefreshCaseFiles(ctx context.Context, actor string) (int, error) {
	if m.opt.Dir == "" {
		return 0, nil
	}
	m.mu.Lock()
	var ids []string
	for id, inc := range m.inc {
		if inc.CaseFileAt != nil && (actor == "" || slices.Contains(inc.Actors, actor)) {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	slices.Sort(ids)
	n := 0
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if _, err := os.Stat(m.caseFilePath(id)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if _, err := m.CompileCaseFile(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("refresh case file %s: %w", id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
