package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/httpx"
	"github.com/warden-ai/warden/internal/store"
)

// textEraser is what data-subject erasure needs from the index store.
type textEraser interface {
	EraseText(ctx context.Context, actor string) ([]uint64, error)
}

// SubjectErasure reports what an erasure removed.
type SubjectErasure struct {
	Subject string `json:"subject"`
	Texts   int    `json:"texts_erased"`
	Blobs   int    `json:"log_blobs_erased"`
	// CaseFiles counts the incident case files compiled again without the erased text.
	CaseFiles int `json:"case_files_rewritten"`
}

// maxSubjectExport bounds a subject export (newest first).
const maxSubjectExport = 100_000

// buildSubjects adds the data-subject admin API: access (export) and erasure.
func (a *App) buildSubjects() {
	a.routes = append(a.routes,
		route{"GET /v1/subjects/{user}", a.admin(http.HandlerFunc(a.handleSubjectExport))},
		route{"POST /v1/subjects/{user}/erase", a.admin(http.HandlerFunc(a.handleSubjectErase))},
	)
}

// EraseSubject removes the stored text of every event of user from every place Warden keeps
// it on disk — the index store (scrubbed from its files) and the audit log's side blobs (erased
// in place) — and records the erasure, by a hash of the subject, in the audit log. The log's
// leaves and tree are untouched, so it still verifies.
func (a *App) EraseSubject(ctx context.Context, user, by string) (SubjectErasure, error) {
	out := SubjectErasure{Subject: user}
	e, ok := a.store.(textEraser)
	if !ok {
		return out, fmt.Errorf("index store %T cannot erase text", a.store)
	}
	// Events accepted before the request must be indexed first, or their text would be
	// indexed after the erasure.
	target := a.audit.Size()
	for a.indexer.Position() < target {
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("waiting for the index to reach the log (%d of %d): %w", a.indexer.Position(), target, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	seqs, err := e.EraseText(ctx, user)
	if err != nil {
		return out, err
	}
	out.Texts = len(seqs)
	if out.Blobs, err = a.audit.EraseBlobs(seqs); err != nil {
		return out, err
	}
	// Case files copied the actor's activity (with its text) from the index: compile them again
	// from the erased index. Alerts, detections, notifications, dead letters and the rules
	// snapshot never hold text (rules cannot copy it out of an event).
	if out.CaseFiles, err = a.incidents.RefreshCaseFiles(ctx, user); err != nil {
		return out, err
	}
	sum := sha256.Sum256([]byte(user))
	a.auditAction(ctx, "erase_subject", map[string]any{
		"subject_sha256": hex.EncodeToString(sum[:]), "texts": out.Texts, "blobs": out.Blobs, "case_files": out.CaseFiles, "by": by,
	})
	a.log.Info("data subject erased", "texts", out.Texts, "blobs", out.Blobs, "case_files", out.CaseFiles)
	return out, nil
}

// ExportSubject returns what the index holds about user: their events, newest first, with
// the text the policy kept, at most maxSubjectExport of them.
func (a *App) ExportSubject(ctx context.Context, user string) ([]*event.Event, bool, error) {
	var out []*event.Event
	q := store.Query{User: user, Limit: 1000}
	for {
		page, err := a.store.Search(ctx, q)
		if err != nil {
			return out, false, err
		}
		out = append(out, page.Events...)
		if len(out) >= maxSubjectExport {
			return out[:maxSubjectExport], true, nil
		}
		if page.NextCursor == "" {
			return out, false, nil
		}
		q.Cursor = page.NextCursor
	}
}

func (a *App) handleSubjectErase(w http.ResponseWriter, r *http.Request) {
	user, ok := subjectParam(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	res, err := a.EraseSubject(ctx, user, "admin")
	if err != nil {
		a.log.Error("data subject erasure failed", "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusServiceUnavailable
		}
		httpx.WriteError(w, r, status, "erase_failed", "erasure incomplete; retry: "+err.Error())
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (a *App) handleSubjectExport(w http.ResponseWriter, r *http.Request) {
	user, ok := subjectParam(w, r)
	if !ok {
		return
	}
	evs, truncated, err := a.ExportSubject(r.Context(), user)
	if err != nil {
		a.log.Error("data subject export failed", "err", err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "internal", "could not read the index")
		return
	}
	if evs == nil {
		evs = []*event.Event{}
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Subject   string         `json:"subject"`
		Events    []*event.Event `json:"events"`
		Truncated bool           `json:"truncated,omitempty"`
		Note      string         `json:"note"`
	}{Subject: user, Events: evs, Truncated: truncated,
		Note: "text as stored under each model's store_text policy; the audit log keeps only hashes of the raw text"})
}

func subjectParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	for k := range r.URL.Query() {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "unknown_parameter", Field: k, Message: "unknown query parameter " + k})
		return "", false
	}
	user := r.PathValue("user")
	if user == "" || len(user) > 256 {
		httpx.WriteErrorBody(w, r, http.StatusBadRequest, httpx.Error{Code: "invalid", Field: "user", Message: "user must be 1..256 bytes"})
		return "", false
	}
	return user, true
}
