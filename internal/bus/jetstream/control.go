package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Control requests are what every process of the cluster must act on at once, such as a rule
// reload. They travel plain NATS request/reply on <prefix>.control.<name>, outside the streams:
// nothing is stored, and a process that is down or partitioned answers nothing — the caller
// sees who answered, never a silent success.

// HandleControl answers the control request name with handle's reply until stop is called.
// handle runs on the subscription's goroutine, one request at a time.
func (b *Bus) HandleControl(name string, handle func(req []byte) []byte) (stop func() error, err error) {
	sub, err := b.nc.Subscribe(b.controlSubject(name), func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		if err := m.Respond(handle(m.Data)); err != nil {
			b.log.Warn("control reply not sent", "request", name, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to control %s: %w", name, err)
	}
	// The server knows the subscription once Flush returns: a request right after this call
	// reaches it.
	if err := b.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to control %s: %w", name, err)
	}
	return sub.Unsubscribe, nil
}

// Gather sends the control request name to every process that handles it and returns the
// replies that arrive within wait (or until ctx ends). It returns ErrUnavailable when NATS is
// not connected; zero replies is not an error.
func (b *Bus) Gather(ctx context.Context, name string, req []byte, wait time.Duration) ([][]byte, error) {
	if !b.nc.IsConnected() {
		return nil, ErrUnavailable
	}
	inbox := b.nc.NewInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("control %s: %w", name, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.nc.PublishRequest(b.controlSubject(name), inbox, req); err != nil {
		return nil, fmt.Errorf("control %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out [][]byte
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, nats.ErrNoResponders) {
				return out, nil // ErrNoResponders: nobody handles name now
			}
			return out, fmt.Errorf("control %s: %w", name, err)
		}
		out = append(out, m.Data)
	}
}

// Name is this process's connection name (roles@host/pid), as peers and the NATS server see it.
func (b *Bus) Name() string { return b.opts.Name }

func (b *Bus) controlSubject(name string) string { return b.prefix + ".control." + name }
