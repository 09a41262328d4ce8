package jetstream

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestControlGathersEveryProcess: a control request reaches every process that handles it and
// the caller gets each answer; a process that stopped handling is simply absent; with NATS
// down the call says so instead of reporting zero answers.
func TestControlGathersEveryProcess(t *testing.T) {
	ns := startNATS(t)
	a, b, c := openBus(t, ns.url(), time.Second), openBus(t, ns.url(), time.Second), openBus(t, ns.url(), time.Second)
	stopA, err := a.HandleControl("echo", func(req []byte) []byte { return append([]byte("a:"), req...) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.HandleControl("echo", func(req []byte) []byte { return append([]byte("b:"), req...) }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.HandleControl("other", func([]byte) []byte { return []byte("wrong request") }); err != nil {
		t.Fatal(err)
	}
	gather := func() []string {
		t.Helper()
		replies, err := c.Gather(context.Background(), "echo", []byte("hi"), 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range replies {
			out = append(out, string(r))
		}
		slices.Sort(out)
		return out
	}
	if got := gather(); !slices.Equal(got, []string{"a:hi", "b:hi"}) {
		t.Fatalf("answers %q, want a's and b's", got)
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	if got := gather(); !slices.Equal(got, []string{"b:hi"}) {
		t.Fatalf("answers after a stopped: %q", got)
	}
	ns.stop()
	waitFor(t, "disconnect", 5*time.Second, func() bool { return !c.Connected() })
	if _, err := c.Gather(context.Background(), "echo", nil, 100*time.Millisecond); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("gather with NATS down: %v, want ErrUnavailable", err)
	}
}
