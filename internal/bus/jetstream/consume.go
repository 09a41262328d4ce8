package jetstream

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/warden-ai/warden/internal/bus"
)

// workersConsumer is the shared durable consumer of earlier versions (before partition
// ownership); a worker removes it when it starts.
const workersConsumer = "workers"

func decodeEntry(m jetstream.Msg) (bus.Entry, error) {
	id := m.Headers().Get(jetstream.MsgIDHeader)
	i, err := strconv.ParseUint(m.Headers().Get(IndexHeader), 10, 64)
	if err != nil || id == "" {
		return bus.Entry{}, errors.New("missing id or log index header")
	}
	leaf, blob, err := bus.DecodeRecord(m.Data())
	if err != nil {
		return bus.Entry{}, err
	}
	return bus.Entry{Index: i, ID: id, Leaf: leaf, Blob: blob}, nil
}

// WorkerLag is how many appended entries no worker has acknowledged yet: LOGGED is a work
// queue, so what it holds is waiting or handed out and not yet indexed and analysed.
func (b *Bus) WorkerLag(ctx context.Context) (uint64, error) {
	s, err := b.js.Stream(ctx, b.logged)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
