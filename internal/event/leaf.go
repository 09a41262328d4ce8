package event

import (
	"encoding/json"
	"fmt"
)

// Text is the raw content of an inference event, kept apart from the audit leaf.
type Text struct {
	Input  string `json:"input,omitempty"`
	Output string `json:"output,omitempty"`
}

// Empty reports whether there is no text.
func (t Text) Empty() bool { return t.Input == "" && t.Output == "" }

// Text returns the raw text the event carries.
func (e *Event) Text() Text {
	var t Text
	if e.Request != nil {
		t.Input = e.Request.Input
	}
	if e.Response != nil {
		t.Output = e.Response.Output
	}
	return t
}

// WithoutText returns a shallow copy of a normalized event with raw input and output removed;
// hashes and lengths stay. This is what the audit log records (ARCHITECTURE.md §6).
func (e *Event) WithoutText() *Event {
	c := *e
	if e.Request != nil {
		r := *e.Request
		r.Input = ""
		c.Request = &r
	}
	if e.Response != nil {
		r := *e.Response
		r.Output = ""
		c.Response = &r
	}
	return &c
}

// SetText puts text back into an event read from the audit log.
func (e *Event) SetText(t Text) {
	if t.Input != "" {
		if e.Request == nil {
			e.Request = &Request{}
		}
		e.Request.Input = t.Input
	}
	if t.Output != "" {
		if e.Response == nil {
			e.Response = &Response{}
		}
		e.Response.Output = t.Output
	}
}

// Leaf is the audit-log entry for a normalized event: its JSON without raw text.
func (e *Event) Leaf() ([]byte, error) {
	b, err := json.Marshal(e.WithoutText())
	if err != nil {
		return nil, fmt.Errorf("encode leaf %s: %w", e.ID, err)
	}
	return b, nil
}

// ParseLeaf decodes an audit-log entry back into an event (without text).
func ParseLeaf(b []byte) (*Event, error) {
	ev := new(Event)
	if err := json.Unmarshal(b, ev); err != nil {
		return nil, fmt.Errorf("decode leaf: %w", err)
	}
	return ev, nil
}
