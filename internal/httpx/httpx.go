// Package httpx is Warden's one error→HTTP mapping: every API handler returns errors through
// WriteError, which emits {"error":{"code","message",...},"request_id"} with a chosen status, and
// the request-id middleware that tags logs and responses.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

type ctxKey struct{}

// RequestID returns the request id stored by WithRequestID.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Index   *int   `json:"index,omitempty"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
}

// WriteError writes status with a JSON error body.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	WriteErrorBody(w, r, status, Error{Code: code, Message: msg})
}

// WriteErrorBody writes status with the given error.
func WriteErrorBody(w http.ResponseWriter, r *http.Request, status int, e Error) {
	WriteJSON(w, status, struct {
		Error     Error  `json:"error"`
		RequestID string `json:"request_id,omitempty"`
	}{e, RequestID(r.Context())})
}

// WriteJSON writes v as JSON with status. API answers may hold secrets shown once (a new
// virtual key) or sensitive records, so no cache keeps them.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WithRequestID assigns each request an id (X-Request-Id), echoes it, and logs failures at
// warn and everything at debug — method, path, status, duration; never headers or bodies.
func WithRequestID(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		sw := &statusWriter{ResponseWriter: w, status: 200}
		start := time.Now()
		h.ServeHTTP(sw, r)
		lvl := slog.LevelDebug
		if sw.status >= 500 {
			lvl = slog.LevelWarn
		}
		log.Log(r.Context(), lvl, "http request", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}
