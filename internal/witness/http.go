package witness

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Handler serves the tlog-witness protocol: POST /add-checkpoint. Submissions need no token:
// the log's signature on the checkpoint authenticates them (403 without one), and the witness
// only ever answers with its own signature. GET /healthz answers 200.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.handleAdd)
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rw, "ok\n")
	})
	return mux
}

func (w *Witness) handleAdd(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestBytes))
	if err != nil {
		httpError(rw, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxRequestBytes))
		return
	}
	req, err := ParseRequest(body)
	if err != nil {
		httpError(rw, http.StatusBadRequest, err.Error())
		return
	}
	sig, err := w.AddCheckpoint(r.Context(), req)
	var we *Error
	switch {
	case errors.As(err, &we) && we.Status == http.StatusConflict:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(rw, strconv.FormatUint(we.Size, 10)+"\n")
	case errors.As(err, &we):
		httpError(rw, we.Status, we.Reason)
	case err != nil:
		w.log.Error("add-checkpoint failed", "err", err)
		httpError(rw, http.StatusInternalServerError, "could not record the checkpoint")
	default:
		rw.Header().Set("Content-Type", "text/x.tlog.signature")
		_, _ = rw.Write(sig)
	}
}

func httpError(rw http.ResponseWriter, status int, msg string) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = io.WriteString(rw, msg+"\n")
}
