package lifecycle

import (
	"bytes"
	"testing"
)

func FuzzJournalReplay(f *testing.F) {
	f.Add([]byte(`{"k":"alert","alert":{"a":{"id":"a1","dedup_key":"d","severity":"P1","state":"firing"},"next_level":1}}` + "\n"))
	f.Add([]byte(`{"k":"silence","silence":{"id":"s1","matchers":[{"name":"model","type":"=~","value":"x|y"}]}}` + "\n" + `{"k":"drop_alert","id":"a1"}` + "\n"))
	f.Add([]byte(`{"k":"group","group":{"key":"g"}}` + "\n" + `{"k":"gro`))
	f.Add([]byte("garbage\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, lines, off, err := replay(bytes.NewReader(data))
		if err != nil {
			return
		}
		if off > int64(len(data)) || lines < 0 {
			t.Fatalf("offset %d beyond %d bytes", off, len(data))
		}
		// Replaying the good prefix gives the same state.
		again, lines2, off2, err := replay(bytes.NewReader(data[:off]))
		if err != nil || lines2 != lines || off2 != off || len(again.alerts) != len(snap.alerts) ||
			len(again.groups) != len(snap.groups) || len(again.silences) != len(snap.silences) {
			t.Fatalf("prefix replay differs: %v", err)
		}
	})
}
