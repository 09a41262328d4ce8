package ingest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/warden-ai/warden/internal/event"
)

// FuzzResend posts two arbitrary bodies and the first again to one durable log. Whatever they
// hold, a 202 must mean that every id it answers is stored with exactly the content of that
// request (a re-sent id is never silently kept with other content), a body answered 202 once is
// answered 202 again, and a 409 stores nothing.
func FuzzResend(f *testing.F) {
	for _, name := range []string{"batch.json", "same.ndjson", "changed_output.json", "changed_decision.ndjson", "within_batch.json"} {
		a := readFile(f, "idempotency/"+name)
		f.Add(a, readFile(f, "idempotency/batch.json"))
	}
	f.Add([]byte(`{"id":"x","type":"access","time":"2026-01-01T00:00:00Z","action":"invoke","decision":"allow"}`),
		[]byte(`{"id":"x","type":"access","time":"2026-01-01T00:00:00Z","action":"invoke","decision":"deny"}`))
	h, log := durable(f)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		first := 0
		for k, body := range [][]byte{a, b, a} {
			size := log.Size()
			w := postTo(h, "/v1/events", "application/json", body)
			switch w.Code {
			case 202:
				if k == 0 {
					first = 202
				}
				var res struct{ IDs []string }
				if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
					t.Fatalf("202 body %s: %v", w.Body, err)
				}
				evs, err := event.DecodeValid(body)
				if err != nil || len(evs) != len(res.IDs) {
					t.Fatalf("202 for a body that decodes to %d events (%v), answered %d ids", len(evs), err, len(res.IDs))
				}
				for i, ev := range evs {
					ev.ID = res.IDs[i]
					ev.Normalize()
					want, err := ev.Leaf()
					if err != nil {
						t.Fatal(err)
					}
					idx, ok := log.Lookup(ev.ID)
					if !ok {
						t.Fatalf("202 answered id %q that is not in the log", ev.ID)
					}
					got, err := log.Leaf(idx)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("202 for id %q whose stored content differs:\nstored %s\nsent   %s", ev.ID, got, want)
					}
				}
			case 409:
				if log.Size() != size {
					t.Fatalf("a 409 stored %d entries", log.Size()-size)
				}
				if k == 2 && first == 202 {
					t.Fatalf("body answered 202 once, then %d: %s", w.Code, w.Body)
				}
			case 400, 413:
				if log.Size() != size {
					t.Fatalf("a %d stored %d entries", w.Code, log.Size()-size)
				}
			default:
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
