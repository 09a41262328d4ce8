// Package httpx is Warden's one HTTP answer path: every API handler answers through WriteJSON
// and WriteError (or returns an error to Handle), which emit JSON with Cache-Control: no-store and
// errors as {"error":{"code","message",...},"request_id"}; Route lists a package's endpoints so
// the App mounts each behind authentication; WithRequestID tags logs and responses.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Route is one endpoint: a ServeMux pattern ("GET /v1/alerts/{id}") and its handler. Packages
// list their routes; the App mounts each one behind authentication.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Mux serves routes on a new ServeMux (tests and single-package servers).
func Mux(routes ...Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Pattern, r.Handler)
	}
	return mux
}

type ctxKey struct{}

// RequestID returns the request id stored by WithRequestID.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

// Error is the body of every error response. As an error (returned to Handle) it is answered
// with Status; the API client returns the server's answer as *Error too.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Index   *int   `json:"index,omitempty"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalid is a 400 naming the offending field.
func Invalid(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid", Field: field, Message: msg}
}

// Handle adapts a handler that returns an error: an *Error (anywhere in the chain) is answered
// as it says; anything else is logged with the request id and answered 500 "internal error",
// since only messages chosen for clients are shown.
func Handle(log *slog.Logger, f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			if log != nil {
				log.Error("API request failed", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
			}
			e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
		}
		status := e.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		WriteErrorBody(w, r, status, *e)
	})
}

// DecodeJSON strictly decodes a JSON body of at most 1 MiB into v; an empty body leaves v as
// is. Errors are *Error (400) naming the field where the type is wrong.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return Invalid(ute.Field, "wrong type")
		}
		return Invalid("", "malformed JSON body")
	}
	return nil
}

// ParseTime accepts RFC 3339 or a duration meaning "that long ago".
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a positive duration", s)
	}
	return now.Add(-d), nil
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

// WithRequestID assigns each request an id (X-Request-Id), echoes it, marks every answer
// Cache-Control: no-store, and logs failures at
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
		// Every answer of the API, JSON or not (checkpoints, exports, metrics), may be sensitive.
		w.Header().Set("Cache-Control", "no-store")
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
