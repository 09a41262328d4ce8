package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/keys"
)

// TestOpenAINodeClient drives the gateway with the official openai npm package (test/openai)
// and asserts the recorded events field by field. It fails, never skips, when node or the
// package is missing: install with `npm ci --prefix test/openai`.
func TestOpenAINodeClient(t *testing.T) {
	dir, err := filepath.Abs("../../test/openai")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		t.Fatalf("the openai npm package is not installed; run: npm ci --prefix test/openai (%v)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for this test: %v", err)
	}
	h := newHarness(t, true)
	k := h.key(keys.Spec{Consumer: "node-app", Groups: []string{"support"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WARDEN_BASE_URL="+h.srv.URL+"/v1", "WARDEN_KEY="+k, "WARDEN_MODEL=chat", "WARDEN_STRICT_MODEL=strict")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	steps := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		steps[m["step"].(string)] = m
	}
	kr, _ := h.keys.Lookup(k)

	chat := steps["chat"]
	if chat["content"] != "You said: hello from node" {
		t.Fatalf("chat step %v", chat)
	}
	inf, acc := h.rec.byRequest(t, chat["request_id"].(string))
	assertFields(t, "chat", map[string][2]any{
		"model.name":             {inf.Model.Name, "chat"},
		"model.upstream":         {inf.Model.Upstream, "sim-model"},
		"actor.user":             {inf.Actor.User, "node-user"},
		"actor.session":          {inf.Actor.Session, "node-session-1"},
		"actor.consumer":         {inf.Actor.Consumer, "node-app"},
		"actor.api_key_id":       {inf.Actor.APIKeyID, kr.ID},
		"source.client":          {strings.HasPrefix(inf.Source.Client, "OpenAI/JS"), true},
		"source.endpoint":        {inf.Source.Endpoint, "/v1/chat/completions"},
		"request.input":          {inf.Request.Input, "hello from node"},
		"request.input_tokens":   {*inf.Request.InputTokens, int64(3)},
		"response.output":        {inf.Response.Output, "You said: hello from node"},
		"response.output_tokens": {*inf.Response.OutputTokens, int64(5)},
		"response.status":        {inf.Response.Status, "ok"},
		"response.finish_reason": {inf.Response.FinishReason, "stop"},
		"tokens_estimated":       {inf.Response.TokensEstimated, false},
		"access.decision":        {acc.Decision, "allow"},
		"access.action":          {acc.Action, "invoke"},
	})

	st := steps["stream"]
	if st["content"] != "You said: stream this please" || st["usage_chunks"].(float64) != 0 {
		t.Fatalf("stream step %v", st)
	}
	inf, _ = h.rec.byRequest(t, st["request_id"].(string))
	assertFields(t, "stream", map[string][2]any{
		"response.output":        {inf.Response.Output, "You said: stream this please"},
		"response.output_tokens": {*inf.Response.OutputTokens, int64(5)},
		"tokens_estimated":       {inf.Response.TokensEstimated, false},
		"ttft recorded":          {inf.Response.TTFTMS != nil, true},
		"response.finish_reason": {inf.Response.FinishReason, "stop"},
		"actor.session":          {inf.Actor.Session, "node-session-1"},
	})

	emb := steps["embeddings"]
	if emb["dims"].(float64) != 8 {
		t.Fatalf("embeddings step %v", emb)
	}
	inf, _ = h.rec.byRequest(t, emb["request_id"].(string))
	assertFields(t, "embeddings", map[string][2]any{
		"source.endpoint":      {inf.Source.Endpoint, "/v1/embeddings"},
		"request.input":        {inf.Request.Input, "embed me"},
		"request.input_tokens": {*inf.Request.InputTokens, int64(2)},
	})

	bl := steps["blocked"]
	if bl["is_api_error"] != true || bl["status"].(float64) != 403 || bl["type"] != "warden_policy" || bl["code"] != "content_blocked" {
		t.Fatalf("blocked step %v", bl)
	}
	inf, acc = h.rec.byRequest(t, bl["request_id"].(string))
	assertFields(t, "blocked", map[string][2]any{
		"model.name":                 {inf.Model.Name, "strict"},
		"response.status":            {inf.Response.Status, "blocked"},
		"response.error":             {inf.Response.ErrorCode, "content_blocked"},
		"safety.action":              {inf.Safety.Action, "block"},
		"trigger.category":           {inf.Safety.Triggers[0].Category == "prompt_injection" || inf.Safety.Triggers[0].Category == "jailbreak", true},
		"trigger.role":               {inf.Safety.Triggers[0].Role, "input"},
		"never forwarded":            {inf.Source.Destination, ""},
		"access.decision":            {acc.Decision, "allow"}, // the key may use the model; the content was blocked
		"inference type":             {inf.Type, event.TypeInference},
		"input kept (redacted mode)": {inf.Request.Input != "", true},
	})
}

func assertFields(t *testing.T, step string, fields map[string][2]any) {
	t.Helper()
	for name, gw := range fields {
		if gw[0] != gw[1] {
			t.Errorf("%s: %s = %v, want %v", step, name, gw[0], gw[1])
		}
	}
}
