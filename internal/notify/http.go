package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// NewHTTPClient returns the HTTP client notifiers use by default: it does not follow
// redirects (a signed payload or token must not travel to another host) and bounds each
// request by timeout (10 s when timeout <= 0). Pass transport nil for http.DefaultTransport's
// settings.
func NewHTTPClient(transport http.RoundTripper, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Post sends body to target with the given headers and turns every failure into an error that
// names neither the URL nor any of secrets: transport errors lose their URL, and non-2xx
// answers become an [*HTTPError] (marked [Permanent] unless retryable) with a redacted body
// excerpt. A 3xx answer is an error, since redirects are not followed.
func Post(ctx context.Context, client *http.Client, target string, header http.Header, body []byte, secrets ...string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		// url.Parse errors quote the URL; report only the kind of problem.
		return Permanent(fmt.Errorf("build request for %s: invalid URL", RedactURL(target)))
	}
	if req.URL.User != nil {
		// Send credentials from the URL explicitly so their encoded form can be redacted too.
		pass, _ := req.URL.User.Password()
		req.SetBasicAuth(req.URL.User.Username(), pass)
		req.URL.User = nil
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if auth := req.Header.Get("Authorization"); auth != "" {
		_, cred, _ := strings.Cut(auth, " ")
		secrets = append(secrets[:len(secrets):len(secrets)], auth, cred)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "Warden-Notifier/"+PayloadVersion)
	resp, err := client.Do(req)
	if err != nil {
		return RedactError(fmt.Errorf("post to %s: %w", RedactURL(target), transportCause(err)), secrets...)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	he := &HTTPError{
		StatusCode: resp.StatusCode,
		Body:       Redact(validUTF8(excerpt), append(secrets, target)...),
		After:      ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	err = fmt.Errorf("post to %s: %w", RedactURL(target), he)
	if !he.Retryable() {
		return Permanent(err)
	}
	return err
}

// PostJSON is [Post] with Content-Type application/json.
func PostJSON(ctx context.Context, client *http.Client, target string, header http.Header, body []byte, secrets ...string) error {
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	return Post(ctx, client, target, h, body, secrets...)
}

// RedactURL returns scheme://host of a URL, which is what may appear in errors and logs: the
// path, query and user info of webhook URLs often carry tokens.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid URL>"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/…"
	}
	return s
}

// transportCause drops the *url.Error layer, whose text quotes the full request URL.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() && !errors.Is(ue.Err, context.DeadlineExceeded) {
			return fmt.Errorf("%w (timeout)", ue.Err)
		}
		return ue.Err
	}
	return err
}

func contextCause(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}
