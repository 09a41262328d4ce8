package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/scan"
)

// Streaming hold-back. For a route whose output policy can block or redact, the gateway keeps
// the last StreamHoldback bytes of streamed text (and the SSE events that carry them) back from
// the client. Before events are released, the text from a window before the release point to
// the end of what arrived is scanned; a finding no longer than the window is therefore complete
// in the scanned text before any of its bytes is released. A block cuts the stream with nothing
// of the finding delivered; a redaction rewrites the held events' text before they leave.

// seg is the text one choice of an SSE event added to the output: output[start:end].
type seg struct {
	choice     int
	start, end int
}

// heldEvent is an SSE event waiting for release.
type heldEvent struct {
	raw  []byte
	segs []seg
	end  int // output length after this event
}

// holdback is the queue of a held stream.
type holdback struct {
	window   int
	events   []heldEvent
	released int // output bytes released (as upstream text, before redaction)
}

// canStopOutput reports whether p can block or redact an output finding: only then is
// holding text back worth its latency.
func canStopOutput(p scan.Policy) bool {
	stops := func(a scan.Action) bool { return a == scan.ActionBlock || a == scan.ActionRedact }
	if stops(p.Default.Action) {
		return true
	}
	for k, r := range p.Rules {
		if strings.HasPrefix(k, string(scan.Input)+":") {
			continue
		}
		if stops(r.Action) {
			return true
		}
	}
	return false
}

// hold queues one complete SSE event; segs are the texts it added (copied).
func (h *holdback) hold(raw []byte, segs []seg, end int) {
	h.events = append(h.events, heldEvent{raw: append([]byte(nil), raw...), segs: slices.Clone(segs), end: end})
}

// due reports whether enough text is held to release some: at least a quarter window beyond
// the window itself, so scans stay O(n) in total.
func (h *holdback) due(outLen int) bool {
	return outLen-h.window-h.released >= max(16, h.window/4)
}

// release scans the held text and writes the events that are safe to send: all of them when
// final, otherwise those whose text ends at least a window before the end of the output. It
// reports true when the stream must be cut (nothing more is written then).
func (c *call) release(ctx context.Context, w http.ResponseWriter, fl http.Flusher, h *holdback, final bool) (cut bool, werr error) {
	out := c.output.String()
	upto := len(out)
	if !final {
		upto = max(h.released, len(out)-h.window)
	}
	from := max(0, h.released-h.window)
	// The final release asks the guard models too, about the whole output (once per stream).
	guards := final && len(c.rt.guards) > 0
	if guards {
		from = 0
	}
	var fs []scan.Finding
	if from < len(out) {
		var act scan.Action
		var err error
		var guardClosed bool
		fs, act, guardClosed, err = c.scan(ctx, out[from:], scan.Output, guards)
		for i := range fs {
			fs[i].Start += from
			fs[i].End += from
		}
		if guards {
			c.outFinds = fs
		}
		if err != nil {
			c.setAttr("warden.scan_error", "output")
		}
		if guardClosed || err != nil && !c.rt.failOpen {
			c.outFinds = fs
			return true, nil
		}
		c.action = c.action.Stronger(act)
		if act == scan.ActionBlock && !c.g.opts.KeepStreamOnBlock {
			c.outFinds = fs
			return true, nil
		}
	}
	var red []scan.Finding
	for _, f := range fs {
		if f.End > h.released && c.rt.policy.Triggers(scan.Output, f) == scan.ActionRedact {
			red = append(red, f)
		}
	}
	n := 0
	for _, ev := range h.events {
		if ev.end > upto {
			break
		}
		raw := ev.raw
		if len(red) > 0 {
			if nb, changed := redactEvent(raw, ev.segs, red, out); changed {
				raw = nb
				c.setAttr("warden.stream_redacted", true)
			}
		}
		if _, err := w.Write(raw); err != nil {
			return false, err
		}
		n++
		h.released = ev.end
	}
	h.events = h.events[:copy(h.events, h.events[n:])]
	if n > 0 && fl != nil {
		fl.Flush()
	}
	return false, nil
}

// redactEvent rewrites the text of the segments of one SSE event that overlap redact findings.
// A finding's placeholder goes where the finding starts; its bytes in later segments are
// removed. It returns the event unchanged when nothing overlaps or it cannot be re-encoded.
func redactEvent(raw []byte, segs []seg, red []scan.Finding, out string) ([]byte, bool) {
	repl := map[int]string{} // choice index → redacted text
	for _, s := range segs {
		var local []scan.Finding
		cutHead := 0
		for _, f := range red {
			if f.End <= s.start || f.Start >= s.end {
				continue
			}
			if f.Start < s.start { // continuation of a finding placed in an earlier segment
				cutHead = max(cutHead, min(f.End, s.end)-s.start)
				continue
			}
			f.Start -= s.start
			f.End = min(f.End, s.end) - s.start
			local = append(local, f)
		}
		if len(local) == 0 && cutHead == 0 {
			continue
		}
		text := out[s.start:s.end]
		var kept []scan.Finding
		for _, f := range local {
			if f.Start >= cutHead {
				f.Start -= cutHead
				f.End -= cutHead
				kept = append(kept, f)
			}
		}
		repl[s.choice] = scan.Redact(text[cutHead:], kept)
	}
	if len(repl) == 0 {
		return raw, false
	}
	var b strings.Builder
	changed := false
	for line := range strings.SplitAfterSeq(string(raw), "\n") {
		body := strings.TrimRight(line, "\r\n")
		data, ok := strings.CutPrefix(body, "data:")
		if !ok {
			b.WriteString(line)
			continue
		}
		nd, ok := rewriteChunk(strings.TrimSpace(data), repl)
		if !ok {
			b.WriteString(line)
			continue
		}
		changed = true
		b.WriteString("data: ")
		b.WriteString(nd)
		b.WriteString(line[len(body):])
	}
	if !changed {
		return raw, false
	}
	return []byte(b.String()), true
}

// rewriteChunk replaces choices[i].delta.content (or choices[i].text) of one chunk.
func rewriteChunk(data string, repl map[int]string) (string, bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal([]byte(data), &doc) != nil {
		return "", false
	}
	var choices []map[string]json.RawMessage
	if json.Unmarshal(doc["choices"], &choices) != nil {
		return "", false
	}
	for i, ch := range choices {
		text, ok := repl[i]
		if !ok {
			continue
		}
		enc, _ := json.Marshal(text)
		if d, ok := ch["delta"]; ok && string(d) != "null" {
			var delta map[string]json.RawMessage
			if json.Unmarshal(d, &delta) != nil {
				return "", false
			}
			delta["content"] = enc
			ch["delta"], _ = json.Marshal(delta)
		} else {
			ch["text"] = enc
		}
	}
	var err error
	if doc["choices"], err = json.Marshal(choices); err != nil {
		return "", false
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// streamHeld is stream for a held route: events are queued, and released by release once the
// text behind them has been scanned with a window of look-ahead.
func (c *call) streamHeld(ctx context.Context, w http.ResponseWriter, fl http.Flusher, br *bufio.Reader, ev *bytes.Buffer, addedUsage bool) {
	h := &holdback{window: c.g.opts.StreamHoldback}
	c.setAttr("warden.stream_holdback_bytes", float64(h.window))
	defer func() {
		c.delivered = h.released
		c.setAttr("warden.stream_delivered_chars", float64(h.released))
	}()
	finish := func(endErr error) {
		if endErr != nil {
			c.endStream(ctx, endErr)
			if c.r.Context().Err() != nil {
				return // nobody to write to
			}
		}
		cut, werr := c.release(ctx, w, fl, h, true)
		switch {
		case cut:
			c.cutStream(w, fl)
		case werr != nil:
			c.outcome, c.finish, c.errCode = "error", "client_cancel", "client_cancel"
		}
		if c.ttft == 0 && h.released > 0 {
			c.ttft = time.Since(c.start)
		}
		// The record: one scan of the whole text (the window scans saw parts of it).
		if !cut && c.output.Len() > 0 && !c.guardsAsked {
			fs, _, _ := c.g.scanText(ctx, c.rt, c.output.String(), scan.Output)
			c.outFinds = fs
		}
	}
	for {
		tr := time.Now()
		line, err := c.readLine(br)
		c.upWait += time.Since(tr)
		if len(line) > 0 {
			ev.Write(line)
		}
		if err != nil {
			if ev.Len() > 0 && c.r.Context().Err() == nil {
				if forward, _ := c.onEvent(ev.Bytes(), addedUsage); forward {
					h.hold(ev.Bytes(), c.segs, c.output.Len())
				}
			}
			finish(err)
			return
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			continue // the event is not complete yet
		}
		forward, done := c.onEvent(ev.Bytes(), addedUsage)
		if forward {
			h.hold(ev.Bytes(), c.segs, c.output.Len())
		}
		ev.Reset()
		if done {
			if c.finish == "" {
				c.finish = "stop"
			}
			finish(nil)
			return
		}
		if h.due(c.output.Len()) {
			cut, werr := c.release(ctx, w, fl, h, false)
			if cut {
				c.cutStream(w, fl)
				return
			}
			if werr != nil {
				c.outcome, c.finish, c.errCode = "error", "client_cancel", "client_cancel"
				return
			}
			if c.ttft == 0 && h.released > 0 {
				c.ttft = time.Since(c.start)
			}
		}
	}
}
