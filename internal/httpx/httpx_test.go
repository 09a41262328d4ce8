package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandleAnswersErrors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tests := []struct {
		name   string
		err    error
		body   string
		status int
		code   string
		field  string
		logged bool
	}{
		{"field", Invalid("limit", "must be 1..1000"), "", 400, "invalid", "limit", false},
		{"wrapped", fmt.Errorf("ctx: %w", &Error{Status: 409, Code: "conflict", Message: "no"}), "", 409, "conflict", "", false},
		{"internal", errors.New("disk on fire at /secret/path"), "", 500, "internal", "", true},
		{"no status", &Error{Code: "x", Message: "y"}, "", 500, "x", "", false},
		{"decode type", nil, `{"n":"x"}`, 400, "invalid", "n", false},
		{"decode unknown", nil, `{"m":1}`, 400, "invalid", "", false},
		{"decode malformed", nil, `{`, 400, "invalid", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			h := WithRequestID(slog.New(slog.DiscardHandler), Handle(log, func(w http.ResponseWriter, r *http.Request) error {
				if tt.body != "" {
					var v struct {
						N int `json:"n"`
					}
					return DecodeJSON(r, &v)
				}
				return tt.err
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(tt.body)))
			var got struct {
				Error     Error  `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.status || got.Error.Code != tt.code || got.Error.Field != tt.field {
				t.Errorf("got %d %+v, want %d %s %s", rec.Code, got.Error, tt.status, tt.code, tt.field)
			}
			if got.RequestID == "" || got.RequestID != rec.Header().Get("X-Request-Id") {
				t.Errorf("request_id %q, header %q", got.RequestID, rec.Header().Get("X-Request-Id"))
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if strings.Contains(rec.Body.String(), "/secret/path") {
				t.Errorf("internal error detail reached the client: %s", rec.Body)
			}
			if logged := strings.Contains(logs.String(), "API request failed"); logged != tt.logged {
				t.Errorf("logged = %v, want %v: %s", logged, tt.logged, logs.String())
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-01-01T00:00:00Z", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"15m", now.Add(-15 * time.Minute), true},
		{"-15m", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v", tt.in, got, err)
		}
	}
}
