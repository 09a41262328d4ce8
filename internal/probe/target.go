package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// GatewayTarget sends probes through Warden's own gateway route for the model, authenticated as
// the reserved probe identity: the request passes the same containment, scanning and upstream
// as production traffic, and the gateway marks it as probe traffic.
type GatewayTarget struct {
	// BaseURL is the gateway's base (e.g. http://127.0.0.1:7701), without /v1.
	BaseURL string
	// Secret is the probe identity's bearer secret (held by the gateway only in memory).
	Secret string
	// HTTP carries the requests; it may be an in-process transport to the gateway handler.
	HTTP *http.Client
}

var _ Target = (*GatewayTarget)(nil)

// Header names the gateway reads on probe requests.
const (
	HeaderRun   = "X-Warden-Probe-Run"
	HeaderProbe = "X-Warden-Probe"
)

// maxReply bounds the answer the target reads.
const maxReply = 4 << 20

// Chat implements Target.
func (t *GatewayTarget) Chat(ctx context.Context, req Request) (Reply, error) {
	body, err := json.Marshal(map[string]any{"model": req.Model, "messages": req.Messages, "max_tokens": req.MaxTokens})
	if err != nil {
		return Reply{}, fmt.Errorf("encode probe request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(t.BaseURL, "/")+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return Reply{}, fmt.Errorf("build probe request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+t.Secret)
	hr.Header.Set("User-Agent", "warden-probe/1")
	hr.Header.Set(HeaderRun, req.RunID)
	hr.Header.Set(HeaderProbe, req.Probe)
	hc := t.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return Reply{}, ctx.Err()
		}
		return Reply{}, fmt.Errorf("gateway request: %w", unwrapURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		if ctx.Err() != nil {
			return Reply{}, ctx.Err()
		}
		return Reply{}, fmt.Errorf("read answer: %w", err)
	}
	return parseReply(resp.StatusCode, data)
}

func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// parseReply turns a gateway answer into a Reply; anything but a well-formed chat completion
// (or a Warden content block) is an error.
func parseReply(status int, data []byte) (Reply, error) {
	if status != http.StatusOK {
		var e struct {
			Error struct {
				Type, Code, Message string
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Type == "warden_policy" &&
			(e.Error.Code == "content_blocked" || e.Error.Code == "output_blocked") {
			return Reply{Blocked: e.Error.Code}, nil
		}
		if e.Error.Code != "" {
			return Reply{}, fmt.Errorf("gateway answered %d %s: %s", status, e.Error.Code, clip(e.Error.Message, 120))
		}
		return Reply{}, fmt.Errorf("gateway answered %d", status)
	}
	var c struct {
		Choices []struct {
			Message *struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return Reply{}, fmt.Errorf("answer is not a chat completion: %s", describe(data))
	}
	if len(c.Choices) == 0 || c.Choices[0].Message == nil || c.Choices[0].Message.Content == nil {
		return Reply{}, fmt.Errorf("answer has no choices[0].message.content: %s", describe(data))
	}
	r := Reply{Text: *c.Choices[0].Message.Content}
	if c.Usage != nil && c.Usage.PromptTokens >= 0 && c.Usage.CompletionTokens >= 0 {
		r.InputTokens, r.OutputTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
	}
	return r, nil
}

func describe(data []byte) string {
	if !utf8.Valid(data) {
		return fmt.Sprintf("%d bytes of binary data", len(data))
	}
	return fmt.Sprintf("%q", clip(string(data), 60))
}
