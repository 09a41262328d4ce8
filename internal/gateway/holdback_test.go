package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/config"
	"github.com/warden-ai/warden/internal/keys"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/upstreamsim"
)

// deltaText joins the delta contents of SSE data payloads: what a client shows its user.
func deltaText(t *testing.T, payloads []string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range payloads {
		if p == "[DONE]" {
			continue
		}
		var ch struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(p), &ch); err != nil {
			t.Fatalf("payload %q: %v", p, err)
		}
		for _, c := range ch.Choices {
			b.WriteString(c.Delta.Content)
		}
	}
	return b.String()
}

// charStream is an upstream that streams text one byte per SSE event, so that a secret is
// spread over many events.
func charStream(text string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`+"\n\n")
		for i := range len(text) {
			c, _ := json.Marshal(text[i : i+1])
			fmt.Fprintf(w, `data: {"choices":[{"index":0,"delta":{"content":%s},"finish_reason":null}]}`+"\n\n", c)
			fl.Flush()
		}
		fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	})
}

// TestStreamHoldbackBlock: on a route whose policy blocks secrets in the output, no byte of the
// secret reaches the client (the stream used to be cut only after the scan caught up, with the
// access key already sent), and the event says how much was delivered.
func TestStreamHoldbackBlock(t *testing.T) {
	h := newHarness(t, true)
	k := h.key(keys.Spec{Consumer: "c"})
	ps, id := h.stream(k, chatBody("cutter", "[sim:leak-secret] creds", `,"stream":true`))
	all := strings.Join(ps, "")
	if strings.Contains(all, "AKIA") || strings.Contains(all, "wJalr") {
		t.Fatalf("secret delivered before the cut: %s", all)
	}
	if last := ps[len(ps)-2]; !strings.Contains(last, `"output_blocked"`) {
		t.Fatalf("stream not cut: %v", ps)
	}
	inf, _ := h.rec.byRequest(t, id)
	delivered, _ := inf.Attributes["warden.stream_delivered_chars"].(float64)
	if at := strings.Index(upstreamsim.SecretText, "AKIA"); int(delivered) > at {
		t.Fatalf("event says %v chars delivered, the secret starts at %d", delivered, at)
	}
	if inf.Attributes["warden.stream_holdback_bytes"] != float64(256) || inf.Response.FinishReason != "blocked" || inf.Safety.Action != "block" {
		t.Fatalf("event attrs %v response %+v", inf.Attributes, inf.Response)
	}
}

// TestStreamHoldbackRedact: on a route whose policy redacts secrets in the output, the client
// receives the streamed text with the secret replaced, even when the secret is spread over many
// events, and the rest of the text intact.
func TestStreamHoldbackRedact(t *testing.T) {
	const secret = "AKIAIOSFODNN7EXAMPLE"
	text := strings.Repeat("Here is a long preamble sentence. ", 12) + "The key is " + secret + " and that is all."
	h := newHarness(t, true)
	srv := newLocalServer(t, charStream(text))
	h.models = append(h.models, config.Model{Name: "redactor", RiskTier: "high", StoreText: "full", Upstream: config.Upstream{URL: srv + "/v1"}})
	k := h.key(keys.Spec{Consumer: "c"})
	ps, id := h.stream(k, chatBody("redactor", "key?", `,"stream":true`))
	got := deltaText(t, ps)
	if strings.Contains(got, "AKIA") || strings.Contains(got, "EXAMPLE") {
		t.Fatalf("secret delivered: %q", got)
	}
	want := strings.Replace(text, secret, "[SECRET_1]", 1)
	if got != want {
		t.Fatalf("delivered\n%q\nwant\n%q", got, want)
	}
	inf, _ := h.rec.byRequest(t, id)
	if inf.Attributes["warden.stream_redacted"] != true || inf.Safety == nil || inf.Safety.Action != "redact" || inf.Response.Status != "ok" {
		t.Fatalf("event attrs %v safety %+v", inf.Attributes, inf.Safety)
	}
	if inf.Attributes["warden.stream_delivered_chars"] != float64(len(text)) {
		t.Fatalf("delivered chars %v, want %d", inf.Attributes["warden.stream_delivered_chars"], len(text))
	}
}

// TestStreamHoldbackScope: routes whose output policy only flags are not held back (the
// latency cost is paid only where it buys something), and a negative window disables holding.
func TestStreamHoldbackScope(t *testing.T) {
	for _, tc := range []struct {
		tier string
		over map[string]string
		want bool
	}{
		{"low", nil, false},
		{"medium", nil, false},
		{"high", nil, true},
		{"critical", nil, true},
		{"low", map[string]string{"output:secret": "redact"}, true},
		{"low", map[string]string{"input:secret": "block"}, false},
		{"medium", map[string]string{"harmful": "block"}, true},
	} {
		if got := canStopOutput(scan.ModelPolicy(tc.tier, tc.over)); got != tc.want {
			t.Errorf("tier %s overrides %v: hold %v, want %v", tc.tier, tc.over, got, tc.want)
		}
	}
	h := newHarness(t, true)
	h.gw.opts.StreamHoldback = -1
	k := h.key(keys.Spec{Consumer: "c"})
	ps, id := h.stream(k, chatBody("cutter", "[sim:leak-secret] creds", `,"stream":true`))
	if !strings.Contains(strings.Join(ps, ""), "AKIA") {
		t.Fatal("without hold-back the key was expected to pass before the cut (scan-after-send)")
	}
	inf, _ := h.rec.byRequest(t, id)
	if _, ok := inf.Attributes["warden.stream_holdback_bytes"]; ok {
		t.Fatalf("hold-back recorded while disabled: %v", inf.Attributes)
	}
}

// markerScanner finds every "XQZW" as a secret.
type markerScanner struct{}

func (markerScanner) Scan(_ context.Context, text string, _ scan.Role, _ scan.Context) ([]scan.Finding, error) {
	var fs []scan.Finding
	for i := 0; ; {
		j := strings.Index(text[i:], "XQZW")
		if j < 0 {
			return fs, nil
		}
		fs = append(fs, scan.Finding{Detector: "secret.marker", Category: scan.CatSecret, Score: 1, Start: i + j, End: i + j + 4})
		i += j + 4
	}
}

// FuzzStreamHoldback streams text split at fuzzed points through a held, redacting route and
// checks that the client never receives the marker the scanner finds, however the upstream
// splits it, and that everything else arrives in order.
func FuzzStreamHoldback(f *testing.F) {
	f.Add("plain text XQZW and more text after it", []byte{3, 1, 1, 1, 7})
	f.Add(strings.Repeat("ab", 40)+"XQZWXQZW"+strings.Repeat("cd", 40), []byte{1})
	f.Add("XQZW", []byte{2})
	f.Fuzz(func(t *testing.T, text string, cuts []byte) {
		if len(text) > 4096 || len(cuts) > 512 {
			return
		}
		var sse bytes.Buffer
		var sent strings.Builder // the text as JSON-decoded by a client
		for i, k := 0, 0; i < len(text); k++ {
			n := 1
			if len(cuts) > 0 {
				n = int(cuts[k%len(cuts)])%9 + 1
			}
			part := text[i:min(len(text), i+n)]
			i += len(part)
			enc, _ := json.Marshal(part)
			var dec string
			json.Unmarshal(enc, &dec)
			sent.WriteString(dec)
			fmt.Fprintf(&sse, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}\n\n", enc)
		}
		sse.WriteString("data: [DONE]\n\n")
		pol := scan.Policy{Rules: map[string]scan.Rule{"output:secret": {Threshold: 0.5, Action: scan.ActionRedact}}}
		g := &Gateway{opts: Options{Scanner: markerScanner{}, ScanTimeout: time.Second, StreamHoldback: 16, MaxResponseBytes: 1 << 20}, log: slog.New(slog.DiscardHandler)}
		c := &call{g: g, r: httptest.NewRequest("POST", "/v1/chat/completions", nil), rt: &route{policy: pol, holdOutput: true, failOpen: true}, outcome: "ok", action: scan.ActionAllow}
		rec := httptest.NewRecorder()
		c.streamHeld(context.Background(), rec, rec, bufio.NewReader(&sse), &bytes.Buffer{}, false)
		var payloads []string
		for line := range strings.SplitSeq(rec.Body.String(), "\n") {
			if p, ok := strings.CutPrefix(line, "data: "); ok {
				payloads = append(payloads, p)
			}
		}
		got := deltaText(t, payloads)
		if strings.Contains(got, "XQZW") {
			t.Fatalf("marker delivered: %q", got)
		}
		want := scan.Redact(sent.String(), func() []scan.Finding {
			fs, _ := markerScanner{}.Scan(nil, sent.String(), scan.Output, scan.Context{})
			return fs
		}())
		if stripPlaceholders(got) != stripPlaceholders(want) {
			t.Fatalf("delivered %q, want %q", got, want)
		}
	})
}

// stripPlaceholders removes redaction placeholders, whose numbering may differ between a
// whole-text and a per-event redaction.
func stripPlaceholders(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "[SECRET_")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		s = s[i+j+1:]
	}
}
