package probe

import (
	"net/http"
	"strings"
	"testing"
)

// TestParseReply: a chat completion is the answer; Warden's own content blocks are resisted
// attacks; anything else is an error naming what came back.
func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		text    string
		blocked string
		wantErr string
		in, out int64
	}{
		{"completion", 200, `{"choices":[{"message":{"content":"hello"}}],"usage":{"prompt_tokens":7,"completion_tokens":2}}`, "hello", "", "", 7, 2},
		{"input blocked by Warden", 403, `{"error":{"message":"Request blocked","type":"warden_policy","code":"content_blocked"}}`, "", "content_blocked", "", 0, 0},
		{"output withheld by Warden", 403, `{"error":{"message":"Response blocked","type":"warden_policy","code":"output_blocked"}}`, "", "output_blocked", "", 0, 0},
		{"paused model", 503, `{"error":{"message":"paused","type":"warden_policy","code":"model_paused"}}`, "", "", "gateway answered 503 model_paused", 0, 0},
		{"upstream error", 502, `{"error":{"message":"bad gateway","type":"upstream_error","code":"upstream_unavailable"}}`, "", "", "502 upstream_unavailable", 0, 0},
		{"status only", 500, `oops`, "", "", "gateway answered 500", 0, 0},
		{"not JSON", 200, "\x00\x1f<html>proxy</html>", "", "", "not a chat completion", 0, 0},
		{"no choices", 200, `{"choices":[]}`, "", "", "no choices[0].message.content", 0, 0},
		{"null content", 200, `{"choices":[{"message":{"content":null}}]}`, "", "", "no choices[0].message.content", 0, 0},
		{"binary", 200, "\xff\xfe\xfd", "", "", "bytes of binary data", 0, 0},
		{"negative usage ignored", 200, `{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-5,"completion_tokens":1}}`, "x", "", "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseReply(tc.status, []byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || r.Text != tc.text || r.Blocked != tc.blocked || r.InputTokens != tc.in || r.OutputTokens != tc.out {
				t.Fatalf("reply %+v, %v", r, err)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add(200, []byte(`{"choices":[{"message":{"content":"hi"}}]}`))
	f.Add(403, []byte(`{"error":{"type":"warden_policy","code":"content_blocked"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := parseReply(status, body)
		if err == nil && r.Blocked == "" && status != http.StatusOK {
			t.Fatalf("status %d accepted as an answer", status)
		}
		if err != nil && (r.Text != "" || r.Blocked != "") {
			t.Fatalf("an error with a reply: %+v", r)
		}
	})
}
