package notify

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Secret is a credential taken from the environment. It prints as "<secret>" in every format,
// so it can sit in configs and option structs that might be logged.
type Secret string

// String returns "<secret>", or "" when s is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// GoString returns the same as String, so %#v does not leak.
func (s Secret) GoString() string { return s.String() }

// MarshalText returns the redacted form, so JSON, YAML and slog never see the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret value, for use in the request that needs it.
func (s Secret) Reveal() string { return string(s) }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a rejected payload, a bad credential).
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfter returns the delay that err asks for before the next attempt, if any error in its
// chain has a RetryAfter() time.Duration method returning a positive value.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// HTTPError is a non-2xx answer from a receiver. Its text carries the status and a short,
// redacted excerpt of the response body, never the request URL.
type HTTPError struct {
	StatusCode int
	// Body is at most 256 bytes of the response body with known secrets replaced.
	Body string
	// After is the parsed Retry-After header, if any.
	After time.Duration
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("receiver answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + strconv.Quote(e.Body)
	}
	return msg
}

// RetryAfter returns the delay the receiver asked for.
func (e *HTTPError) RetryAfter() time.Duration { return e.After }

// Retryable reports whether the status is worth retrying: 408, 425, 429 and 5xx.
func (e *HTTPError) Retryable() bool {
	switch {
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooEarly,
		e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
		return true
	}
	return false
}

// ParseRetryAfter parses a Retry-After header value (delay seconds or an HTTP date) relative
// to now, capped at 24 hours. It returns 0 for an empty, invalid or past value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// Redact replaces every non-empty secret in s with "<secret>".
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<secret>")
		}
	}
	return s
}

// redactedError hides secrets in an error's text and keeps its classification.
type redactedError struct {
	msg        string
	permanent  bool
	retryAfter time.Duration
	cause      error // only sentinel-like causes that cannot carry secrets
}

func (e *redactedError) Error() string             { return e.msg }
func (e *redactedError) RetryAfter() time.Duration { return e.retryAfter }
func (e *redactedError) Unwrap() error             { return e.cause }

// RedactError returns an error whose text has every secret replaced by "<secret>". It keeps
// whether err is permanent, its Retry-After, and context cancellation (errors.Is with
// context.Canceled and context.DeadlineExceeded keeps working), but not the rest of the
// chain, whose text might hold the secret. RedactError(nil) is nil.
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	r := &redactedError{msg: Redact(err.Error(), secrets...)}
	if r.msg == err.Error() {
		return err
	}
	ra, _ := RetryAfter(err)
	r.retryAfter = ra
	r.cause = contextCause(err)
	if IsPermanent(err) {
		return &permanentError{err: r}
	}
	return r
}
