package notify_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/notify"
)

func TestPostClassifiesAnswers(t *testing.T) {
	tests := []struct {
		status     int
		header     map[string]string
		wantErr    bool
		permanent  bool
		retryAfter time.Duration
	}{
		{status: 200},
		{status: 202},
		{status: 204},
		{status: 302, header: map[string]string{"Location": "http://elsewhere.example/steal"}, wantErr: true, permanent: true},
		{status: 400, wantErr: true, permanent: true},
		{status: 401, wantErr: true, permanent: true},
		{status: 404, wantErr: true, permanent: true},
		{status: 408, wantErr: true},
		{status: 429, header: map[string]string{"Retry-After": "7"}, wantErr: true, retryAfter: 7 * time.Second},
		{status: 500, wantErr: true},
		{status: 503, header: map[string]string{"Retry-After": "garbage"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			err := notify.PostJSON(context.Background(), notify.NewHTTPClient(nil, time.Second), srv.URL+"/x", nil, []byte(`{}`))
			if (err != nil) != tc.wantErr || notify.IsPermanent(err) != tc.permanent {
				t.Fatalf("err = %v (permanent %v); want error %v permanent %v", err, notify.IsPermanent(err), tc.wantErr, tc.permanent)
			}
			ra, _ := notify.RetryAfter(err)
			if ra != tc.retryAfter {
				t.Fatalf("RetryAfter = %v; want %v", ra, tc.retryAfter)
			}
			var he *notify.HTTPError
			if tc.wantErr && (!errors.As(err, &he) || he.StatusCode != tc.status) {
				t.Fatalf("err %v does not carry HTTPError %d", err, tc.status)
			}
		})
	}
}

func TestPostTransportErrorHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook/tok-abcdef123456?key=qk-987654321"
	srv.Close()
	err := notify.Post(context.Background(), notify.NewHTTPClient(nil, time.Second), url, nil, nil)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("err = %v; want a retryable error", err)
	}
	if strings.Contains(err.Error(), "tok-abcdef123456") || strings.Contains(err.Error(), "qk-987654321") {
		t.Fatalf("error leaks the URL: %v", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error lost its cause: %v", err)
	}
}

func TestRedactErrorKeepsClassification(t *testing.T) {
	base := &notify.HTTPError{StatusCode: 429, After: 3 * time.Second, Body: "token=sekrit-123"}
	err := notify.RedactError(base, "sekrit-123")
	if strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "<secret>") {
		t.Fatalf("text = %q", err)
	}
	if ra, ok := notify.RetryAfter(err); !ok || ra != 3*time.Second {
		t.Fatalf("RetryAfter lost: %v %v", ra, ok)
	}
	perm := notify.RedactError(notify.Permanent(errors.New("rejected sekrit-123")), "sekrit-123")
	if !notify.IsPermanent(perm) || strings.Contains(perm.Error(), "sekrit") {
		t.Fatalf("permanent redacted = %v", perm)
	}
	ctxErr := notify.RedactError(errors.Join(errors.New("sekrit-123"), context.DeadlineExceeded), "sekrit-123")
	if !errors.Is(ctxErr, context.DeadlineExceeded) {
		t.Fatalf("context cause lost: %v", ctxErr)
	}
	if notify.RedactError(nil, "x") != nil {
		t.Fatal("RedactError(nil) != nil")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/X": "https://hooks.slack.com/…",
		"http://user:pass@127.0.0.1:9093":        "http://127.0.0.1:9093",
		"https://h.example/?token=x":             "https://h.example/…",
		"https://h.example/":                     "https://h.example",
		"::not a url":                            "<invalid URL>",
	} {
		if got := notify.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"120":                           2 * time.Minute,
		" 3 ":                           3 * time.Second,
		"99999999999":                   24 * time.Hour,
		"Thu, 01 Jan 2026 12:00:30 GMT": 30 * time.Second,
		"Thu, 01 Jan 2026 11:00:00 GMT": 0,
		"soon":                          0,
	} {
		if got := notify.ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v; want %v", in, got, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "120", "-1", "Thu, 01 Jan 2026 12:00:30 GMT", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := notify.ParseRetryAfter(s, now); d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v", s, d)
		}
	})
}

func FuzzReadDeadLetters(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","receiver":"r","attempts":3,"error":"e","notification":{"kind":"firing","alerts":[{"id":"a"}]}}` + "\n"))
	f.Add([]byte("{}\n{}\n{\"rec"))
	f.Add([]byte("\n\n"))
	f.Add([]byte("not json\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		letters, err := notify.ReadDeadLetters(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(letters) > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d letters from %d lines", len(letters), bytes.Count(data, []byte("\n"))+1)
		}
	})
}
